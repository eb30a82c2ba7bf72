"""What a process has to write: the coalesced status changes since its last write.

The vocabulary shared by the worker side (signal handlers record into a :class:`Batch`, pool
processes hand batches to the main process) and the database side (a batch is written in one
transaction). Plain dataclasses: they are pickled across the hand-over socket.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from .statuses import AgentStatus

__all__ = ["AgentInfo", "AGENT_FIELDS", "Outcome", "RunChange", "DayCount", "Batch", "supersedes"]


# What a worker (from agents.yaml) or a reporter says of an agent: the row's own columns.
AGENT_FIELDS = ("agent_id", "department", "name", "brand", "salary_equivalent", "fte_coefficient")


class AgentInfo(Protocol):
    """What the database side needs to know of an agent (the registry's ``AgentSpec`` and
    ``OfficeReporter`` fit); read-only, so either may hold narrower types."""

    @property
    def agent_id(self) -> str: ...
    @property
    def department(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def brand(self) -> str | None: ...
    @property
    def salary_equivalent(self) -> int: ...
    @property
    def fte_coefficient(self) -> Decimal | float: ...


def supersedes(candidate_at: float, current_at: float | None) -> bool:
    """The one rule of which of two changes of an agent stands: the later event, and of two
    at the same instant the one that came later (``candidate``). Times are the workers' clocks
    (epoch seconds). The buffer, a batch put back, a hand-over and the database (in Python for
    SQLite, in ``office_apply_batch`` for PostgreSQL: ``WHERE o.finished_at <=
    EXCLUDED.finished_at``) all decide by it."""
    return current_at is None or candidate_at >= current_at


@dataclass(slots=True)
class Outcome:
    """How an agent's newest finished run ended, at ``at`` (epoch seconds, worker clock)."""

    status: AgentStatus
    task: str | None
    at: float


@dataclass(slots=True)
class RunChange:
    """A run that started (or changed its text), or ended when ``ended`` is true."""

    agent_id: str
    task: str | None
    started_at: float
    ended: bool = False


DAY_SUMS = ("runs", "succeeded", "failed", "retried", "revoked", "runtime_s")
"""The day numbers that add up: every batch adds what its process counted."""
DAY_LARGEST = ("max_runtime_s", "last_success_at", "last_failure_at")
"""The day numbers where the larger value stands (a longest run, a last time)."""
DAY_FIELDS = DAY_SUMS + DAY_LARGEST
"""An agent's day in numbers: the one declaration of its fields, in the order of
``DayCount``, the stored ``DayNumbers``, the batch's JSON and ``office_agent_day``."""


@dataclass(slots=True)
class DayCount:
    """What one process counted of an agent's day since its last write: summed, never
    replaced, so a run that starts and ends between two writes still counts. Times are
    epoch seconds (worker clock); a run whose start this process never saw has no runtime."""

    runs: int = 0  # started
    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    revoked: int = 0  # ended without a verdict: revoked, terminated
    runtime_s: float = 0.0
    max_runtime_s: float = 0.0
    last_success_at: float | None = None
    last_failure_at: float | None = None

    def ended(self, outcome: AgentStatus | None, at: float, started_at: float | None) -> None:
        """Count a run's end at ``at``; its runtime when its start is known (a run of a lost
        pool process whose start never reached the main process has none)."""
        if outcome is AgentStatus.ok:
            self.succeeded += 1
            self.last_success_at = at
        elif outcome is AgentStatus.error:
            self.failed += 1
            self.last_failure_at = at
        elif outcome is AgentStatus.warning:
            self.retried += 1
        else:
            self.revoked += 1
        if started_at is not None:
            runtime = max(0.0, at - started_at)
            self.runtime_s += runtime
            if runtime > self.max_runtime_s:
                self.max_runtime_s = runtime

    def add(self, other: DayCount) -> None:
        """Add ``other``'s numbers (two processes', or a put-back batch's) to these."""
        for name in DAY_SUMS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in DAY_LARGEST:
            setattr(self, name, _larger(getattr(self, name), getattr(other, name)))

    def as_dict(self) -> dict[str, Any]:
        """The numbers by field name (``DAY_FIELDS``), as the batch's writers send them."""
        return {name: getattr(self, name) for name in DAY_FIELDS}


