"""Where notifications go: an ``http(s)://`` URL gets the JSON webhook, any other scheme is an
Apprise URL (``tgram://``, ``slack://``, ``mailto://``, ``discord://``, ``json://``, ...:
the ``notify`` extra). :func:`check_targets` is the one check of a list of URLs, for the CLI
and ``create_app`` alike: a URL no target takes stops everything before it starts.

Why a URL is never logged whole: a target's URL is its credential (Slack's and Mattermost's
carry a token in the path, Telegram's in the bot's path, others in the query or as
``user:password@``). A line names it by :attr:`Target.where` (scheme and host of a webhook,
Apprise's own privacy form of its URLs), and an error's words are scrubbed of the URL's parts.
"""

from __future__ import annotations

import hashlib
import html
import importlib.util
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from ..core.errors import OfficeConfigError
from ..render import one_line

__all__ = ["Target", "Webhook", "AppriseTarget", "Refused", "check_targets", "where", "scrub",
           "NOTIFY_EXTRA"]

USER_AGENT = "celery-office"
EVENT_HEADER = "X-Office-Event-Id"
NOTIFY_EXTRA = "pip install 'celery-office[notify]'"


class Refused(Exception):
    """The receiver refused the message (a 4xx other than 408, 425, 429): no retry helps."""


def where(url: str) -> str:
    """What a log line may say of a webhook: its scheme and host, never its path or query."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid URL>"
    return f"{parts.scheme}://{host}{port}/…"


def scrub(text: str, url: str) -> str:
    """``text`` on one line without any secret-bearing part of ``url`` in it."""
    try:
        parts = urlsplit(url)
        secrets = [url, parts.netloc, parts.path, parts.query, parts.password or "",
                   parts.username or "", *parts.path.split("/")]
    except ValueError:
        secrets = [url]
    text = one_line(text)
    for secret in sorted((s for s in secrets if len(s) > 3), key=len, reverse=True):
        text = text.replace(secret, "…")
    return text


class Target:
    """One place notifications go. ``key`` (a digest of the URL) names it in the outbox."""

    def __init__(self, url: str, where: str) -> None:
        self.url = url
        self.where = where
        self.key = hashlib.sha256(url.encode("utf-8")).hexdigest()[:32]

    def send(self, message: dict[str, Any], *, event_id: str, timeout: float) -> None:
        """Deliver ``message``; raises on failure (:class:`Refused`: do not retry)."""
        raise NotImplementedError


class Webhook(Target):
    """POSTs the message's JSON, its event id in the body and in ``X-Office-Event-Id``."""

    def __init__(self, url: str) -> None:
        super().__init__(url, where(url))

    def send(self, message: dict[str, Any], *, event_id: str, timeout: float) -> None:
        body = json.dumps({**message, "event_id": event_id}, ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT,
            EVENT_HEADER: event_id})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                response.read()
        except urllib.error.HTTPError as exc:
            if exc.code in (408, 425, 429) or exc.code >= 500:
                raise
            raise Refused(f"HTTP {exc.code} {exc.reason}") from None


class AppriseTarget(Target):
    """Sends the message's text through Apprise (its plugin for the URL's scheme)."""

    def __init__(self, url: str, plugin: Any) -> None:
        super().__init__(url, str(plugin.url(privacy=True)).split("?")[0])
        self.plugin = plugin

    def send(self, message: dict[str, Any], *, event_id: str, timeout: float) -> None:
        import apprise

        self.plugin.socket_connect_timeout = self.plugin.socket_read_timeout = timeout
        headers = getattr(self.plugin, "headers", None)
        if isinstance(headers, dict):  # json://, form://, xml://: the id as a header too
            headers[EVENT_HEADER] = event_id
        with apprise.LogCapture(level=logging.WARNING) as said:
            sent = self.plugin.notify(body=html.unescape(str(message.get("text", ""))))
        if not sent:
            reason = one_line(said.getvalue()) or "Apprise could not deliver it"
            raise ConnectionError(reason)


def _target(url: str) -> Target:
    """The target for ``url``, or :class:`OfficeConfigError` naming it (secrets hidden)."""
    try:
        scheme, host = urlsplit(url).scheme.lower(), urlsplit(url).hostname
    except ValueError:
        scheme, host = "", None
    if scheme in ("http", "https"):
        if not host:
            raise OfficeConfigError(f"notification target {where(url)} has no host: give the "
                                    "webhook's full URL, e.g. https://hooks.slack.com/services/...")
        return Webhook(url)
    shown = f"{scheme}://…" if scheme else "<not a URL>"
    if not scheme:
        raise OfficeConfigError(f"notification target {shown} is not a URL: give an http(s):// "
                                "webhook or an Apprise URL such as tgram://bottoken/chat_id")
    if importlib.util.find_spec("apprise") is None:
        raise OfficeConfigError(f"notification target {shown} needs Apprise, which is not "
                                f"installed: {NOTIFY_EXTRA} (or use an http(s):// webhook)")
    import apprise

    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if not plugin:
        raise OfficeConfigError(
            f"notification target {shown} is neither an http(s):// webhook nor an Apprise URL "
            "Apprise can read (unknown scheme or missing parts): see "
            "https://github.com/caronc/apprise/wiki for each service's URL")
    return AppriseTarget(url, plugin)


def check_targets(urls: Iterable[str]) -> list[Target]:
    """The targets of ``urls`` (duplicates once), or :class:`OfficeConfigError` for the first
    URL no target takes: one line naming it, secrets hidden, and the fix."""
    targets: dict[str, Target] = {}
    for url in urls:
        target = _target(str(url))
        targets.setdefault(target.key, target)
    return list(targets.values())
