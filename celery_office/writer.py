"""The per-process status writer: signal handlers record, a background thread writes.

Handlers call :class:`StatusWriter` methods on the task's path: each does O(1) dictionary work
under a lock and returns, with no I/O. A daemon thread of the same process wakes every
``office_flush_interval`` seconds, takes the coalesced changes (the newest state per agent, the
runs that started or ended since) and writes them in one transaction. A fast task whose start
and end fall between two writes costs no row at all.

The thread starts lazily in each process, after fork: nothing here (thread, lock, engine,
connection) crosses a ``fork()``; :func:`os.register_at_fork` resets the child's copy. When the
database is down or hung, changes wait in memory (one entry per agent and run in progress, never
per task), one warning is logged when writes start failing and one line when they recover.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from celery.utils.log import get_logger
from sqlalchemy import event
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError

from .logs import log_once
from .models import AgentStatus
from .settings import OfficeSettings
from .store import (
    AgentInfo,
    Batch,
    Outcome,
    RunChange,
    apply_batch,
    create_office_engine,
    heartbeat,
    node_runs,
    register_worker,
    retire_worker,
    run_key,
    safe_url,
)

__all__ = ["StatusWriter", "get_writer", "configure_writer"]

logger = get_logger("celery_office")

RETRY_MAX = 5.0  # seconds between two attempts at most while the database is down


class StatusWriter:
    """Coalescing buffer of one process plus the thread that flushes it.

    Parameters:
        settings: resolved settings (intervals in seconds).
        agents: the agents this worker serves, by id (metadata for rows that do not exist yet).
        node_name: the worker's node name (``name@host``); runs are recorded under it.
        worker_duties: True in the worker's main process: register the worker and its agents
            at start, beat every ``heartbeat_interval``, retire (offline) at shutdown.
    """

    def __init__(
        self,
        settings: OfficeSettings,
        agents: Mapping[str, AgentInfo],
        *,
        node_name: str | None = None,
        worker_duties: bool = False,
    ) -> None:
        self.settings = settings
        self.agents = dict(agents)
        self.node_name = node_name
        self._duties_pid = os.getpid() if worker_duties else None
        # every run of this worker starts later: older runs under its node name are its
        # former self's (a restart), the others may be written before its registration is
        self.started_at = time.time()
        self._engine: Any = None
        self._sockets: SocketWatch | None = None
        self._reset()

    # ------------------------------------------------------------------ state

    def _reset(self) -> None:
        """Fresh runtime state: at construction and in a child after ``fork()``."""
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._done = threading.Event()
        self._batch = Batch()
        self._active: dict[str, str] = {}  # task_id -> agent_id, runs started in this process
        self._written: set[str] = set()  # task_ids whose start is in the table
        self._known: set[str] = set()  # agents whose rows exist: no insert needed
        self._thread: threading.Thread | None = None
        self._failing = False
        self._failures = 0
        self._registered = False
        self._migrated = False
        self._retire_requested = False
        self._commit_sent = False
        self._last_error: BaseException | None = None
        self._rejections = 0  # writes refused in a row for their content
        # runs of this worker in the table that its main process no longer runs:
        # task_id -> (agent_id, when first seen so)
        self._unowned_runs: dict[str, tuple[str, float]] = {}

    def after_fork_in_child(self) -> None:
        """Drop what the parent owned: its pending changes, thread, lock and connections.

        The engine object itself is kept (its dialect, imports and statement cache are
        ready): only its connection pool is replaced, leaving the parent's sockets alone.
        """
        self._reset()
        if self._engine is not None:
            self._engine.dispose(close=False)
        if self._sockets is not None:
            self._sockets.forget()

    def prepare(self) -> None:
        """Build the engine now, before the pool forks, so pool processes inherit it ready.

        Alembic is imported here too, so the first migration does not wait for it.
        """
        self._get_engine()
        if self.settings.auto_migrate:
            from . import schema  # noqa: F401

    @property
    def has_worker_duties(self) -> bool:
        return self._duties_pid == os.getpid()

    # ------------------------------------------------------------------ handlers' side (no I/O)

    def run_started(self, task_id: str, agent_id: str, text: str | None) -> None:
        """A run of one of the agent's tasks began in this process."""
        with self._lock:
            self._active[task_id] = agent_id
            self._batch.runs[task_id] = RunChange(agent_id, text, time.time())
            self._batch.touched.add(agent_id)
            if self._thread is None:
                self._start_thread()

    def run_progress(
        self, task_id: str, agent_id: str, text: str | None, metrics: dict[str, Any] | None
    ) -> None:
        """A running task reported progress: new working text and/or metrics."""
        now = time.time()
        with self._lock:
            batch = self._batch
            if text is not None:
                run = batch.runs.get(task_id)
                if run is not None and not run.ended:
                    run.task = text
                else:
                    batch.runs[task_id] = RunChange(agent_id, text, now)
            if metrics is not None:
                batch.metrics[agent_id] = (metrics, now)
            batch.touched.add(agent_id)
            if self._thread is None:
                self._start_thread()

    def run_finished(
        self,
        task_id: str,
        agent_id: str,
        outcome: AgentStatus | None,
        text: str | None = None,
        metrics: dict[str, Any] | None = None,
        *,
        only_if_active: bool = False,
    ) -> None:
        """A run ended; ``outcome`` None means it ended without a verdict (revoked).

        A run that started in another process (a pool process lost, seen from the main
        process) is ended too; ``only_if_active`` skips runs this process did not start or has
        ended already (``task_postrun`` after ``task_failure``).
        """
        now = time.time()
        with self._lock:
            batch = self._batch
            started_here = self._active.pop(task_id, None) is not None
            if only_if_active and not started_here:
                return
            pending = batch.runs.get(task_id)
            if started_here and pending is not None and task_id not in self._written:
                del batch.runs[task_id]  # started and ended between two writes: no row at all
            else:
                batch.runs[task_id] = RunChange(agent_id, None, now, ended=True)
            if outcome is not None:
                batch.outcomes[agent_id] = Outcome(outcome, text, now)
            if metrics is not None:
                batch.metrics[agent_id] = (metrics, now)
            batch.touched.add(agent_id)
            if self._thread is None:
                self._start_thread()

    def pending(self) -> int:
        """How many agents and runs wait to be written (for tests and diagnostics)."""
        with self._lock:
            return len(self._batch.touched) + len(self._batch.runs)

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Start the thread now (the main process does, to register and beat)."""
        with self._lock:
            if self._thread is None:
                self._start_thread()

    def _start_thread(self) -> None:
        self._thread = threading.Thread(
            target=self._loop, name="celery-office-writer", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float | None = None, *, retire: bool = False) -> bool:
        """Write what is pending (and retire the worker's agents) within ``timeout`` seconds.

        Returns False when something is left unwritten: the database did not answer in time
        (the thread is a daemon and is abandoned, so a hung database never keeps a process
        from exiting) or refused the last write. A pool process whose writes were already
        failing waits one flush interval at most: with ``max_tasks_per_child`` it exits often,
        and a database that is down must not hold up its replacement.
        """
        timeout = self.settings.shutdown_timeout if timeout is None else timeout
        with self._lock:
            if self._stopping.is_set():
                return self._done.is_set()
            was_failing = self._failing
            if was_failing and not self.has_worker_duties:
                timeout = min(timeout, self.settings.flush_interval)
            self._stopping.set()
            self._retire_requested = retire and self.has_worker_duties
            if self._thread is None:
                if not (self._batch or self._retire_requested):
                    self._done.set()
                    return True
                self._start_thread()
            thread = self._thread
        self._wake.set()
        thread.join(timeout)
        with self._lock:
            left = len(self._batch.touched | {r.agent_id for r in self._batch.runs.values()})
        retire_failed = self._retire_requested and self._failing
        if not thread.is_alive() and not left and not retire_failed:
            return True
        # one line per process; a pool process whose failing writes were reported already says
        # it at info level, or max_tasks_per_child would make it a line per few tasks
        log = logger.info if was_failing and not self.has_worker_duties else logger.warning
        if thread.is_alive():
            log(
                "celery-office: the database at %s did not answer within %.1f s "
                "(office_shutdown_timeout); the last statuses of this process are not written",
                safe_url(self.settings.database_url), timeout,
            )
        elif left:
            log(
                "celery-office: the last statuses of %d agents of this process could not be "
                "written to %s", left, safe_url(self.settings.database_url),
            )
        else:
            log(
                "celery-office: this worker's agents could not be marked offline on %s; they "
                "read offline once silent for office_offline_after (%g s)",
                safe_url(self.settings.database_url), self.settings.offline_after,
            )
        return False

    # ------------------------------------------------------------------ the thread

    def _loop(self) -> None:
        interval = self.settings.flush_interval
        next_beat = time.monotonic() + self.settings.heartbeat_interval
        try:
            while not self._stopping.is_set():
                self._wake.wait(self._retry_delay() if self._failing else interval)
                self._wake.clear()
                if self._stopping.is_set():
                    break
                self._cycle()
                if self.has_worker_duties and time.monotonic() >= next_beat:
                    if self._guarded("heartbeat", self._beat):
                        next_beat = time.monotonic() + self.settings.heartbeat_interval
                    else:
                        next_beat = time.monotonic() + interval
            self._cycle()
            if self._retire_requested:
                self._guarded("shutdown", self._retire)
        finally:
            self._done.set()

    def _attempt(self, work: Callable[[Any], Any], transaction: bool) -> None:
        """One try, watched: a database that stops answering is cut off, never waited on.

        ``_commit_sent`` tells a failure before the COMMIT (nothing landed) from one during
        it (the transaction may have landed).
        """
        engine = self._get_engine()
        watchdog = self._arm_watchdog()
        try:
            if not transaction:
                work(engine)
                return
            with engine.connect() as conn:
                trans = conn.begin()
                work(conn)
                self._commit_sent = True
                trans.commit()
        finally:
            if watchdog is not None:
                watchdog.cancel()

    def _retry_delay(self) -> float:
        """While the database is down, retry with a doubling delay up to RETRY_MAX seconds."""
        interval = self.settings.flush_interval
        return min(interval * 2 ** min(self._failures, 16), max(RETRY_MAX, interval))

    def _cycle(self) -> None:
        if self.has_worker_duties and not self._registered:
            if self.settings.auto_migrate and not self._migrated:
                self._migrated = self._guarded("migration", self._migrate, transaction=False)
                if not self._migrated:
                    return
            self._registered = self._guarded("registration", self._register)
            if not self._registered:
                return
        batch, maybe_written = self._take()
        if not batch:
            return
        if self._write(batch, maybe_written):
            self._rejections = 0
            return
        with self._lock:
            self._batch.merge_older(batch)
        if not _is_rejection(self._last_error):
            self._rejections = 0
            return
        self._rejections += 1
        if self._rejections >= 2:  # the same content refused twice: no passing fault
            self._rejections = 0
            self._write_apart()

    def _take(self) -> tuple[Batch, set[str]]:
        """Take the pending changes. From then on their starts may be in the table: a run that
        ends (or reports progress) while they are in flight must have its end written."""
        with self._lock:
            batch, self._batch = self._batch, Batch()
            maybe_written = {
                t for t, run in batch.runs.items() if not run.ended and t not in self._written
            }
            self._written |= maybe_written
        return batch, maybe_written

    def _write(self, batch: Batch, maybe_written: set[str]) -> bool:
        """Write ``batch`` in one transaction; on failure the caller keeps or drops it."""
        ok = self._guarded(
            "status write",
            lambda conn: apply_batch(conn, batch, self.agents, self.node_name, self._known),
        )
        with self._lock:
            if ok:
                for task_id, run in batch.runs.items():
                    if run.ended or task_id not in self._active:
                        # ended, or started in another process (seen from here): no end to
                        # write from this process
                        self._written.discard(task_id)
            elif not self._commit_sent:
                # nothing of it landed: a run that ends before the next write costs no row,
                # and memory stays bounded by the runs in progress, however long the
                # database is down
                self._written -= maybe_written
                for task_id in maybe_written - self._active.keys():
                    # it ended while in flight: neither its start nor its end is needed
                    batch.runs.pop(task_id, None)
                    end = self._batch.runs.get(task_id)
                    if end is not None and end.ended:
                        del self._batch.runs[task_id]
        return ok

    def _write_apart(self) -> None:
        """The database refused the same changes twice for what they hold (a value, a
        constraint, a trigger), not for being away: write each agent's part on its own and
        drop only the parts it refuses, so one bad value never blocks every later write of
        the process. A refused part still gets its runs' ends written, so its agent is never
        left working; when no part at all gets through, the cause is not one agent's data and
        everything is kept."""
        batch, maybe_written = self._take()
        parts = sorted(batch.by_agent().items())
        refused: list[tuple[str, Batch, BaseException | None]] = []
        for agent_id, part in parts:
            if not self._write(part, maybe_written & part.runs.keys()):
                refused.append((agent_id, part, self._last_error))
        if len(refused) == len(parts) > 1 or not all(_is_rejection(e) for _, _, e in refused):
            with self._lock:
                for _, part, _ in refused:
                    self._batch.merge_older(part)
            return
        for agent_id, part, error in refused:
            ends = Batch(
                runs={t: r for t, r in part.runs.items() if r.ended}, touched={agent_id}
            )
            if ends.runs:
                self._write(ends, set())
            with self._lock:
                self._written -= part.runs.keys() - self._active.keys()
            log_once(
                f"refused:{agent_id}",
                "celery-office: the database refuses the status change of agent %s (%s: %s); "
                "it is dropped so that the other agents' statuses are written",
                agent_id, type(error).__name__, _first_line(error) if error else "",
                level=logging.ERROR,
            )

    def _guarded(
        self, what: str, work: Callable[[Any], Any], *, transaction: bool = True
    ) -> bool:
        """Run ``work(conn)`` in one transaction (``work(engine)`` without one); log the first
        failure and the recovery only, never a line per attempt."""
        self._commit_sent = False
        try:
            try:
                self._attempt(work, transaction)
            except DBAPIError as exc:
                if not exc.connection_invalidated:
                    raise
                # a pooled connection the server dropped (restart, pg_terminate_backend):
                # it is discarded now; a fresh one is tried at once, quietly
                self._attempt(work, transaction)
        except Exception as exc:
            self._last_error = exc
            self._failures += 1
            if not self._failing:
                self._failing = True
                logger.warning(
                    "celery-office: %s failed on %s (%s: %s); agent statuses are kept in "
                    "memory and written when the database is back%s",
                    what, safe_url(self.settings.database_url), type(exc).__name__,
                    _first_line(exc), _hint(exc), exc_info=logger.isEnabledFor(10),
                )
            return False
        self._failures = 0
        if self._failing:
            self._failing = False
            logger.warning(
                "celery-office: writing agent statuses to %s again",
                safe_url(self.settings.database_url),
            )
        return True

    def _get_engine(self) -> Any:
        if self._engine is None:
            self._engine = create_office_engine(
                self.settings.database_url,
                connect_timeout=self.settings.connect_timeout,
                statement_timeout=self.settings.statement_timeout,
            )
            self._sockets = SocketWatch(self._engine)
        return self._engine

    def _arm_watchdog(self) -> threading.Timer | None:
        """Cut this writer's database sockets if one write takes far longer than any should.

        A server that accepts and never answers (or a connection that stops relaying) blocks
        libpq forever: no client-side read timeout exists, and ``statement_timeout`` needs a
        server that listens. Shutting the socket down makes the blocked call fail at once; the
        changes go back to memory and the next write starts on a fresh connection.
        """
        if self._engine is None or not self._sockets.watchable:
            return None
        limit = self.settings.connect_timeout + self.settings.statement_timeout
        timer = threading.Timer(limit, self._sockets.cut_all)
        timer.daemon = True
        timer.start()
        return timer

    def _migrate(self, engine: Any) -> None:
        from .schema import migrate

        migrate(engine)

    def _register(self, conn: Any) -> None:
        register_worker(
            conn,
            node_name=self.node_name or socket.gethostname(),
            hostname=socket.gethostname(),
            pid=os.getpid(),
            agents=list(self.agents.values()),
            since=self.started_at,
        )
        logger.info(
            "celery-office: %d agents registered in %s",
            len(self.agents), safe_url(self.settings.database_url),
        )

    def _beat(self, conn: Any) -> None:
        node_name = self.node_name or socket.gethostname()
        lost: dict[str, str] = {}
        running = _running_task_ids()  # before reading the table: a run started since is in it
        if running is not None:
            lost = self._lost_runs(node_runs(conn, node_name), running)
        heartbeat(
            conn,
            node_name=node_name,
            hostname=socket.gethostname(),
            pid=os.getpid(),
            agents=list(self.agents.values()),
            offline_after=self.settings.offline_after,
            end_runs=lost,
        )
        if lost:
            logger.warning(
                "celery-office: %d runs of this worker ended without their end being written "
                "(a pool process lost, a requeued task, or statuses not written at exit); "
                "they no longer count as in progress", len(lost),
            )

    def _lost_runs(self, in_table: Mapping[str, str], running: set[str]) -> dict[str, str]:
        """The runs this worker has in the table but has not run for a while.

        Their end was never written: a pool process that exited while the database was
        unreachable, a run Celery requeued after its pool process was lost
        (``reject_on_worker_lost``) or whose process died after storing its result (neither
        sends a signal). A run must stay unknown to the main process longer than any pool
        process takes to write its end before it counts as lost. The heartbeat ends them in
        its own transaction, under the agents' locks, so a run restarted with the same id
        since this look is never ended in its place.
        """
        now = time.monotonic()
        grace = max(2 * self.settings.flush_interval, RETRY_MAX) + self.settings.statement_timeout
        unowned = {}
        for task_id, agent_id in in_table.items():
            if task_id not in running:
                unowned[task_id] = (agent_id, self._unowned_runs.get(task_id, (agent_id, now))[1])
        self._unowned_runs = unowned
        return {t: a for t, (a, first_seen) in unowned.items() if now - first_seen >= grace}

    def _retire(self, conn: Any) -> None:
        offline = retire_worker(
            conn,
            node_name=self.node_name or socket.gethostname(),
            agent_ids=list(self.agents),
            offline_after=self.settings.offline_after,
        )
        logger.info("celery-office: %d agents offline", len(offline))


def _running_task_ids() -> set[str] | None:
    """Ids of the tasks this worker runs now (its main process's view), or None outside one
    or when it cannot be read (the heartbeat goes on without the lost-run check)."""
    try:
        from celery.worker import state

        for _ in range(10):
            try:  # a WeakSet the consumer thread changes: copying it may meet a change
                requests = list(state.active_requests)
            except RuntimeError:
                continue
            return {run_key(request.id) for request in requests if request.id is not None}
    except Exception:  # never let the check cost the heartbeat
        pass
    return None


class SocketWatch:
    """The DB-API connections an engine opened, to cut their sockets from another thread."""

    def __init__(self, engine: Any) -> None:
        self._connections: "weakref.WeakSet[Any]" = weakref.WeakSet()
        self.watchable = engine.dialect.name == "postgresql"
        if self.watchable:
            event.listen(engine, "connect", lambda dbapi_conn, _rec: self._connections.add(dbapi_conn))

    def forget(self) -> None:
        """In a forked child: the parent's connections are not ours to cut."""
        self._connections = weakref.WeakSet()

    def cut_all(self) -> None:
        for dbapi_conn in list(self._connections):
            try:
                sock = socket.socket(fileno=os.dup(dbapi_conn.fileno()))
            except Exception:
                continue
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            finally:
                sock.close()
        logger.warning("celery-office: the database stopped answering; connections were reset")


def _is_rejection(exc: BaseException | None) -> bool:
    """Did the database refuse what was sent, rather than fail to take it? Only a value
    (SQLSTATE class 22, ``DataError``), a constraint (class 23, ``IntegrityError``) or a value
    the driver cannot send counts: retrying never cures those. Everything else (down,
    read-only after a failover, permissions, missing tables) may pass, and nothing is dropped
    for it."""
    if exc is None or _hint(exc):
        return False
    if isinstance(exc, DBAPIError):
        return isinstance(exc, (DataError, IntegrityError)) and not exc.connection_invalidated
    return isinstance(exc, (StatementError, ValueError, TypeError))


def _hint(exc: BaseException) -> str:
    """What to do about a failure that waiting alone will not cure."""
    text = str(exc)
    if "office_" in text and ("does not exist" in text or "no such table" in text):
        return (
            "; the celery-office tables are missing: run `celery -A <your app> office migrate` "
            "(or leave office_auto_migrate on)"
        )
    return ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else ""


_writer: StatusWriter | None = None


def get_writer() -> StatusWriter | None:
    """The writer of this process, or None when the plugin is not active here."""
    return _writer


def configure_writer(writer: StatusWriter | None) -> None:
    """Install ``writer`` as this process's writer (the bootstep does, before the pool forks)."""
    global _writer
    _writer = writer


def _after_fork_in_child() -> None:
    if _writer is not None:
        _writer.after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)
