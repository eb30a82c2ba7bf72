"""The background thread of each process: takes the buffer's changes and moves them on, by the
process's role (:class:`.writer.Writer` or :class:`.forwarder.Forwarder`).

In the worker's main process (and in a solo or threads pool, where it is the only process) it
writes them in one transaction per ``office_flush_interval``, registers the worker first, beats
every ``office_heartbeat_interval`` and retires the agents at shutdown. In a prefork pool
process it hands them to the main process (:mod:`.handover`) every half interval and never
touches the database, so a pool process that exits never waits on it nor takes unwritten
changes with it. A run's end does not wait for the next turn (:meth:`Flusher._hold`): a process
killed a moment after a run ended would take the end along.

The thread starts lazily in each process, after fork: nothing here (thread, lock, engine,
connection) crosses a ``fork()``; the runtime's at-fork hook resets the child's copy. When the
database is down or hung, changes wait in the buffer (one entry per agent and run in progress),
retries back off, and the loop itself survives its own bugs: it logs an unexpected error once a
minute and goes on.
"""

from __future__ import annotations

import abc
import os
import time
from collections.abc import Mapping

from ..core.changes import AgentInfo
from ..core.texts import counted
from ..logs import logger
from ..settings import OfficeSettings
from .buffer import StatusBuffer
from .duties import WorkerDuties
from .forwarder import END_HANDOVER_GAP, EXIT_HANDOVER_WAIT, HANDOVER_SHARE, Forwarder
from .guard import GuardedDatabase
from .handover import Handover
from .leftovers import Leftovers, give_back, say_what_is_lost, unwritten_of
from .loop import Loop
from .registration import Registration
from .watch import Watch
from .writer import Writer

__all__ = ["Flusher"]


