"""Which runs a process knows of, and which of their starts may be out there.

The buffer's bookkeeping beside its pending batch: a run that starts and ends between two
writes costs no row at all, but one whose start may be in the table (or with the main process)
must have its end written; memory stays bounded by the runs in progress, however long the
database is away. The caller (the buffer) holds its lock around every use.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core.changes import Batch, RunChange

__all__ = ["RunLedger"]


@dataclass
class RunLedger:
    active: dict[str, float] = field(default_factory=dict)  # task_id -> start (epoch)
    written: set[str] = field(default_factory=set)  # starts that may be in the table or handed over
    ended_here: dict[str, float] = field(default_factory=dict)  # task_id -> when this process
    # ended it (a main process: a start handed over later is stale)

    # ------------------------------------------------------------------ the handlers' side

    def start(self, task_id: str, at: float) -> None:
        """A run started in this process."""
        self.active[task_id] = at

    def end(self, task_id: str) -> float | None:
        """A run ended: its start, when this process knew it in progress (else None)."""
        return self.active.pop(task_id, None)

    def counts_end(self, task_id: str, *, started_here: bool) -> bool:
        """Is this end the run's first here? A hard time limit signals the same end twice."""
        return started_here or task_id not in self.ended_here

    def remember_end(self, task_id: str, at: float) -> None:
        """This process ended the run itself (a main process: a start handed later is stale)."""
        self.ended_here[task_id] = at

    def record_end(self, batch: Batch, task_id: str, end: RunChange, *, started_here: bool) -> None:
        """Put a run's end into the pending ``batch``. A start that is still pending there and
        was never out (not written, not handed over) goes with it: a run that starts and ends
        between two writes costs no row at all. Any other end must follow its start out."""
        pending = batch.runs.get(task_id)
        if started_here and pending is not None and not pending.ended \
                and task_id not in self.written:
            del batch.runs[task_id]
        else:
            batch.runs[task_id] = end

    def absorb_runs(self, batch: Batch, handed: Batch) -> None:
        """Merge the runs a pool process handed over into the pending ``batch`` (main process).

        They are newer than what is pending: an end replaces its start (or cancels it, as
        :meth:`record_end` does), a start or new text replaces an older one and keeps the
        earliest start known. A start from before this process itself ended the run (its pool
        process was lost, and the hand-over came late) is stale and ignored.
        """
        for task_id, run in handed.runs.items():
            if run.ended:
                self.record_end(batch, task_id, run, started_here=self.end(task_id) is not None)
                continue
            ended_at = self.ended_here.get(task_id)
            if ended_at is not None and run.started_at <= ended_at:
                continue
            pending = batch.runs.get(task_id)
            if pending is not None and not pending.ended:
                run = RunChange(run.agent_id, run.task, min(run.started_at, pending.started_at))
            self.active[task_id] = min(run.started_at, self.active.get(task_id, run.started_at))
            batch.runs[task_id] = run

    # ------------------------------------------------------------------ the flusher's side

    def going_out(self, batch: Batch) -> set[str]:
        """The runs whose start leaves with ``batch`` for the first time: from now on they
        may be out there, and their end must follow."""
        first_out = {t for t, run in batch.runs.items() if not run.ended and t not in self.written}
        self.written |= first_out
        return first_out

    def landed(self, batch: Batch) -> None:
        """``batch`` was written or handed over: its ended runs, and the runs it carried
        that started in another process (seen from here), need no end from this process."""
        for task_id, run in batch.runs.items():
            if run.ended or task_id not in self.active:
                self.written.discard(task_id)

    def not_landed(self, batch: Batch, first_out: set[str], pending: Batch) -> None:
        """``batch`` surely did not land: its first-time starts are not out; a run among them
        that ended meanwhile needs neither its start nor its end (``pending`` holds the end)."""
        self.written -= first_out
        for task_id in first_out - self.active.keys():
            batch.runs.pop(task_id, None)
            end = pending.runs.get(task_id)
            if end is not None and end.ended:
                del pending.runs[task_id]

    def dropped(self, batch: Batch) -> None:
        """The runs of a batch the database refused are out of this process's hands."""
        self.written -= batch.runs.keys() - self.active.keys()

    def forget_ends_before(self, cutoff: float) -> None:
        for task_id in [t for t, at in self.ended_here.items() if at < cutoff]:
            del self.ended_here[task_id]
