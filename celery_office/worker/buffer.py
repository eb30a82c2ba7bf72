"""One process's coalesced status changes, in memory: no I/O, no thread.

Signal handlers record into it (:meth:`StatusBuffer.run_started`,
:meth:`~StatusBuffer.run_progress`, :meth:`~StatusBuffer.run_finished`) on the task's path:
each does O(1) dictionary work under a lock. The flusher takes what is pending
(:meth:`~StatusBuffer.take`), writes it or hands it over, and tells the buffer how that went
(:meth:`~StatusBuffer.settle`, :meth:`~StatusBuffer.put_back`). So memory stays bounded by the
agents and the runs in progress, however long the database is away: a run that starts and ends
between two writes costs no row at all, and one whose start may be out there (written, or
handed to the main process) always gets its end (the run ledger, :mod:`.ledger`, knows which).

Every run is counted (``Batch.counts``: started, and how it ended, with its runtime) by the
process whose signal saw it, once; counts are summed, never replaced, wherever batches meet
(hand-over, put-back). A batch whose COMMIT may have landed stays with the flusher, which sends
it again under the same flush number: it lands exactly once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from ..core.changes import Batch, RunChange
from ..core.days import DayClock
from ..core.statuses import AgentStatus
from .ledger import RunLedger

__all__ = ["StatusBuffer", "carries_an_end", "ENDED_MEMORY"]

ENDED_MEMORY = 600.0  # seconds the main process remembers the runs it ended itself


class StatusBuffer:
    """The pending changes of one process, and the runs it knows of, under one lock.

    Parameters:
        remember_own_ends: True in a main process that receives hand-overs: the runs it ends
            itself are remembered for a while, so a start handed over late is known stale.
        timezone: the app's ``timezone``: the day each run's start and end is counted on.
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

    # ------------------------------------------------------------------ handlers' side

    def run_started(self, task_id: str, agent_id: str, text: str | None, *,
                    task_name: str | None = None) -> None:
        """A run of one of the agent's tasks began in this process (``task_name``: which
        task, for judging its schedule)."""
        with self.lock:
            now = time.time()
            self._runs.start(task_id, now)
            self._batch.add_start(task_id, agent_id, text, now, task_name=task_name)
            self._batch.count(agent_id, self._days.day_of(now)).runs += 1
            self._changed()

    def run_progress(self, task_id: str, agent_id: str, text: str | None,
                     metrics: dict[str, Any] | None) -> None:
        """A running task reported progress: new working text and/or metrics."""
        now = time.time()
        with self.lock:
            self._batch.add_progress(task_id, agent_id, text, metrics, now)
            self._changed()

    def run_finished(self, task_id: str, agent_id: str, outcome: AgentStatus | None, *,
                     text: str | None = None, metrics: dict[str, Any] | None = None,
                     only_if_active: bool = False) -> None:
        """A run ended; ``outcome`` None means it ended without a verdict (revoked).

        A run that started in another process (a pool process lost, seen from the main
        process) is ended too; ``only_if_active`` skips runs this process did not start or has
        ended already (``task_postrun`` after ``task_failure``).
        """
        now = time.time()
        with self.lock:
            batch = self._batch
            started_at = self._runs.end(task_id)
            started_here = started_at is not None
            if only_if_active and not started_here:
                return
            if only_if_active and outcome is None:
                pass  # postrun without a verdict (terminated): task_revoked counts it, once
            elif self._runs.counts_end(task_id, started_here=started_here):
                # counted once: a hard time limit signals the same end twice in this process
                batch.count(agent_id, self._days.day_of(now)).ended(outcome, now, started_at)
            if self.remember_own_ends and not only_if_active:
                self._runs.remember_end(task_id, now)
            self._runs.record_end(batch, task_id, RunChange(agent_id, None, now, ended=True),
                                  started_here=started_here)
            batch.add_verdict(agent_id, outcome, text, metrics, now)
            self._changed()
            self._tell_end()

    def absorb(self, handed: Batch) -> None:
        """Take changes a pool process handed over, as if they had happened here (main
        process): newer than what is pending (:meth:`.ledger.RunLedger.absorb_runs`)."""
        with self.lock:
            self._runs.absorb_runs(self._batch, handed)
            self._batch.merge_newer(handed)  # counted once, in the pool process: counts add up
            self._changed()
            if not self._end_told and carries_an_end(handed):
                self._tell_end()

    def _changed(self) -> None:
        """Start the flusher's thread at the first change (the caller holds the lock)."""
        if self.on_first_change is not None:
            self.on_first_change()

    def _tell_end(self) -> None:
        """A run ended: wake the flusher, once until its next take (the caller holds the
        lock)."""
        if not self._end_told and self.on_end is not None:
            self._end_told = True
            self.on_end()

    # ------------------------------------------------------------------ flusher's side

    @property
    def dirty(self) -> bool:
        """Anything pending? (The caller holds :attr:`lock`.)"""
        return bool(self._batch)

    def pending(self) -> int:
        """How many agents and runs wait to be written (the flusher: is there anything to move?)."""
        with self.lock:
            return len(self._batch.touched) + len(self._batch.runs)

    def pending_agent_ids(self) -> set[str]:
        """The agents that have changes waiting: what a process that stops now would lose
        (and what the heartbeat does not keep alive)."""
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
        with self.lock:
            self._runs.forget_ends_before(time.time() - ENDED_MEMORY)


def carries_an_end(batch: Batch) -> bool:
    """Does ``batch`` end a run? (An end, an outcome, or a count of how runs ended: a run that
    started and ended between two hand-overs leaves only its count and outcome.)"""
    return bool(batch.outcomes) or any(run.ended for run in batch.runs.values()) or any(
        count.succeeded or count.failed or count.retried or count.revoked
        for count in batch.counts.values()
    )