class _ProcessWiring(abc.ABC):
    """What one process's flusher is made of, and how it is rewired after ``fork()``: the
    buffer, the database, the writer and (in a prefork worker) the hand-over and forwarder.

    Parameters: see :class:`Flusher`.
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
        self.registration = Registration(settings, self.db, self.duties)
        self.writer = Writer(settings, self.agents, buffer=self.buffer, db=self.db,
                             registration=self.registration, node_name=node_name,
                             duties_here=lambda: self.has_worker_duties)
        self.forwarder: Forwarder | None = None
        self.leftovers = Leftovers(node_name=node_name, database_url=settings.database_url,
                                   state_dir=settings.state_dir) if node_name else None
        self.loop = Loop(self._turn, self._last_cycle, wait=self._wait, hold=self._hold)
        self._reset()

    def _reset(self) -> None:
        """Fresh thread state: at construction and in a child after ``fork()``."""
        self.loop.reset()
        self._next_beat = time.monotonic() + self.settings.heartbeat_interval
        self._retire_requested = False
        self._last_moved = 0.0  # monotonic time of the last turn that had changes to move
        self.writer.reset()
        self.buffer.on_first_change = self._start_thread
        self.buffer.on_end = self.loop.wake

    def after_fork_in_child(self) -> None:
        """Drop what the parent owned: its pending changes, thread, lock and connections."""
        self.buffer.reset(remember_own_ends=False)
        self._reset()
        self.db.after_fork_in_child()
        if self.handover is not None:
            self.handover.after_fork_in_child()

    def prepare(self) -> None:
        """Main process, before the pool forks: build the engine (a bad URL stops the worker
        at start) and the hand-over socket, whose sending end pool processes inherit.

        With ``office_auto_migrate`` the tables are migrated here, once (see
        :meth:`.registration.Registration.migrate_before_fork`).
        """
        self.db.engine  # noqa: B018 (the property builds the engine)
        if self._duties_pid is None:
            return
        if self.handover is None:
            self.handover = Handover()
            self.forwarder = Forwarder(self.buffer, self.handover)
            self.buffer.remember_own_ends = True
        self.registration.migrate_before_fork()
        if self.leftovers is not None:
            agents = give_back(self.writer, self.leftovers.take())
            if agents:
                logger.info("celery-office: the statuses of %s left unwritten by the last stop "
                            "of this worker go first", counted(agents, "agent"))

    @property
    def has_worker_duties(self) -> bool:
        return self._duties_pid == os.getpid()

    @property
    def forwards(self) -> bool:
        """True in a pool process: its changes go to the main process, not the database."""
        return self.handover is not None and self._duties_pid != os.getpid()

    # the running side's (:class:`Flusher`): the thread and what it does each turn

    @abc.abstractmethod
    def _start_thread(self) -> None: ...

    @abc.abstractmethod
    def _turn(self) -> None: ...

    @abc.abstractmethod
    def _last_cycle(self) -> None: ...

    @abc.abstractmethod
    def _wait(self) -> float: ...

    @abc.abstractmethod
    def _hold(self) -> float: ...


class Flusher(_ProcessWiring):
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

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Start the thread now (the main process does, to register, beat and receive)."""
        with self.buffer.lock:
            if self.loop.thread is None:
                self._start_thread()
        if self.handover is not None and self.has_worker_duties:
            self.handover.start_receiving(self.buffer.absorb)

    def _start_thread(self) -> None:
        """Called under the buffer's lock, so two handlers never start two threads."""
        self.buffer.on_first_change = None
        self.loop.start()

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
            if self.loop.stopping.is_set():
                return self.loop.done.is_set()
            self.loop.stopping.set()  # under the lock: a second stop() waits for this one
            self._retire_requested = retire and self.has_worker_duties
            if self.loop.thread is None:
                receiving = self.handover is not None and self.has_worker_duties
                if not (self.buffer.dirty or self._retire_requested or receiving):
                    self.loop.done.set()
                    return True
                self._start_thread()
        finished = self.loop.stop(timeout)
        left = self.buffer.pending_agents() + len(self.writer.in_doubt)
        retire_failed = self._retire_requested and "shutdown" in self.db.failing_kinds
        if finished and not left and not retire_failed:
            return True
        kept = None
        if self.leftovers is not None and self.has_worker_duties:
            kept = self.leftovers.keep(unwritten_of(self.writer))
        say_what_is_lost(self.settings, forwards=forwards, hung=not finished, left=left,
                         timeout=timeout, kept=kept)
        return False

    # ------------------------------------------------------------------ the thread

    def _wait(self) -> float:
        """Seconds to the next turn: the flush interval (half of it in a pool process), the
        back-off while the database fails."""
        if self.db.failing:
            return self.db.retry_delay()
        interval = self.settings.flush_interval
        return interval * HANDOVER_SHARE if self.forwards else interval

    def _hold(self) -> float:
        """Seconds a turn an end brought forward still waits: none when the last turn that
        moved changes is older than the gap. A pool process hands over at most every
        ``END_HANDOVER_GAP``; the main process writes at most once a flush interval (once a
        back-off while the database fails), as without ends: batches stay batches."""
        if self.forwards:
            gap = min(END_HANDOVER_GAP, self.settings.flush_interval * HANDOVER_SHARE)
        else:
            gap = self._wait()
        return self._last_moved + gap - time.monotonic()

    def _turn(self) -> None:
        """One flush (or hand-over); the heartbeat when it is due, once registered."""
        self._cycle()
        if self.registration.registered and time.monotonic() >= self._next_beat:
            ok = self.registration.beat(waiting=self.writer.waiting_agents())
            wait = self.settings.heartbeat_interval if ok else self.settings.flush_interval
            self._next_beat = time.monotonic() + wait

    def _cycle(self) -> None:
        """One cycle of this process's role."""
        if self.buffer.pending() or self.writer.in_doubt:
            self._last_moved = time.monotonic()
        if self.forwards:
            assert self.forwarder is not None
            self.forwarder.cycle()
        else:
            self.writer.cycle()

    def _last_cycle(self) -> None:
        """At stop: everything pending goes, then the main process retires its agents."""
        if self.forwards:
            assert self.forwarder is not None
            self.forwarder.last_cycle()
            return
        if self.handover is not None and self.has_worker_duties:
            self.handover.stop_receiving()
            self.handover.drain(self.buffer.absorb)  # what the exited pool processes handed over
        self._cycle()
        if self._retire_requested:
            self.registration.retire()
