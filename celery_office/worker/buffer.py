"""One process's coalesced status changes, in memory: no I/O, no thread.

Signal handlers call :meth:`StatusBuffer.run_started`, :meth:`~StatusBuffer.run_progress` and
:meth:`~StatusBuffer.run_finished` on the task's path: each does O(1) dictionary work under a
lock. The flusher takes what is pending (:meth:`~StatusBuffer.take`), writes it or hands it
over, and tells the buffer how that went (:meth:`~StatusBuffer.settle`,
:meth:`~StatusBuffer.put_back`). So memory stays bounded by the agents and the runs in
progress, however long the database is away: a run that starts and ends between two writes
costs no row at all, and one whose start may be out there (written, or handed to the main
process) always gets its end.
"""

from __future__ import annotations

import time
from typing import Any

from ..core.changes import Batch, Outcome, RunChange
from ..core.statuses import AgentStatus
from .pending import PendingChanges

__all__ = ["StatusBuffer", "carries_an_end"]


class StatusBuffer(PendingChanges):
    """The pending changes of one process, as the signal handlers record them: each call does
    O(1) dictionary work under the lock, on the task's path."""

    # ------------------------------------------------------------------ handlers' side

    def run_started(
        self, task_id: str, agent_id: str, text: str | None, *, task_name: str | None = None
    ) -> None:
        """A run of one of the agent's tasks began in this process (``task_name``: which
        task, for judging its schedule)."""
        with self.lock:
            now = time.time()
            self._runs.start(task_id, now)
            self._batch.runs[task_id] = RunChange(agent_id, text, now)
            self._batch.touched.add(agent_id)
            self._count(agent_id, now).runs += 1
            if task_name is not None:
                self._batch.started.add((agent_id, task_name))
            if self.on_first_change is not None:
                self.on_first_change()

    def run_progress(
        self, task_id: str, agent_id: str, text: str | None, metrics: dict[str, Any] | None
    ) -> None:
        """A running task reported progress: new working text and/or metrics."""
        now = time.time()
        with self.lock:
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
            if self.on_first_change is not None:
                self.on_first_change()

    def run_finished(
        self,
        task_id: str,
        agent_id: str,
        outcome: AgentStatus | None,
        *,
        text: str | None = None,
        metrics: dict[str, Any] | None = None,
        only_if_active: bool = False,
    ) -> None:
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
                self._count(agent_id, now).ended(outcome, now, started_at)
            if self.remember_own_ends and not only_if_active:
                self._runs.remember_end(task_id, now)
            pending = batch.runs.get(task_id)
            if started_here and pending is not None and not self._runs.may_be_out(task_id):
                del batch.runs[task_id]  # started and ended between two writes: no row at all
            else:
                batch.runs[task_id] = RunChange(agent_id, None, now, ended=True)
            if outcome is not None:
                batch.outcomes[agent_id] = Outcome(outcome, text, now)
            if metrics is not None:
                batch.metrics[agent_id] = (metrics, now)
            batch.touched.add(agent_id)
            if self.on_first_change is not None:
                self.on_first_change()
            if not self._end_told:
                self._tell_end()

    def absorb(self, handed: Batch) -> None:
        """Take changes a pool process handed over, as if they had happened here (main process).

        Newer than what is pending: a run's end replaces its start (and cancels it when the
        start was never taken for writing), a start or new text replaces an older one, the
        newer outcome and metrics win. A start from before this process itself ended the run
        (its pool process was lost, and the hand-over came late) is stale and ignored.
        """
        with self.lock:
            batch = self._batch
            for task_id, run in handed.runs.items():
                pending = batch.runs.get(task_id)
                if run.ended:
                    started_here = self._runs.end(task_id) is not None
                    if started_here and pending is not None and not pending.ended \
                            and not self._runs.may_be_out(task_id):
                        del batch.runs[task_id]  # started and ended between two writes
                    else:
                        batch.runs[task_id] = run
                    continue
                if self._runs.stale_start(task_id, run.started_at):
                    continue
                if pending is not None and not pending.ended:
                    run = RunChange(run.agent_id, run.task, min(run.started_at, pending.started_at))
                # the earliest start known: a text change arrives with its own time
                self._runs.handed_start(task_id, run.started_at)
                batch.runs[task_id] = run
            batch.merge_newer(handed)  # counted once, in the pool process: the counts add up
            if self.on_first_change is not None:
                self.on_first_change()
            if not self._end_told and carries_an_end(handed):
                self._tell_end()


def carries_an_end(batch: Batch) -> bool:
    """Does ``batch`` end a run? (An end, an outcome, or a count of how runs ended: a run that
    started and ended between two hand-overs leaves only its count and outcome.)"""
    return bool(batch.outcomes) or any(run.ended for run in batch.runs.values()) or any(
        count.succeeded or count.failed or count.retried or count.revoked
        for count in batch.counts.values()
    )

