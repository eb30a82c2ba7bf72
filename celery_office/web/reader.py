"""The office as the page, the API, the metrics and the health check read it: one snapshot,
shared for a moment, and an answer in bounded time whatever the database does.

Why shared: every open page polls, and Prometheus scrapes; the database sees one read a second
at most, however many readers there are, and one read in flight at a time.

Why bounded: a database that hangs mid-session (a stalled network, a stopped server) blocks
libpq in a socket read that no timeout of the driver ends. So a read runs in a thread of its
own, never on the event loop; a request waits for it until its deadline at most, and a read
still running then is abandoned by the process's watchdog thread (its sockets are cut, as for
the worker's writes, so its thread ends) and the last good snapshot is served, marked stale
with its age and the reason. While the database fails, requests are answered from memory at
once and a read is tried again every ``retry_after`` seconds in the background.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from ..core.days import today
from ..core.errors import OfficeError
from ..core.texts import human_duration
from ..db.engine import db_error_reason, is_missing_table, safe_url, scrub
from ..db.read import AgentRow, active_alerts, agent_statuses, busy_agents
from ..db.revisions import head_revision, known_revisions, read_revision
from ..db.timeline import TIMELINE, open_periods
from ..db.totals import Totals, agent_totals
from ..logs import logger
from ..snapshot import status_name
from ..worker.watchdog import SocketWatch, call_after

__all__ = ["OfficeReader", "Snapshot", "View", "ReadError", "MIGRATE_HINT", "read_office"]

MIGRATE_HINT = "run `celery -A <app> office migrate` (or start a worker) to create the tables"
MAX_ABANDONED = 2  # reads left running past their deadline; none more is started meanwhile


class ReadError(OfficeError):
    """The office could not be read. ``str()`` is the log's line (the database's URL without
    its password); ``public`` says why without the database's user, host, port or name."""

    def __init__(self, logged: str, public: str) -> None:
        super().__init__(logged)
        self.public = public


@dataclass(frozen=True)
class Snapshot:
    """Every agent (with today's numbers) and its active alerts, as read at ``taken_at``."""

    rows: list[AgentRow]
    alerts: dict[str, tuple[str, ...]] = field(default_factory=dict)
    busy: frozenset[str] = frozenset()  # agents with a run in progress
    totals: dict[str, Totals] = field(default_factory=dict)  # numbers ever counted, by agent
    since: dict[str, datetime] = field(default_factory=dict)  # when each status began
    last_error: dict[str, str] = field(default_factory=dict)  # offline after this error
    taken_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


@dataclass(frozen=True)
class View:
    """What a request may show: the last good snapshot (None before the first), and why it is
    stale (None while the database answers)."""

    snapshot: Snapshot | None
    problem: str | None

    @property
    def fresh(self) -> bool:
        return self.snapshot is not None and self.problem is None

    def age(self) -> float | None:
        """Seconds since the snapshot was read."""
        if self.snapshot is None:
            return None
        return max(0.0, (datetime.now(timezone.utc) - self.snapshot.taken_at).total_seconds())


