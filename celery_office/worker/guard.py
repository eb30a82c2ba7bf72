"""The main process's way to the database: one watched try at a time, failures said once.

Every database call of the worker (a batch, registration, a heartbeat, retirement, the
migration) goes through :meth:`GuardedDatabase.run`: bounded (connecting by
``office_connect_timeout``, statements by ``office_statement_timeout``, and a watchdog that cuts
the sockets of a call that hangs anyway), quiet (the first failure and the recovery are logged,
never a line per attempt), and never raising: the caller gets True or False and keeps its
changes for the next try. An outage is over when every kind of call that failed in it works
again: a heartbeat that goes through while status writes still fail (a table locked, a
refused write) does not say "again", so the log never alternates between failing and back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from ..core.errors import OfficeError
from ..db.engine import create_office_engine, safe_url
from ..db.failures import hint, is_rejection
from ..db.workers import is_writer_refusal
from ..logs import log_once, logger
from ..render import describe, first_line, safe_str, type_name
from ..settings import OfficeSettings
from .watchdog import SocketWatch

__all__ = ["GuardedDatabase", "RETRY_MAX"]

RETRY_MAX = 5.0  # seconds between two attempts at most while the database is down
DROPPED_RETRIES = 3  # fresh connections one write tries after its connection was dropped
DROPPED_QUIET = 5  # writes in a row meeting only dropped connections before it is said


class Outage:
    """When this process last found the database away (monotonic): its first failure and its
    last. The silence an outage put on every other worker says nothing of their death."""

    def __init__(self) -> None:
        self.began: float | None = None
        self.last: float | None = None

    def failed(self, *, first: bool) -> None:
        self.last = time.monotonic()
        if first or self.began is None:
            self.began = self.last

    def grace(self, window: float) -> float:
        """Seconds since the last outage began, when it went on within ``window`` seconds
        (else 0): how much longer another worker's silence may be before it means death."""
        now = time.monotonic()
        if self.began is None or self.last is None or now - self.last > window:
            return 0.0
        return now - self.began


