"""The per-process status writer: signal handlers record, a background thread writes.

Handlers call :class:`StatusWriter` methods on the task's path: each does O(1) dictionary work
under a lock and returns, with no I/O. A daemon thread of the same process wakes regularly and
takes the coalesced changes (the newest state per agent, the runs that started or ended since).
In the worker's main process (and in a solo or threads pool, where it is the only process) it
writes them in one transaction per ``office_flush_interval``. In a prefork pool process it hands
them to the main process (:mod:`celery_office.handover`) and never touches the database: one
connection per worker, and a pool process that exits never waits on the database nor takes
unwritten changes with it. A fast task whose start and end fall between two hand-overs or
writes costs no row at all.

The thread starts lazily in each process, after fork: nothing here (thread, lock, engine,
connection) crosses a ``fork()``; :func:`os.register_at_fork` resets the child's copy. When the
database is down or hung, changes wait in the main process's memory (one entry per agent and run
in progress, never per task), one warning is logged when writes start failing and one line when
they recover.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.exc import DBAPIError

from .errors import OfficeError
from .failures import hint, is_rejection
from .handover import Handover
from .logs import log_once, logger
from .models import AgentStatus
from .render import describe, first_line, safe_str
from .settings import OfficeSettings
from .duties import WorkerDuties
from .store import AgentInfo, Batch, Outcome, RunChange, apply_batch, create_office_engine, safe_url
from .watchdog import SocketWatch

__all__ = ["StatusWriter", "get_writer", "configure_writer"]

RETRY_MAX = 5.0  # seconds between two attempts at most while the database is down
HANDOVER_SHARE = 0.5  # a pool process hands over every half flush interval: a change reaches
# the table within about 1.5 intervals, the main process still writes once per interval
EXIT_HANDOVER_WAIT = 1.0  # seconds an exiting pool process retries a hand-over the main
# process is too busy to take (never a wait on the database)
ENDED_MEMORY = 600.0  # seconds the main process remembers runs it ended itself


class StatusWriter:
    """Coalescing buffer of one process plus the thread that flushes it.

    Parameters:
        settings: resolved settings (intervals in seconds).
        agents: the agents this worker serves, by id (metadata for rows that do not exist yet).
        node_name: the worker's node name (``name@host``); runs are recorded under it.
        worker_duties: True in the worker's main process: register the worker and its agents
            at start, beat every ``heartbeat_interval``, retire (offline) at shutdown, and
            write what its pool processes hand over.
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
        self._duties = WorkerDuties(settings, self.agents, node_name=node_name, started_at=time.time())
        self._engine: Any = None
        self._sockets: SocketWatch | None = None
        self._handover: Handover | None = None
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
        # runs the main process ended itself (a lost pool process, a time limit, a revoke):
        # task_id -> when; a start handed over later, from before that, is stale
        self._ended_here: dict[str, float] = {}

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
        if self._handover is not None:
            self._handover.after_fork_in_child()

    def prepare(self) -> None:
        """Main process, before the pool forks: build the engine (a bad URL stops the worker
        at start) and the hand-over socket, whose sending end pool processes inherit.

        With ``office_auto_migrate`` the tables are migrated here, once: an existing dashboard
        table that cannot be adopted raises :class:`~celery_office.contract.ContractError`,
        which stops the worker at start with one line. A database that cannot be reached is
        tried again by the thread (connecting is bounded by ``office_connect_timeout``).
        """
        self._get_engine()
        if self._duties_pid is None:
            return
        if self._handover is None:
            self._handover = Handover()
        if self.settings.auto_migrate and not self._migrated:
            from .contract import ContractError

            try:
                self._attempt(self._duties.migrate, transaction=False)
                self._migrated = True
            except ContractError:
                raise
            except Exception:
                pass  # down or hung: the thread tries again, and says so once

    @property
    def has_worker_duties(self) -> bool:
        return self._duties_pid == os.getpid()

    @property
    def forwards(self) -> bool:
        """True in a pool process: its changes go to the main process, not the database."""
        return self._handover is not None and self._duties_pid != os.getpid()

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
            if self._handover is not None and not only_if_active:
                self._ended_here[task_id] = now
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

    def absorb(self, handed: Batch) -> None:
        """Take changes a pool process handed over, as if they had happened here (main process).

        Newer than what is pending: a run's end replaces its start (and cancels it when the
        start was never taken for writing), a start or new text replaces an older one, the
        newer outcome and metrics win. A start from before this process itself ended the run
        (its pool process was lost, and the hand-over came late) is stale and ignored.
        """
        with self._lock:
            batch = self._batch
            for task_id, run in handed.runs.items():
                pending = batch.runs.get(task_id)
                if run.ended:
                    started_here = self._active.pop(task_id, None) is not None
                    if started_here and pending is not None and not pending.ended \
                            and task_id not in self._written:
                        del batch.runs[task_id]  # started and ended between two writes
                    else:
                        batch.runs[task_id] = run
                    continue
                ended_at = self._ended_here.get(task_id)
                if ended_at is not None and run.started_at <= ended_at:
                    continue
                self._active[task_id] = run.agent_id
                if pending is not None and not pending.ended:
                    run = RunChange(run.agent_id, run.task, min(run.started_at, pending.started_at))
                batch.runs[task_id] = run
            for agent_id, outcome in handed.outcomes.items():
                mine = batch.outcomes.get(agent_id)
                if mine is None or mine.at <= outcome.at:
                    batch.outcomes[agent_id] = outcome
            for agent_id, metrics in handed.metrics.items():
                mine_m = batch.metrics.get(agent_id)
                if mine_m is None or mine_m[1] <= metrics[1]:
                    batch.metrics[agent_id] = metrics
            batch.touched |= handed.touched
            if self._thread is None:
                self._start_thread()

    def pending(self) -> int:
        """How many agents and runs wait to be written (for tests and diagnostics)."""
        with self._lock:
            return len(self._batch.touched) + len(self._batch.runs)

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Start the thread now (the main process does, to register, beat and receive)."""
        with self._lock:
            if self._thread is None:
                self._start_thread()
        if self._handover is not None and self.has_worker_duties:
            self._handover.start_receiving(self.absorb)

    def _start_thread(self) -> None:
        self._thread = threading.Thread(
            target=self._loop, name="celery-office-writer", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float | None = None, *, retire: bool = False) -> bool:
        """Write (or hand over) what is pending, and retire the worker's agents, within
        ``timeout`` seconds.

        Returns False when something is left unwritten: the database did not answer in time
        (the thread is a daemon and is abandoned, so a hung database never keeps a process
        from exiting) or refused the last write. A pool process only hands over to the main
        process, which takes a moment whatever the database does.
        """
        timeout = self.settings.shutdown_timeout if timeout is None else timeout
        forwards = self.forwards
        if forwards:
            timeout = min(timeout, EXIT_HANDOVER_WAIT + 1.0)
        with self._lock:
            if self._stopping.is_set():
                return self._done.is_set()
            self._stopping.set()
            self._retire_requested = retire and self.has_worker_duties
            if self._thread is None:
                if not (self._batch or self._retire_requested or self._handover_pending()):
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
        where = safe_url(self.settings.database_url)
        if forwards:
            # info: with max_tasks_per_child a warning here would be a line per few tasks
            logger.info(
                "celery-office: the worker's main process did not take the last statuses of "
                "%d agents of this pool process", left,
            )
        elif thread.is_alive():
            logger.warning(
                "celery-office: the database at %s did not answer within %.1f s "
                "(office_shutdown_timeout); the last statuses of this process are not written",
                where, timeout,
            )
        elif left:
            logger.warning(
                "celery-office: the last statuses of %d agents of this process could not be "
                "written to %s", left, where,
            )
        else:
            logger.warning(
                "celery-office: this worker's agents could not be marked offline on %s; they "
                "read offline once silent for office_offline_after (%g s)",
                where, self.settings.offline_after,
            )
        return False

    def _handover_pending(self) -> bool:
        """Main process: may pool processes have handed over changes not yet taken?"""
        return self._handover is not None and self.has_worker_duties

    # ------------------------------------------------------------------ the thread

    def _loop(self) -> None:
        """Flush until stopped, then once more. An unexpected error in one cycle is logged
        (once a minute) and the loop goes on: a bug must never silence the process."""
        interval = self.settings.flush_interval
        if self.forwards:
            interval *= HANDOVER_SHARE
        next_beat = time.monotonic() + self.settings.heartbeat_interval
        try:
            while not self._stopping.is_set():
                self._wake.wait(self._retry_delay() if self._failing else interval)
                self._wake.clear()
                if self._stopping.is_set():
                    break
                self._survive(self._cycle)
                if self.has_worker_duties and time.monotonic() >= next_beat:
                    if self._guarded("heartbeat", self._duties.beat):
                        next_beat = time.monotonic() + self.settings.heartbeat_interval
                    else:
                        next_beat = time.monotonic() + interval
            self._survive(self._last_cycle)
        finally:
            self._done.set()

    def _survive(self, step: Callable[[], Any]) -> None:
        try:
            step()
        except Exception as exc:
            log_once(
                "writer-loop",
                "celery-office: the status writer met an unexpected error (%s); it goes on",
                describe(exc), exc_info=True,
            )

    def _last_cycle(self) -> None:
        """At stop: everything pending goes, then the main process retires its agents."""
        if self.forwards:
            deadline = time.monotonic() + EXIT_HANDOVER_WAIT
            while not self._hand_over() and time.monotonic() < deadline:
                time.sleep(0.01)
            return
        if self._handover is not None and self.has_worker_duties:
            self._handover.stop_receiving()
            self._handover.drain(self.absorb)  # what the exited pool processes handed over
        self._cycle()
        if self._retire_requested:
            self._guarded("shutdown", self._duties.retire)

    def _attempt(self, work: Callable[[Any], Any], transaction: bool) -> None:
        """One try, watched: a database that stops answering is cut off, never waited on.

        ``_commit_sent`` tells a failure before the COMMIT (nothing landed) from one during
        it (the transaction may have landed).
        """
        engine = self._get_engine()
        limit = self.settings.connect_timeout + self.settings.statement_timeout
        watchdog = self._sockets.arm(limit) if self._sockets is not None else None
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
        if self.forwards:
            self._hand_over()
            return
        if self.has_worker_duties and not self._registered:
            if self.settings.auto_migrate and not self._migrated:
                self._migrated = self._guarded("migration", self._duties.migrate, transaction=False)
                if not self._migrated:
                    return
            self._registered = self._guarded("registration", self._duties.register)
            if not self._registered:
                return
        self._forget_old_ends()
        batch, maybe_written = self._take()
        if not batch:
            return
        if self._write(batch, maybe_written):
            self._rejections = 0
            return
        with self._lock:
            self._batch.merge_older(batch)
        if not is_rejection(self._last_error):
            self._rejections = 0
            return
        self._rejections += 1
        if self._rejections >= 2:  # the same content refused twice: no passing fault
            self._rejections = 0
            self._write_apart()

    def _hand_over(self) -> bool:
        """Pool process: hand the pending changes to the main process; what does not go (the
        socket is full while the main process is busy) stays, coalesced, for the next try."""
        batch, maybe_written = self._take()
        if not batch:
            return True
        unsent = Batch()
        for part in self._handover.parts(batch):  # type: ignore[union-attr]
            if unsent or not self._handover.send(part):  # type: ignore[union-attr]
                unsent.merge_older(part)  # the rest waits too: one agent's order is kept
                continue
            self._settle(part, maybe_written, ok=True)
        if not unsent:
            return True
        self._settle(unsent, maybe_written & unsent.runs.keys(), ok=False)
        with self._lock:
            self._batch.merge_older(unsent)
        return False

    def _forget_old_ends(self) -> None:
        if not self._ended_here:
            return
        cutoff = time.time() - ENDED_MEMORY
        with self._lock:
            for task_id in [t for t, at in self._ended_here.items() if at < cutoff]:
                del self._ended_here[task_id]

    def _take(self) -> tuple[Batch, set[str]]:
        """Take the pending changes. From then on their starts may be in the table (or with
        the main process): a run that ends (or reports progress) while they are in flight must
        have its end written."""
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
        self._settle(batch, maybe_written, ok=ok, may_have_landed=self._commit_sent)
        return ok

    def _settle(
        self, batch: Batch, maybe_written: set[str], *, ok: bool, may_have_landed: bool = False
    ) -> None:
        """Bookkeeping after a write or hand-over of ``batch``: which starts are out there."""
        with self._lock:
            if ok:
                for task_id, run in batch.runs.items():
                    if run.ended or task_id not in self._active:
                        # ended, or started in another process (seen from here): no end to
                        # write from this process
                        self._written.discard(task_id)
            elif not may_have_landed:
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
        if len(refused) == len(parts) > 1 or not all(is_rejection(e) for _, _, e in refused):
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
                agent_id, type(error).__name__, first_line(error) if error else "",
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
            if not self._failing and isinstance(exc, OfficeError):
                self._failing = True  # waiting alone will not cure it: say what to fix
                logger.error(
                    "celery-office: %s failed: %s; agent statuses are kept in memory until "
                    "this is fixed", what, safe_str(exc),
                )
            elif not self._failing:
                self._failing = True
                logger.warning(
                    "celery-office: %s failed on %s (%s: %s); agent statuses are kept in "
                    "memory and written when the database is back%s",
                    what, safe_url(self.settings.database_url), type(exc).__name__,
                    first_line(exc), hint(exc), exc_info=logger.isEnabledFor(logging.DEBUG),
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
