"""Delivering the outbox to one target, from a thread of its own (:class:`Courier`).

Why a thread per target: a target that hangs, refuses connections or answers slowly delays
only its own deliveries, never another target's or the next look at the office. Why backoff
from the database: a try that failed is due again after a delay that doubles with each try
(longer after a timeout: a slow receiver may have got the message, so it is not sent again at
once), recorded in the delivery's row, so whichever replica takes it next waits as well.
"""

from __future__ import annotations

import logging
import socket
import threading
import urllib.error

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from ..db.engine import db_error_reason
from ..db.outbox import DONE, DROPPED, PENDING, Job, claim, finish
from ..logs import log_once, logger
from .targets import Refused, Target, scrub

__all__ = ["Courier"]


def _timed_out(exc: BaseException) -> bool:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        exc = exc.reason if isinstance(exc.reason, BaseException) else exc
    return isinstance(exc, (TimeoutError, socket.timeout))


class Courier:
    """Takes the due deliveries of one target from the outbox and sends them, one at a time.

    Parameters:
        engine: a writing engine (leases and results are writes).
        target: where the messages go.
        holder: this replica's name on the leases it takes.
        timeout: seconds one send may take.
        backoff: seconds before the first retry (after a timeout: at least three timeouts);
            doubled after each failure, up to ``max_backoff``.
        poll: seconds between two looks at an empty queue (events of other replicas).
    """

    def __init__(
        self, engine: Engine, target: Target, *, holder: str, timeout: float = 10.0,
        backoff: float = 2.0, max_backoff: float = 600.0, poll: float = 5.0,
    ) -> None:
        self.engine = engine
        self.target = target
        self.holder = holder
        self.timeout = timeout
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.poll = poll
        self.lease = 2 * timeout + 15  # a send that outlives it may be sent again by another
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing: str | None = None  # the condition last logged, until a send works

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"celery-office-notify-{self.target.key[:8]}")
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.deliver_one()
            except Exception as exc:  # the thread survives its own bugs, said once a minute
                log_once(f"notify-bug:{self.target.key}", "celery-office: unexpected error while "
                         "notifying %s (a bug, please report it): %s", self.target.where,
                         scrub(f"{type(exc).__name__}: {exc}", self.target.url))
                busy = False
            if not busy:
                self._wake.wait(self.poll)
                self._wake.clear()

    def deliver_one(self) -> bool:
        """Send the oldest due delivery, if any; True when there was one."""
        try:
            with self.engine.begin() as conn:
                job = claim(conn, self.target.key, holder=self.holder, lease=self.lease)
        except SQLAlchemyError as exc:
            log_once("notify-outbox-db", "celery-office: notifications wait for the database: "
                     "%s", db_error_reason(exc, self.engine))
            return False
        if job is None:
            return False
        try:
            self.target.send(job.body, event_id=job.key, timeout=self.timeout)
        except Refused as exc:
            self._record(job, DROPPED)
            log_once(f"notify-refused:{self.target.key}", "celery-office: %s refused a "
                     "notification (%s); it is dropped: %s", self.target.where,
                     scrub(str(exc), self.target.url), job.key, level=logging.ERROR)
            return True
        except Exception as exc:
            delay = self.delay(job.attempt, timed_out=_timed_out(exc))
            self._record(job, PENDING, retry_in=delay)
            self._failed(exc, delay)
            return True
        self._record(job, DONE)
        if self._failing is not None:
            self._failing = None
            logger.info("celery-office: notifications to %s are delivered again",
                        self.target.where)
        return True

    def delay(self, attempt: int, *, timed_out: bool) -> float:
        """Seconds before try ``attempt + 1``."""
        base = max(self.backoff, 3 * self.timeout) if timed_out else self.backoff
        return float(min(self.max_backoff, base * 2 ** (attempt - 1)))

    def _record(self, job: Job, state: str, *, retry_in: float = 0.0) -> None:
        try:
            with self.engine.begin() as conn:
                finish(conn, job, self.target.key, holder=self.holder, state=state,
                       retry_in=retry_in)
        except SQLAlchemyError as exc:  # the lease expires: it is sent again, same event id
            log_once("notify-outbox-db", "celery-office: notifications wait for the database: "
                     "%s", db_error_reason(exc, self.engine))

    def _failed(self, exc: BaseException, delay: float) -> None:
        reason = scrub(f"{type(exc).__name__}: {exc}", self.target.url)
        condition = "timeout" if _timed_out(exc) else type(exc).__name__
        if condition != self._failing:  # once per condition, not once per try
            self._failing = condition
            logger.warning("celery-office: notifications to %s fail (%s); each is tried again "
                           "with backoff (next in %g s)", self.target.where, reason, delay)