class GuardedDatabase:
    """The engine of one process and the state of its last tries."""

    def __init__(self, settings: OfficeSettings) -> None:
        self.settings = settings
        self._engine: Any = None
        self._sockets: SocketWatch | None = None
        self.reset()

    def reset(self) -> None:
        """Fresh state: at construction and in a child after ``fork()``."""
        self.failing_kinds: set[str] = set()  # the kinds of call ("status write", ...) whose
        # last try failed: the outage said in the log lasts until none is left
        self.failures = 0
        self.last_error: BaseException | None = None
        self.commit_sent = False  # the last failed try reached COMMIT: it may have landed
        self._dropped_in_a_row = 0  # writes in a row that met only dropped connections
        self.outage = Outage()

    def after_fork_in_child(self) -> None:
        """The engine object is kept (its dialect and statement cache are ready); its pool is
        replaced, leaving the parent's sockets alone."""
        self.reset()
        if self._engine is not None:
            self._engine.dispose(close=False)
        if self._sockets is not None:
            self._sockets.forget()

    @property
    def engine(self) -> Any:
        if self._engine is None:
            self._engine = create_office_engine(
                self.settings.database_url,
                connect_timeout=self.settings.connect_timeout,
                statement_timeout=self.settings.statement_timeout,
                pool_size=1, max_overflow=0,  # one thread writes, one try at a time
            )
            self._sockets = SocketWatch(self._engine)
        return self._engine

    def attempt(self, work: Callable[[Any], Any], *, transaction: bool = True) -> None:
        """One try, watched: a database that stops answering is cut off, never waited on.
        Raises what the try raised (``commit_sent`` tells whether COMMIT was reached)."""
        engine = self.engine
        limit = self.settings.connect_timeout + self.settings.statement_timeout
        alarm = self._sockets.arm(limit) if self._sockets is not None else None
        try:
            if not transaction:
                work(engine)
                return
            with engine.connect() as conn:
                trans = conn.begin()
                work(conn)
                self.commit_sent = True
                trans.commit()
        finally:
            if alarm is not None:
                alarm.cancel()

    @property
    def failing(self) -> bool:
        """Is an outage under way (some kind of call failed at its last try)?"""
        return bool(self.failing_kinds)

    def mark_sent(self) -> None:
        """The try's COMMIT is on its way: a failure from now on may have landed."""
        self.commit_sent = True

    def run(self, what: str, work: Callable[[Any], Any], *, transaction: bool = True) -> bool:
        """Run ``work(conn)`` in one transaction (``work(engine)`` without one); True when it
        went through. A pooled connection the server dropped (a restart, a
        ``pg_terminate_backend`` loop, a pooler recycling) is replaced at once, quietly: up to
        DROPPED_RETRIES fresh tries here, and a write that still meets dropped connections is
        only said once that has gone on for DROPPED_QUIET writes in a row."""
        self.commit_sent = False
        try:
            for attempt in range(DROPPED_RETRIES + 1):
                try:
                    self.attempt(work, transaction=transaction)
                    break
                except DBAPIError as exc:
                    if not exc.connection_invalidated or attempt == DROPPED_RETRIES:
                        raise
        except Exception as exc:
            self._failed(what, exc)
            return False
        self._dropped_in_a_row = 0
        was_failing = self.failing
        self.failing_kinds.discard(what)
        if self.failing_kinds:
            return True  # another kind still fails (a status write behind a lock): not yet
        self.failures = 0
        if was_failing:
            logger.warning(
                "celery-office: writing agent statuses to %s again",
                safe_url(self.settings.database_url),
            )
        return True

    def _failed(self, what: str, exc: Exception) -> None:
        self.last_error = exc
        if is_writer_refusal(exc):
            return  # not an outage: the writer says it and takes a new writer number
        if not _from_the_database(exc):
            # a bug (ours, or in what the user configured), not an outage: no back-off, no
            # "again" line later, and never the words "when the database is back"
            log_once(
                f"bug:{what}",
                "celery-office: a %s met an unexpected error (%s); it is tried again at the "
                "next write, and this is not the database failing: please report it",
                what, describe(exc), exc_info=True, level=logging.ERROR,
            )
            return
        self.failures += 1
        if isinstance(exc, DBAPIError) and exc.connection_invalidated and not self.failing:
            self._dropped_in_a_row += 1  # connections dropped again and again, yet reached:
            if self._dropped_in_a_row < DROPPED_QUIET:  # tried again at the next write,
                return  # without a line, and without the outage's back-off
        said = self.failing
        self.outage.failed(first=not said)
        self.failing_kinds.add(what)
        if said:
            return
        if isinstance(exc, OfficeError):  # waiting alone will not cure it: say what to fix
            logger.error(
                "celery-office: %s failed: %s; agent statuses are kept in memory until this "
                "is fixed", what, safe_str(exc),
            )
            return
        if is_rejection(exc):  # the content, not the database's coming: say what happens
            logger.warning(
                "celery-office: the database refused a %s on %s (%s: %s); it is tried again, "
                "then agent by agent, so only a refused agent's change is dropped",
                what, safe_url(self.settings.database_url), type_name(exc), first_line(exc),
            )
            return
        logger.warning(
            "celery-office: %s failed on %s (%s: %s); agent statuses are kept in memory and "
            "written when the database is back%s",
            what, safe_url(self.settings.database_url), type_name(exc), first_line(exc),
            hint(exc), exc_info=logger.isEnabledFor(logging.DEBUG),
        )

    def retry_delay(self) -> float:
        """While the database is down, retry with a doubling delay up to RETRY_MAX seconds."""
        interval = self.settings.flush_interval
        delay = min(interval * 2 ** min(self.failures, 16), max(RETRY_MAX, interval))
        if isinstance(self.last_error, OfficeError):  # waiting alone will not cure it: look
            return max(delay, self.settings.heartbeat_interval)  # again once a heartbeat
        return delay


def _from_the_database(exc: BaseException) -> bool:
    """A failure of the database or of the way to it (an outage, a refusal, a setting that
    names the wrong server), as opposed to a bug in the code around it."""
    return isinstance(exc, (SQLAlchemyError, OSError, OfficeError)) or is_rejection(exc)
