"""One process's pending changes as its flusher sees them: taken, settled, put back.

The other side of :class:`~.buffer.StatusBuffer`, which the signal handlers fill. No I/O, no
thread: a lock around the batch and the run ledger (:mod:`.ledger`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ..core.changes import Batch, DayCount
from ..core.days import DayClock
from .ledger import RunLedger

__all__ = ["PendingChanges", "ENDED_MEMORY"]

ENDED_MEMORY = 600.0  # seconds the main process remembers the runs it ended itself


class PendingChanges:
    """The pending changes of one process, as the flusher takes and settles them (the signal
    handlers' side is :class:`StatusBuffer`).

    Parameters:
        remember_own_ends: True in a main process that receives hand-overs: the runs it ends
            itself are remembered for a while, so a start handed over late is known stale.
        timezone: the app's ``timezone``: the day each run's start and end is counted on.

    Every run is counted (``Batch.counts``: started, and how it ended, with its runtime) by the
    process whose signal saw it, once; counts are summed, never replaced, wherever batches
    meet (hand-over, put-back). A batch whose COMMIT may have landed stays with the flusher,
    which sends it again under the same flush number: it lands exactly once.
    """

    def __init__(self, *, remember_own_ends: bool = False, timezone: str = "UTC") -> None:
        self._days = DayClock(timezone)
        self.reset(remember_own_ends=remember_own_ends)

    def reset(self, *, remember_own_ends: bool) -> None:
        """Empty, with a lock of its own: at construction, and in a child after ``fork()``
        (the parent's pending changes and lock are not the child's)."""
        self.remember_own_ends = remember_own_ends
        self.lock = threading.Lock()
        # called under the lock while no flusher thread runs: the flusher starts one lazily
        self.on_first_change: Callable[[], None] | None = None
        # called under the lock at the first end since the last take: the flusher moves the
        # end on at once, not at its next turn (a process killed then would take it along)
        self.on_end: Callable[[], None] | None = None
        self._end_told = False
        self._batch = Batch()
        self._runs = RunLedger()

    # ------------------------------------------------------------------ flusher's side

    @property
    def dirty(self) -> bool:
        """Anything pending? (The caller holds :attr:`lock`.)"""
        return bool(self._batch)

    def pending(self) -> int:
        """How many agents and runs wait to be written (for tests and diagnostics)."""
        with self.lock:
            return len(self._batch.touched) + len(self._batch.runs)

    def pending_agents(self) -> int:
        """How many agents have changes waiting: what a process that stops now would lose."""
        return len(self.pending_agent_ids())

    def pending_agent_ids(self) -> set[str]:
        """The agents that have changes waiting (the heartbeat does not keep them alive)."""
        with self.lock:
            return self._batch.touched | {r.agent_id for r in self._batch.runs.values()}

    def take(self) -> tuple[Batch, set[str]]:
        """Take the pending changes, and the runs whose start goes out with them for the first
        time. From then on those starts may be in the table (or with the main process): a run
        that ends (or reports progress) while they are in flight must have its end written."""
        with self.lock:
            batch, self._batch = self._batch, Batch()
            self._end_told = False
            return batch, self._runs.going_out(batch)

    def settle(self, batch: Batch, first_out: set[str], *, ok: bool) -> None:
        """After ``batch`` was written or handed over (``ok``), or surely not: which starts
        are out. (A write that may have landed is not settled: the flusher sends it again.)"""
        with self.lock:
            if ok:
                self._runs.landed(batch)
            else:
                self._runs.not_landed(batch, first_out, self._batch)

    def _tell_end(self) -> None:
        """A run ended: wake the flusher, once until its next take (the caller holds the
        lock). An attribute test per end after the first: the task's path stays cheap."""
        if not self._end_told and self.on_end is not None:
            self._end_told = True
            self.on_end()

    def _count(self, agent_id: str, at: float) -> DayCount:
        """The agent's pending numbers of the day of ``at``. (The caller holds the lock.)"""
        key = (agent_id, self._days.day_of(at))
        count = self._batch.counts.get(key)
        if count is None:
            count = self._batch.counts[key] = DayCount()
        return count

    def put_back(self, batch: Batch) -> None:
        """A batch that was not written waits again, under the changes made since."""
        with self.lock:
            self._batch.merge_older(batch)

    def forget_dropped(self, batch: Batch) -> None:
        """The runs of a dropped batch (refused by the database) are out of this process's
        hands: their starts need no end from here."""
        with self.lock:
            self._runs.dropped(batch)

    def forget_old_ends(self) -> None:
        """Runs this process ended long ago cannot be handed over any more: forget them."""
        if not self._runs.remembers_ends():
            return
        cutoff = time.time() - ENDED_MEMORY
        with self.lock:
            self._runs.forget_ends_before(cutoff)