def _larger(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else max(a, b)


def add_counts(into: dict[tuple[str, date], DayCount],
               counts: dict[tuple[str, date], DayCount]) -> None:
    """Sum ``counts`` into ``into`` (copies: the two batches never share a counter)."""
    for key, count in counts.items():
        mine = into.get(key)
        if mine is None:
            into[key] = replace(count)
        else:
            mine.add(count)


@dataclass
class Batch:
    """What one process has to write: the coalesced changes since its last write."""

    runs: dict[str, RunChange] = field(default_factory=dict)
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    metrics: dict[str, tuple[dict[str, Any], float]] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)
    # (agent_id, day in the app's timezone) -> numbers counted since the last write
    counts: dict[tuple[str, date], DayCount] = field(default_factory=dict)
    started: set[tuple[str, str]] = field(default_factory=set)  # (agent_id, task name) started

    def __bool__(self) -> bool:
        return bool(self.touched or self.runs or self.counts)

    def add_start(self, task_id: str, agent_id: str, text: str | None, at: float, *,
                  task_name: str | None = None) -> None:
        """A run began at ``at`` (``task_name``: which task, for judging its schedule)."""
        self.runs[task_id] = RunChange(agent_id, text, at)
        self.touched.add(agent_id)
        if task_name is not None:
            self.started.add((agent_id, task_name))

    def add_progress(self, task_id: str, agent_id: str, text: str | None,
                     metrics: dict[str, Any] | None, at: float) -> None:
        """A running task's new text (a pending start takes it) and/or metrics."""
        if text is not None:
            run = self.runs.get(task_id)
            if run is not None and not run.ended:
                run.task = text
            else:
                self.runs[task_id] = RunChange(agent_id, text, at)
        if metrics is not None:
            self.metrics[agent_id] = (metrics, at)
        self.touched.add(agent_id)

    def add_verdict(self, agent_id: str, outcome: AgentStatus | None, text: str | None,
                    metrics: dict[str, Any] | None, at: float) -> None:
        """A run of the agent ended at ``at``: its verdict (None: revoked) and metrics."""
        if outcome is not None:
            self.outcomes[agent_id] = Outcome(outcome, text, at)
        if metrics is not None:
            self.metrics[agent_id] = (metrics, at)
        self.touched.add(agent_id)

    def count(self, agent_id: str, day: date) -> DayCount:
        """The agent's numbers of ``day`` in this batch, to add to (new and zero at first)."""
        count = self.counts.get((agent_id, day))
        if count is None:
            count = self.counts[(agent_id, day)] = DayCount()
        return count

    def by_agent(self) -> dict[str, Batch]:
        """This batch cut into one batch per agent (to find the part a database refuses)."""
        parts: dict[str, Batch] = {}
        for task_id, run in self.runs.items():
            parts.setdefault(run.agent_id, Batch()).runs[task_id] = run
        for agent_id, outcome in self.outcomes.items():
            parts.setdefault(agent_id, Batch()).outcomes[agent_id] = outcome
        for agent_id, metrics in self.metrics.items():
            parts.setdefault(agent_id, Batch()).metrics[agent_id] = metrics
        for agent_id in self.touched:
            parts.setdefault(agent_id, Batch())
        for (agent_id, day), count in self.counts.items():
            parts.setdefault(agent_id, Batch()).counts[(agent_id, day)] = count
        for agent_id, task_name in self.started:
            parts.setdefault(agent_id, Batch()).started.add((agent_id, task_name))
        for agent_id, part in parts.items():
            part.touched.add(agent_id)
        return parts

    def merge_older(self, older: Batch) -> None:
        """Put back a batch that failed to write, under the changes made since (which came
        later: they stand unless older by their own time)."""
        for task_id, run in older.runs.items():
            self.runs.setdefault(task_id, run)
        self._merge(older, later=False)

    def merge_newer(self, newer: Batch) -> None:
        """Take the outcomes, metrics and counts of a batch that came after this one (a pool
        process's hand-over); its runs are the caller's to merge."""
        self._merge(newer, later=True)

    def _merge(self, other: Batch, *, later: bool) -> None:
        def stands(theirs: float, mine: float | None) -> bool:
            """Does ``other``'s change stand over this batch's? (``later``: other came later.)"""
            if mine is None:
                return True
            return supersedes(theirs, mine) if later else not supersedes(mine, theirs)

        for agent_id, outcome in other.outcomes.items():
            mine = self.outcomes.get(agent_id)
            if stands(outcome.at, None if mine is None else mine.at):
                self.outcomes[agent_id] = outcome
        for agent_id, metrics in other.metrics.items():
            mine_m = self.metrics.get(agent_id)
            if stands(metrics[1], None if mine_m is None else mine_m[1]):
                self.metrics[agent_id] = metrics
        self.touched |= other.touched
        add_counts(self.counts, other.counts)  # counts add up: each was counted once
        self.started |= other.started
