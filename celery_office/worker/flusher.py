"""The background thread of each process: takes the buffer's changes and moves them on.

In the worker's main process (and in a solo or threads pool, where it is the only process) it
writes them in one transaction per ``office_flush_interval``, registers the worker first, beats
every ``office_heartbeat_interval`` and retires the agents at shutdown. In a prefork pool
process it hands them to the main process (:mod:`.handover`) every half interval and never
touches the database, so a pool process that exits never waits on it nor takes unwritten
changes with it.

The thread starts lazily in each process, after fork: nothing here (thread, lock, engine,
connection) crosses a ``fork()``; the runtime's at-fork hook resets the child's copy. When the
database is down or hung, changes wait in the buffer (one entry per agent and run in progress),
retries back off, and the loop itself survives its own bugs: it logs an unexpected error once a
minute and goes on.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..core.changes import AgentInfo, Batch
from ..core.texts import counted
from ..db.flush import write_batch
from ..db.engine import safe_url
from ..db.failures import is_rejection
from ..core.errors import NewerSchemaError
from ..logs import log_once, logger
from ..render import describe
from ..settings import OfficeSettings
from .buffer import StatusBuffer
from .duties import WorkerDuties
from .guard import GuardedDatabase
from .handover import Handover
from .refusals import write_apart
from .watch import Watch

__all__ = ["Flusher"]

HANDOVER_SHARE = 0.5  # a pool process hands over every half flush interval: a change reaches
# the table within about 1.5 intervals, the main process still writes once per interval
EXIT_HANDOVER_WAIT = 1.0  # seconds an exiting pool process retries a hand-over the main
# process is too busy to take (never a wait on the database)


class Flusher:
    """Moves one process's buffered changes on: to the database, or to the main process.

    Parameters:
        settings: resolved settings (intervals in seconds).
        agents: the agents this worker serves, by id (metadata for rows that do not exist yet).
        node_name: the worker's node name (``name@host``); runs are recorded under it.
        worker_duties: True in the worker's main process: register, beat, retire, and write
            what its pool processes hand over.
        watch: the worker's judgement of missed schedules and overlong runs, at each beat.
        routes: task name -> (agent id, text while it runs): what the main process writes
            back of the runs it runs when it finds itself taken for dead.
    """

    def __init__(
        self,
        settings: OfficeSettings,
        agents: Mapping[str, AgentInfo],
        *,
        node_name: str | None = None,
        worker_duties: bool = False,
        watch: Watch | None = None,
        routes: Mapping[str, tuple[str, str | None]] | None = None,
    ) -> None:
        self.settings = settings
        self.agents = dict(agents)
        self.node_name = node_name
        self.buffer = StatusBuffer(timezone=settings.timezone)
        self.db = GuardedDatabase(settings)
        self.handover: Handover | None = None
        self._duties_pid = os.getpid() if worker_duties else None
        # every run of this worker starts later: older runs under its node name are its
        # former self's (a restart), the others may be written before its registration is
        self.duties = WorkerDuties(
            settings, self.agents, node_name=node_name, started_at=time.time(), watch=watch,
            routes=routes,
        )
        self._reset()

    def _reset(self) -> None:
        """Fresh thread state: at construction and in a child after ``fork()``."""
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._registered = False
        self._migrated = False
        self._retire_requested = False
        self._rejections = 0  # writes refused in a row for their content
        # flushes whose COMMIT may have landed: (batch, its first-out runs, its number)
        self._in_doubt: list[tuple[Batch, set[str], int]] = []
        self._seq = int(time.time() * 1000) * 1_000_000
        self.buffer.on_first_change = self._start_thread

    def after_fork_in_child(self) -> None:
        """Drop what the parent owned: its pending changes, thread, lock and connections."""
        self.buffer = StatusBuffer(timezone=self.settings.timezone)
        self._reset()
        self.db.after_fork_in_child()
        if self.handover is not None:
            self.handover.after_fork_in_child()

    def prepare(self) -> None:
        """Main process, before the pool forks: build the engine (a bad URL stops the worker
        at start) and the hand-over socket, whose sending end pool processes inherit.

        With ``office_auto_migrate`` the tables are migrated here, once: an existing dashboard
        table that cannot be adopted raises :class:`~celery_office.db.contract.ContractError`,
        which stops the worker at start with one line. A database that cannot be reached is
        tried again by the thread (connecting is bounded by ``office_connect_timeout``).
        """
        self.db.engine
        if self._duties_pid is None:
            return
        if self.handover is None:
            self.handover = Handover()
            self.buffer.remember_own_ends = True
        if self.settings.auto_migrate and not self._migrated:
            from ..db.contract import ContractError

            try:
                self.db.attempt(self.duties.migrate, transaction=False)
                self._migrated = True
            except ContractError:
                raise
            except Exception:
                pass  # down or hung: the thread tries again, and says so once
            finally:
                # no socket for the pool processes to inherit: a connection whose descriptor
                # a child holds would stay open on the server after this process closes it
                self.db.engine.dispose()

    @property
    def has_worker_duties(self) -> bool:
        return self._duties_pid == os.getpid()

    @property
    def forwards(self) -> bool:
        """True in a pool process: its changes go to the main process, not the database."""
        return self.handover is not None and self._duties_pid != os.getpid()

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Start the thread now (the main process does, to register, beat and receive)."""
        with self.buffer.lock:
            if self._thread is None:
                self._start_thread()
        if self.handover is not None and self.has_worker_duties:
            self.handover.start_receiving(self.buffer.absorb)

    def _start_thread(self) -> None:
        """Called under the buffer's lock, so two handlers never start two threads."""
        self.buffer.on_first_change = None
        self._thread = threading.Thread(target=self._loop, name="celery-office-writer", daemon=True)
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
        with self.buffer.lock:
            if self._stopping.is_set():
                return self._done.is_set()
            self._stopping.set()
            self._retire_requested = retire and self.has_worker_duties
            if self._thread is None:
                receiving = self.handover is not None and self.has_worker_duties
                if not (self.buffer.dirty or self._retire_requested or receiving):
                    self._done.set()
                    return True
                self._start_thread()
            thread = self._thread
        assert thread is not None
        self._wake.set()
        thread.join(timeout)
        left = self.buffer.pending_agents() + len(self._in_doubt)
        retire_failed = self._retire_requested and self.db.failing
        if not thread.is_alive() and not left and not retire_failed:
            return True
        self._say_what_is_lost(forwards=forwards, hung=thread.is_alive(), left=left, timeout=timeout)
        return False

    def _say_what_is_lost(self, *, forwards: bool, hung: bool, left: int, timeout: float) -> None:
        where = safe_url(self.settings.database_url)
        if forwards:
            # info: with max_tasks_per_child a warning here would be a line per few tasks
            logger.info(
                "celery-office: the worker's main process did not take the last statuses of "
                "%s of this pool process", counted(left, "agent"),
            )
        elif hung:
            logger.warning(
                "celery-office: the database at %s did not answer within %.1f s "
                "(office_shutdown_timeout); the last statuses of this process are not written",
                where, timeout,
            )
        elif left:
            logger.warning(
                "celery-office: the last statuses of %s of this process could not be "
                "written to %s", counted(left, "agent"), where,
            )
        else:
            logger.warning(
                "celery-office: this worker's agents could not be marked offline on %s; they "
                "read offline once silent for office_offline_after (%g s)",
                where, self.settings.offline_after,
            )

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
                self._wake.wait(self.db.retry_delay() if self.db.failing else interval)
                self._wake.clear()
                if self._stopping.is_set():
                    break
                self._survive(self._cycle)
                # no heartbeat before the worker is registered: a worker whose writes cannot
                # go (a schema it does not know) must never show its agents alive
                if self._registered and time.monotonic() >= next_beat:
                    if self._beat():
                        next_beat = time.monotonic() + self.settings.heartbeat_interval
                    else:
                        next_beat = time.monotonic() + interval
            self._survive(self._last_cycle)
        finally:
            self._done.set()

    def _beat(self) -> bool:
        """The heartbeat; a database a newer celery-office migrated since (it is checked at
        each beat) sends the worker back to the migration, which then writes nothing."""
        if self.db.run("heartbeat", self.duties.beat):
            return True
        if isinstance(self.db.last_error, NewerSchemaError):
            self._registered = self._migrated = False
        return False

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
        if self.handover is not None and self.has_worker_duties:
            self.handover.stop_receiving()
            self.handover.drain(self.buffer.absorb)  # what the exited pool processes handed over
        self._cycle()
        if self._retire_requested and self._registered:  # a worker that wrote nothing retires
            self.db.run("shutdown", self.duties.retire)  # nothing either

    def _cycle(self) -> None:
        if self.forwards:
            self._hand_over()
            return
        if self.has_worker_duties and not self._registered:
            if self.settings.auto_migrate and not self._migrated:
                self._migrated = self.db.run("migration", self.duties.migrate, transaction=False)
                if not self._migrated:
                    return
            self._registered = self.db.run("registration", self.duties.register)
            if not self._registered:
                return
        if not self._resolve_doubts():
            return
        self.buffer.forget_old_ends()
        batch, first_out = self.buffer.take()
        if not batch:
            return
        if self.write(batch, first_out):
            self._rejections = 0
            return
        self.buffer.put_back(batch)
        if not is_rejection(self.db.last_error):
            self._rejections = 0
            return
        self._rejections += 1
        if self._rejections >= 2:  # the same content refused twice: no passing fault
            self._rejections = 0
            write_apart(self)

    def _hand_over(self) -> bool:
        """Pool process: hand the pending changes to the main process; what does not go (the
        socket is full while the main process is busy) stays, coalesced, for the next try."""
        assert self.handover is not None
        batch, first_out = self.buffer.take()
        if not batch:
            return True
        unsent = Batch()
        for part in self.handover.parts(batch):
            if unsent or not self.handover.send(part):
                unsent.merge_older(part)  # the rest waits too: one agent's order is kept
                continue
            self.buffer.settle(part, first_out, ok=True)
        if not unsent:
            return True
        self.buffer.settle(unsent, first_out & unsent.runs.keys(), ok=False)
        self.buffer.put_back(unsent)
        return False

    def write(self, batch: Batch, first_out: set[str]) -> bool:
        """Write ``batch`` as one flush; True when it landed. A failure that may have landed
        (the connection lost once the COMMIT was sent) keeps the batch, with its number, to
        be sent again before anything newer: it then lands exactly once. Any other failure
        leaves ``batch`` to the caller, which keeps or drops it."""
        seq = self._next_seq()
        if self._send(batch, seq):
            self.buffer.settle(batch, first_out, ok=True)
            return True
        if self.db.commit_sent and not is_rejection(self.db.last_error):
            self._in_doubt.append((batch, first_out, seq))
            return True  # not the caller's any more: the flusher sends it again
        self.buffer.settle(batch, first_out, ok=False)
        return False

    def _send(self, batch: Batch, seq: int) -> bool:
        def work(engine: Any) -> None:
            write_batch(engine, batch, self.agents, self.node_name, seq=seq,
                        statement_timeout=self.settings.statement_timeout,
                        sent=self.db.mark_sent)

        return self.db.run("status write", work, transaction=False)

    def _resolve_doubts(self) -> bool:
        """Send again, oldest first, the flushes whose COMMIT may have landed; True once none
        is left. Sent with their own numbers, each lands exactly once whatever happened."""
        while self._in_doubt:
            batch, first_out, seq = self._in_doubt[0]
            if not self._send(batch, seq):
                if is_rejection(self.db.last_error):  # refused before landing: it never did
                    self._in_doubt.pop(0)
                    self.buffer.settle(batch, first_out, ok=False)
                    self.buffer.put_back(batch)
                    continue
                return False
            self._in_doubt.pop(0)
            self.buffer.settle(batch, first_out, ok=True)
        return True

    def _next_seq(self) -> int:
        """Flush numbers grow across the worker's restarts (its start time, in milliseconds,
        leads), so a restarted worker's first flush is never taken for one already written."""
        self._seq += 1
        return self._seq
