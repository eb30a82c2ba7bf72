"""Posting notifications to webhooks: from a thread of its own, retried with backoff, never
waited on, and never naming a secret.

Why a thread: a chat service that is slow or down must delay neither the page nor the next look
at the office; :meth:`WebhookSender.send` only queues the message.

Why a URL is never logged whole: a webhook's URL is its credential (Slack's and Mattermost's
carry a token in the path, Telegram's in the bot's path, others in the query or as
``user:password@``). Log lines name the scheme and host only (``https://hooks.slack.com/…``),
and an error's own words are scrubbed of every part of the URL.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..logs import log_once, logger
from ..render import one_line

__all__ = ["WebhookSender", "where", "scrub"]

USER_AGENT = "celery-office"


def where(url: str) -> str:
    """What a log line may say of a webhook: its scheme and host, never its path or query."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid webhook URL>"
    return f"{parts.scheme}://{host}{port}/…"


def scrub(text: str, url: str) -> str:
    """``text`` on one line without any secret-bearing part of ``url`` in it."""
    try:
        parts = urlsplit(url)
        secrets = [url, parts.netloc, parts.path, parts.query, parts.password or "",
                   parts.username or ""]
    except ValueError:
        secrets = [url]
    text = one_line(text)
    for secret in sorted((s for s in secrets if len(s) > 1), key=len, reverse=True):
        text = text.replace(secret, "…")
    return text


@dataclass(order=True)
class _Delivery:
    due: float
    order: int
    url: str = field(compare=False)
    body: bytes = field(compare=False)
    label: str = field(compare=False)
    attempt: int = field(default=0, compare=False)


Post = Callable[[str, bytes, float], None]  # url, body, timeout; raises on failure


def _urllib_post(url: str, body: bytes, timeout: float) -> None:
    request = urllib.request.Request(
        url, data=body, method="POST",
        headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (user's URL)
        response.read()


def _retryable(exc: BaseException) -> bool:
    """Worth another try: the receiver is down, slow or busy; not when it refuses the post."""
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code in (408, 425, 429) or exc.code >= 500
    return True


class WebhookSender:
    """Posts each message to every URL, retrying each post on its own with backoff.

    Parameters:
        urls: the webhooks (``--notify``).
        timeout: seconds one post may take.
        backoff: seconds before the first retry; doubled after each failure, up to
            ``max_backoff``.
        attempts: tries of one post before it is given up (one error line says so).
        queue_limit: posts waiting at most; a message past it is dropped, said once.
    """

    def __init__(
        self,
        urls: Iterable[str],
        *,
        timeout: float = 10.0,
        backoff: float = 1.0,
        max_backoff: float = 300.0,
        attempts: int = 8,
        queue_limit: int = 1000,
        post: Post = _urllib_post,
    ) -> None:
        self.urls = tuple(urls)
        self.timeout = timeout
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.attempts = attempts
        self.queue_limit = queue_limit
        self._post = post
        self._queue: list[_Delivery] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._stopping = False
        self._failing: set[str] = set()  # hosts whose last post failed: say when they work again
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="celery-office-webhooks",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        with self._wake:
            self._stopping = True
            left = len(self._queue)
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        if left:
            logger.warning("celery-office: %d notification post(s) not delivered: the office "
                           "page stopped while they waited for a retry", left)

    def send(self, message: Mapping[str, Any], *, label: str = "") -> None:
        """Queue ``message`` (JSON) for every URL; returns at once."""
        body = json.dumps(message, ensure_ascii=False).encode("utf-8")
        with self._wake:
            for url in self.urls:
                if len(self._queue) >= self.queue_limit:
                    log_once("webhook-queue-full", "celery-office: %d notification posts are "
                             "waiting already; dropped %s", self.queue_limit, label or "one")
                    continue
                heapq.heappush(self._queue, _Delivery(time.monotonic(), next(self._order),
                                                      url, body, label))
            self._wake.notify_all()

    @property
    def pending(self) -> int:
        with self._wake:
            return len(self._queue)

    def _next(self) -> _Delivery | None:
        with self._wake:
            while not self._stopping:
                if self._queue:
                    wait = self._queue[0].due - time.monotonic()
                    if wait <= 0:
                        return heapq.heappop(self._queue)
                    self._wake.wait(wait)
                else:
                    self._wake.wait()
            return None

    def _run(self) -> None:
        while (delivery := self._next()) is not None:
            try:
                self._deliver(delivery)
            except Exception as exc:  # a bug here must not end the notifications
                log_once("webhook-bug", "celery-office: unexpected error while posting a "
                         "notification (a bug, please report it): %s",
                         scrub(f"{type(exc).__name__}: {exc}", delivery.url))

    def _deliver(self, delivery: _Delivery) -> None:
        host = where(delivery.url)
        try:
            self._post(delivery.url, delivery.body, self.timeout)
        except Exception as exc:
            self._failed(delivery, host, exc)
            return
        if host in self._failing:
            self._failing.discard(host)
            logger.info("celery-office: notifications to %s are delivered again", host)

    def _failed(self, delivery: _Delivery, host: str, exc: BaseException) -> None:
        self._failing.add(host)
        reason = scrub(f"{type(exc).__name__}: {exc}", delivery.url)
        delivery.attempt += 1
        if not _retryable(exc) or delivery.attempt >= self.attempts:
            why = "refused" if not _retryable(exc) else f"failed {delivery.attempt} times"
            log_once(f"webhook-gave-up:{host}", "celery-office: a notification to %s %s (%s) "
                     "and is dropped: %s", host, why, reason, delivery.label or "message",
                     level=logging.ERROR)
            return
        delay = min(self.max_backoff, self.backoff * 2 ** (delivery.attempt - 1))
        log_once(f"webhook-failed:{host}", "celery-office: a notification to %s failed (%s); "
                 "retrying in %g s, up to %d tries", host, reason, delay, self.attempts)
        with self._wake:
            delivery.due = time.monotonic() + delay
            heapq.heappush(self._queue, delivery)
