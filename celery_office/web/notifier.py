"""Notifications from the timeline: a thread that reads, every few seconds, the periods each
agent entered since its last look, stores the events they make in the outbox, and wakes one
:class:`~celery_office.web.delivery.Courier` per target to deliver them.

Why one look at a time: several ``celery office serve`` replicas watch one office. A look holds
a lock for its transaction (PostgreSQL: ``pg_try_advisory_xact_lock``, a replica that finds it
taken skips that look; SQLite: ``BEGIN IMMEDIATE``), so each period is read once and each event
stored once, with a stable id derived from its timeline row. A look that fails to commit
stored nothing, and the next one reads the same periods again.

Why silence waits after an outage: a worker cut off from the database is not dead, and silence
during an outage proves nothing. After this replica could not read, or after PostgreSQL
restarted, silence counts from the moment the database answered again: nobody is called
offline before ``office_offline_after`` (at least a heartbeat interval) and a look have passed
since, time enough for every live worker to write (its retries back off to a few seconds).
A look that waited on the database (``SLOW_LOOK`` or longer) counts as an outage too: a
database, or a path to it, that stopped answering for a while and then went on answers this
replica's look late but answers it, while the workers' writes timed out and back off.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Sequence

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from ..core.texts import RU, Words
from ..db.engine import db_error_reason, is_missing_table, safe_url
from ..db.notices import read_notices, save_notices
from ..db.outbox import add_events, register_targets
from ..db.read import agent_statuses
from ..db.timeline import forget_periods_before, open_periods, periods_after
from ..logs import log_once, logger
from .delivery import Courier
from .reader import MIGRATE_HINT
from .targets import Target
from .transitions import Event, events, message

__all__ = ["Notifier", "LOOK_LOCK_KEY", "SLOW_LOOK"]

LOOK_LOCK_KEY = int.from_bytes(hashlib.sha256(b"celery-office notify looks").digest()[:8], "big",
                               signed=True)
FORGET_EVERY = 3600.0  # seconds between two deletions of periods past office_timeline_days
SLOW_LOOK = 1.0  # seconds: a look that took longer waited on a database that did not answer


class Notifier:
    """Looks at the timeline every ``interval`` seconds and queues its events for delivery.

    Parameters:
        engine: a writing engine (:func:`~celery_office.db.engine.create_office_engine`).
        targets: where the events go (:func:`~celery_office.web.targets.check_targets`).
        offline_after: silence (seconds) after which an agent is offline.
        heartbeat_interval: the workers' ``office_heartbeat_interval``: after an outage, they
            get at least that long to write before silence counts.
        interval: seconds between two looks.
        timeout: seconds one send may take.
        keep_days: ``office_timeline_days``: periods and events kept.
        words: the messages' language (``office_language``).
    """

    def __init__(
        self, engine: Engine, targets: Sequence[Target], *, offline_after: float,
        heartbeat_interval: float = 60.0, interval: float = 5.0, timeout: float = 10.0,
        keep_days: float = 7.0, backoff: float = 2.0, words: Words = RU,
    ) -> None:
        self.engine = engine
        self.words = words
        self.targets = list(targets)
        self.offline_after = offline_after
        self.interval = interval
        self.keep_days = keep_days
        self.grace = max(offline_after, heartbeat_interval) + interval
        holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.couriers = [Courier(engine, target, holder=holder, timeout=timeout,
                                 backoff=backoff, poll=interval) for target in self.targets]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False
        self._resumed_at: float | None = None  # monotonic: the first good look after a bad one
        self._forgot_at: float | None = None
        self._look_began = time.monotonic()

    def start(self) -> None:
        for courier in self.couriers:
            courier.start()
        self._thread = threading.Thread(target=self._run, name="celery-office-notifier",
                                        daemon=True)
        self._thread.start()
        logger.info("celery-office: notifications of %s to %s, every %g s", safe_url(self.engine),
                    ", ".join(target.where for target in self.targets), self.interval)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        for courier in self.couriers:
            courier.stop(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.look()
            except Exception as exc:  # the loop survives its own bugs, said once a minute
                log_once("notifier-bug", "celery-office: unexpected error while looking for "
                         "transitions (a bug, please report it): %s: %s", type(exc).__name__,
                         db_error_reason(exc, self.engine))
            self._stop.wait(self.interval)

    def look(self) -> list[Event]:
        """One look: the events found and stored by this replica (none when another replica
        is looking at the same moment)."""
        self._look_began = time.monotonic()
        try:
            with self.engine.begin() as conn:
                found = self._look(conn) if self._take_turn(conn) else []
        except SQLAlchemyError as exc:
            self._failing, self._resumed_at = True, None
            hint = f"; {MIGRATE_HINT}" if is_missing_table(exc) else ""
            log_once("notifier-db", "celery-office: notifications wait for the database: "
                     "cannot look at %s: %s%s", safe_url(self.engine),
                     db_error_reason(exc, self.engine), hint)
            return []
        if self._failing:
            self._failing, self._resumed_at = False, time.monotonic()
            logger.info("celery-office: notifications look at %s again; silence counts again "
                        "in %g s", safe_url(self.engine), self.grace)
        elif self._waited():
            self._resumed_at = time.monotonic()
            log_once("notifier-slow", "celery-office: a notifications look waited %.1f s on %s; "
                     "silence counts again in %g s", time.monotonic() - self._look_began,
                     safe_url(self.engine), self.grace)
        if found:
            for courier in self.couriers:
                courier.wake()
        return found

    def _look(self, conn: Connection) -> list[Event]:
        keys = register_targets(conn, [t.key for t in self.targets],
                                within=max(60.0, 10 * self.interval))
        notices = read_notices(conn)
        periods = periods_after(conn)
        rows = agent_statuses(conn, self.offline_after)
        current = open_periods(conn, [row.agent_id for row in rows])
        found, moved = events(periods, notices, rows, current,
                              judge_silence=self._may_judge_silence(conn))
        by_agent = {row.agent_id: row for row in rows}
        said = [(e.key, e.agent_id, e.state,
                 message(e, by_agent.get(e.agent_id), words=self.words)) for e in found]
        add_events(conn, said, keys)
        save_notices(conn, moved)
        self._forget_old_periods(conn)
        return found

    @staticmethod
    def _take_turn(conn: Connection) -> bool:
        if conn.dialect.name != "postgresql":
            return True  # BEGIN IMMEDIATE: the looks take turns already
        return bool(conn.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"),
                                {"key": LOOK_LOCK_KEY}))

    def _may_judge_silence(self, conn: Connection) -> bool:
        """Has silence had time to mean something since the last outage we know of?"""
        if self._failing or self._waited():  # the database answers again, or only now
            return False
        if self._resumed_at is not None and time.monotonic() - self._resumed_at < self.grace:
            return False
        if conn.dialect.name == "postgresql":
            up = conn.scalar(text("SELECT extract(epoch FROM now() - pg_postmaster_start_time())"))
            if up is not None and float(up) < self.grace:
                return False
        return True

    def _waited(self) -> bool:
        """Has this look waited on the database (a hang that ended: the workers' writes of
        that time failed and are retried, so their silence proves nothing yet)?"""
        return time.monotonic() - self._look_began >= SLOW_LOOK

    def _forget_old_periods(self, conn: Connection) -> None:
        now = time.monotonic()
        if self._forgot_at is not None and now - self._forgot_at < FORGET_EVERY:
            return
        self._forgot_at = now
        forget_periods_before(conn, keep_days=self.keep_days)
