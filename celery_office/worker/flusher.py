"""The background thread of each process: takes the buffer's changes and moves them on, by the
process's role (:mod:`.roles`), chosen when the flusher is built and again at ``fork()``.

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

import time
from collections.abc import Mapping

from ..core.changes import AgentInfo
from ..settings import OfficeSettings
from .buffer import StatusBuffer
from .duties import WorkerDuties
from .guard import GuardedDatabase
from .handover import Handover
from .leftovers import Leftovers, say_what_is_lost
from .loop import Loop
from .registration import Registration
from .roles import MainProcess, Role, WritingAlone
from .watch import Watch
from .writer import Writer

__all__ = ["Flusher"]


class Flusher:
    """Moves one process's buffered changes on: to the database, or to the main process.

    Parameters:
        settings: resolved settings (intervals in seconds).
        agents: the agents this worker serves, by id (metadata for rows that do not exist yet).
        node_name: the worker's node name (``name@host``); runs are recorded under it.
        worker_duties: True in the worker's main process: register, beat, retire, and write
            what its pool processes hand over (:class:`.roles.MainProcess`).
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
        # every run of this worker starts later: older runs under its node name are its
        # former self's (a restart), the others may be written before its registration is
        self.duties = WorkerDuties(
            settings, self.agents, node_name=node_name, started_at=time.time(), watch=watch,
            routes=routes,
        )
        self.registration = Registration(settings, self.db, self.duties)
        self.writer = Writer(settings, self.agents, buffer=self.buffer, db=self.db,
                             registration=self.registration, node_name=node_name)
        self.role: Role = MainProcess(
            settings, self.writer, buffer=self.buffer, registration=self.registration,
            leftovers=Leftovers(node_name=node_name, database_url=settings.database_url,
                                state_dir=settings.state_dir) if node_name else None,
        ) if worker_duties else WritingAlone(settings, self.writer)
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
        """Drop what the parent owned (its pending changes, thread, lock and connections) and
        take the child's role: a pool process of a worker's main process hands over."""
        self.role = self.role.child()
        self.buffer.reset(remember_own_ends=False)
        self._reset()
        self.db.after_fork_in_child()

    def prepare(self) -> None:
        """Main process, before the pool forks: build the engine (a bad URL stops the worker
        at start), then the role's preparation (:meth:`.roles.MainProcess.prepare`)."""
        self.db.engine  # noqa: B018 (the property builds the engine)
        self.role.prepare()

    @property
    def handover(self) -> Handover | None:
        """The socket between a worker's main process and its pool processes, once prepared."""
        return getattr(self.role, "handover", None)

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Start the thread now (the main process does, to register, beat and receive)."""
        with self.buffer.lock:
            if self.loop.thread is None:
                self._start_thread()
        self.role.start()

    def _start_thread(self) -> None:
        """Called under the buffer's lock, so two handlers never start two threads."""
        self.buffer.on_first_change = None
        self.loop.start()

    def stop(self, timeout: float | None = None, *, retire: bool = False) -> bool:
        """Write (or hand over) what is pending, and retire the worker's agents, within
        ``timeout`` seconds.

        Returns False when something is left unwritten: the database did not answer in time
        (the thread, a daemon, is abandoned: a hung database never keeps a process from
        exiting) or refused the last write. A pool process only hands over (a moment).
        """
        timeout = self.role.stop_timeout(
            self.settings.shutdown_timeout if timeout is None else timeout)
        with self.buffer.lock:
            if self.loop.stopping.is_set():
                return self.loop.done.is_set()
            self.loop.stopping.set()  # under the lock: a second stop() waits for this one
            self._retire_requested = retire and self.role.retires
            if self.loop.thread is None:
                if not (self.buffer.dirty or self._retire_requested or self.role.receives):
                    self.loop.done.set()
                    return True
                self._start_thread()
        finished = self.loop.stop(timeout)
        left = len(self.buffer.pending_agent_ids()) + len(self.writer.in_doubt)
        retire_failed = self._retire_requested and "shutdown" in self.db.failing_kinds
        if finished and not left and not retire_failed:
            return True
        say_what_is_lost(self.settings, forwards=self.role.forwards, hung=not finished,
                         left=left, timeout=timeout, kept=self.role.keep_unwritten())
        return False

    # ------------------------------------------------------------------ the thread

    def _wait(self) -> float:
        """Seconds to the next turn: the role's interval; the back-off while writes fail."""
        return self.db.retry_delay() if self.db.failing else self.role.interval()

    def _hold(self) -> float:
        """Seconds a turn an end brought forward still waits: none when the last turn that
        moved changes is older than the role's gap (:meth:`.roles.Role.hold_gap`)."""
        return self._last_moved + self.role.hold_gap(self._wait()) - time.monotonic()

    def _turn(self) -> None:
        """One flush (or hand-over); the heartbeat when it is due, once registered."""
        if self.buffer.pending() or self.writer.in_doubt:
            self._last_moved = time.monotonic()
        self.role.cycle()
        if not self.registration.registered:
            return
        waiting = self.writer.waiting_agents()
        if not waiting <= self.registration.told:  # before a heartbeat a lock may hold up
            self.registration.tell_waiting(waiting)
        if time.monotonic() >= self._next_beat:
            ok = self.registration.beat(waiting=waiting)
            wait = self.settings.heartbeat_interval if ok else self.settings.flush_interval
            self._next_beat = time.monotonic() + wait

    def _last_cycle(self) -> None:
        """At stop: everything pending goes, then the main process retires its agents."""
        self.role.last_cycle(retire=self._retire_requested)
