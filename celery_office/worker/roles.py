"""The role of one process, chosen once: when the flusher is built, and again in a child at
``fork()``. The flusher's thread asks its role what to do each turn; nothing asks at run time
which process it is in.

- :class:`MainProcess`: a worker's main process (or its only one, with a solo or threads pool).
  It registers the worker before its first write, writes, receives what its pool processes hand
  over, and at a warm shutdown retires its agents and keeps what it could not write
  (:mod:`.leftovers`). Its children are pool processes: :meth:`MainProcess.child` gives them a
  :class:`.forwarder.Forwarder`.
- :class:`.forwarder.Forwarder`: a prefork pool process; hands over, never touches the database.
- :class:`WritingAlone`: a process that writes and is no worker's main process (the
  benchmarks, a flusher of the tests).
"""

from __future__ import annotations

from typing import Protocol

from ..core.texts import counted
from ..logs import logger
from ..settings import OfficeSettings
from .buffer import StatusBuffer
from .forwarder import Forwarder
from .handover import Handover
from .leftovers import Leftovers, give_back, unwritten_of
from .registration import Registration
from .writer import Writer

__all__ = ["Role", "WritingAlone", "MainProcess"]


class Role(Protocol):
    """What the flusher asks its process's role."""

    forwards: bool  # its changes go to the main process, not the database
    retires: bool  # a warm shutdown marks its agents offline

    @property
    def receives(self) -> bool: ...
    def interval(self) -> float: ...
    def hold_gap(self, wait: float) -> float: ...
    def stop_timeout(self, timeout: float) -> float: ...
    def start(self) -> None: ...
    def cycle(self) -> object: ...
    def last_cycle(self, *, retire: bool) -> None: ...
    def keep_unwritten(self) -> str | None: ...
    def prepare(self) -> None: ...
    def child(self) -> Role: ...


class WritingAlone:
    """Writes, once per ``office_flush_interval``; no registration, no hand-over."""

    forwards = False
    retires = False

    def __init__(self, settings: OfficeSettings, writer: Writer) -> None:
        self.settings = settings
        self.writer = writer

    @property
    def receives(self) -> bool:
        return False

    def interval(self) -> float:
        return self.settings.flush_interval

    def hold_gap(self, wait: float) -> float:
        """An end brought forward waits what a turn waits: batches stay batches."""
        return wait

    def stop_timeout(self, timeout: float) -> float:
        return timeout

    def start(self) -> None:
        pass

    def cycle(self) -> None:
        self.writer.cycle()

    def last_cycle(self, *, retire: bool) -> None:
        self.cycle()

    def keep_unwritten(self) -> str | None:
        return None

    def prepare(self) -> None:
        pass

    def child(self) -> Role:
        return self


class MainProcess(WritingAlone):
    """A worker's main process: registers first, receives, retires, keeps what is left."""

    retires = True

    def __init__(self, settings: OfficeSettings, writer: Writer, *, buffer: StatusBuffer,
                 registration: Registration, leftovers: Leftovers | None) -> None:
        super().__init__(settings, writer)
        self.buffer = buffer
        self.registration = registration
        self.leftovers = leftovers
        self.handover: Handover | None = None

    @property
    def receives(self) -> bool:
        return self.handover is not None

    def prepare(self) -> None:
        """Before the pool forks: the hand-over socket (pool processes inherit its sending
        end), the migration (with ``office_auto_migrate``, once), and what the last stop of
        this node left unwritten."""
        if self.handover is None:
            self.handover = Handover()
            self.buffer.remember_own_ends = True
        self.registration.migrate_before_fork()
        if self.leftovers is not None:
            agents = give_back(self.writer, self.leftovers.take())
            if agents:
                logger.info("celery-office: the statuses of %s left unwritten by the last stop "
                            "of this worker go first", counted(agents, "agent"))

    def start(self) -> None:
        if self.handover is not None:
            self.handover.start_receiving(self.buffer.absorb)

    def cycle(self) -> None:
        """The worker is registered (and its tables migrated) before its first write."""
        if self.registration.ensure(waiting=self.writer.waiting_agents):
            self.writer.cycle()

    def last_cycle(self, *, retire: bool) -> None:
        """What the exited pool processes handed over goes too, then the agents retire."""
        if self.handover is not None:
            self.handover.stop_receiving()
            self.handover.drain(self.buffer.absorb)
        self.cycle()
        if retire:
            self.registration.retire()

    def keep_unwritten(self) -> str | None:
        return self.leftovers.keep(unwritten_of(self.writer)) if self.leftovers else None

    def child(self) -> Role:
        """A pool process hands over to this process; before :meth:`prepare` (no hand-over
        yet) a child writes alone, as no worker's main process."""
        if self.handover is None:
            return WritingAlone(self.settings, self.writer)
        self.handover.after_fork_in_child()  # the receiving end stays the main process's
        return Forwarder(self.buffer, self.handover, settings=self.settings)