class _Read:
    """One read in flight: its thread, its start, and a future done when it ends or is
    abandoned."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.done: Future[None] = Future()
        self.thread: threading.Thread | None = None


class OfficeReader:
    """Serves snapshots of the office, read at most once per ``max_age`` seconds.

    Parameters:
        engine: a read engine (:func:`~celery_office.db.engine.create_read_engine`).
        offline_after: silence (seconds) after which an agent reads as offline.
        timezone: the zone whose day "today" is (the app's ``timezone``).
        max_age: seconds a snapshot is served before the next read.
        deadline: seconds a read may take before it is abandoned.
        retry_after: seconds between two reads while the database fails.
    """

    def __init__(
        self, engine: Engine, *, offline_after: float, timezone: str = "UTC",
        max_age: float = 1.0, deadline: float = 5.0, retry_after: float = 2.0,
    ) -> None:
        self.engine = engine
        self.offline_after = offline_after
        self.timezone = timezone
        self.max_age = max_age
        self.deadline = deadline
        self.retry_after = retry_after
        self._watch = SocketWatch(engine)
        self._lock = threading.Lock()
        self._good: Snapshot | None = None
        self._good_at = 0.0
        self._problem: str | None = None
        self._inflight: _Read | None = None
        self._tried_at = 0.0
        self._abandoned: list[threading.Thread] = []
        self._said: set[str] = set()  # the reasons logged since the database last answered
        self._failing_since: float | None = None

    @property
    def where(self) -> str:
        return safe_url(self.engine)

    def current(self) -> View:
        """What the last read left, without reading."""
        with self._lock:
            return View(self._good, self._problem)

    async def view(self) -> View:
        """The office now, bounded by the deadline: waits for a read only while the database
        answers; while it fails, the last snapshot at once (a read goes on in the background)."""
        waiting = self._begin()
        if waiting is not None:
            try:
                await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(waiting)),
                                       self.deadline + 1.0)
            except asyncio.TimeoutError:  # the watchdog is late: answer anyway
                pass
        return self.current()

    def _begin(self) -> Future[None] | None:
        """Start a read when one is due; the future to wait for, or None to answer now."""
        now = time.monotonic()
        with self._lock:
            failing = self._problem is not None
            if self._good is not None and not failing and now - self._good_at < self.max_age:
                return None
            if self._inflight is not None:
                return None if failing else self._inflight.done
            if failing and now - self._tried_at < self.retry_after:
                return None
            self._abandoned = [t for t in self._abandoned if t.is_alive()]
            if len(self._abandoned) >= MAX_ABANDONED:
                return None
            read = self._inflight = _Read()
            self._tried_at = now
        read.thread = threading.Thread(target=self._run, args=(read,), daemon=True,
                                       name="celery-office-read")
        read.thread.start()
        alarm = call_after(self.deadline, lambda: self._abandon(read))  # no thread of its own
        read.done.add_done_callback(lambda _: alarm.cancel())
        return None if failing else read.done

    def _run(self, read: _Read) -> None:
        try:
            snapshot: Snapshot | None = self.read()
            error: ReadError | None = None
        except ReadError as exc:
            snapshot, error = None, exc
        except Exception as exc:  # a bug of ours: said, and the page still answers
            detail = scrub(f"{type(exc).__name__}: {exc}", self.engine)
            snapshot, error = None, ReadError(
                f"met an unexpected error reading {self.where} (a bug, please report it): "
                f"{detail}", f"unexpected error while reading: {type(exc).__name__}")
        with self._lock:
            if read is not self._inflight:
                return  # abandoned: what it found is too late to tell
            self._inflight = None
            since, recovered = self._failing_since, self._problem is not None
            if snapshot is not None:
                self._good, self._good_at, self._problem = snapshot, time.monotonic(), None
                self._said, self._failing_since = set(), None
            else:
                assert error is not None
                self._problem = error.public
            read.done.set_result(None)
        if error is not None:
            self._say_failing(str(error), error.public)
        elif recovered:
            away = "" if since is None else f", after {human_duration(time.monotonic() - since)}"
            logger.info("celery-office: the office page reads %s again%s", self.where, away)

    def _abandon(self, read: _Read) -> None:
        with self._lock:
            if read is not self._inflight:
                return
            self._inflight = None
            if read.thread is not None:
                self._abandoned.append(read.thread)
            problem = self._problem = f"the database did not answer within {self.deadline:g} s"
            read.done.set_result(None)
        self._watch.cut_all(quiet=True)  # the stuck read fails now and its thread ends
        self._say_failing(f"cannot read the office from {self.where}: {problem}", problem)

    def _say_failing(self, logged: str, public: str) -> None:
        """One line per condition (each reason once until the database answers again), not
        one per poll."""
        with self._lock:
            if public in self._said:
                return
            self._said.add(public)
            if self._failing_since is None:
                self._failing_since = time.monotonic()
            shown = ("serving the snapshot read at "
                     f"{self._good.taken_at.astimezone().strftime('%H:%M:%S')}, marked stale"
                     if self._good is not None else "nothing to show until it answers")
        logger.warning("celery-office: the office page %s; %s", logged, shown)

    def read(self) -> Snapshot:
        """One read of the office, in the caller's thread (:func:`read_office`)."""
        return read_office(self.engine, offline_after=self.offline_after,
                           timezone=self.timezone)


def read_office(engine: Engine, *, offline_after: float, timezone: str) -> Snapshot:
    """Every agent, today's numbers and the active alerts, in one transaction;
    :class:`ReadError` when the database cannot be read or its tables are at a revision this
    version does not know (a newer celery-office migrated them)."""
    where = safe_url(engine)
    try:
        with engine.connect() as conn:
            revision = read_revision(conn)
            if revision is not None and revision not in known_revisions():
                newer = (f"its tables are at revision {revision!r}, made by a newer "
                         "celery-office than this one (which knows revisions up to "
                         f"{head_revision()!r}): upgrade celery-office where serve runs")
                raise ReadError(f"cannot read the office from {where}: {newer}", newer)
            rows = agent_statuses(conn, offline_after, day=today(timezone))
            alerts = active_alerts(conn)
            busy = busy_agents(conn)
            totals = agent_totals(conn)
            periods = open_periods(conn, [row.agent_id for row in rows])
            offline = [row.agent_id for row in rows if status_name(row.status) == "offline"]
            last_error = _errors_before(conn, offline)
    except SQLAlchemyError as exc:
        hint = f"; {MIGRATE_HINT}" if is_missing_table(exc) else ""
        reason = db_error_reason(exc, engine)
        raise ReadError(f"cannot read the office from {where}: {reason}{hint}",
                        scrub(reason, engine, identity=True) + hint) from None
    except (LookupError, ValueError, TypeError) as exc:  # e.g. a value no type reads
        reason = f"{type(exc).__name__}: {exc}"
        raise ReadError(f"cannot read the office from {where}: {reason}",
                        scrub(reason, engine, identity=True)) from None
    since = {agent_id: period.since for agent_id, period in periods.items()}
    return Snapshot(rows, alerts, busy=busy, totals=totals, since=since, last_error=last_error)


def _errors_before(conn: Connection, agent_ids: list[str]) -> dict[str, str]:
    """The error text of each agent given whose last ended period was an error (it went
    offline from it, and going offline cleared its row's task)."""
    if not agent_ids:
        return {}
    last = (select(TIMELINE.c.agent_id, func.max(TIMELINE.c.id).label("id"))
            .where(TIMELINE.c.agent_id.in_(sorted(agent_ids)), TIMELINE.c.until.is_not(None))
            .group_by(TIMELINE.c.agent_id).subquery())
    query = (select(TIMELINE.c.agent_id, TIMELINE.c.task)
             .join(last, last.c.id == TIMELINE.c.id)
             .where(TIMELINE.c.status == "error", TIMELINE.c.task.is_not(None)))
    return {agent_id: task for agent_id, task in conn.execute(query)}
