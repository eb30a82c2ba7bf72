"""What a process has to write: the coalesced status changes since its last write.

The vocabulary shared by the worker side (signal handlers record into a :class:`Batch`, pool
processes hand batches to the main process) and the database side (a batch is written in one
transaction). Plain dataclasses: they are pickled across the hand-over socket.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from .db.models import AgentStatus

__all__ = ["AgentInfo", "AGENT_FIELDS", "Outcome", "RunChange", "Batch"]


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


@dataclass
class Batch:
    """What one process has to write: the coalesced changes since its last write."""

    runs: dict[str, RunChange] = field(default_factory=dict)
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    metrics: dict[str, tuple[dict[str, Any], float]] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.touched or self.runs)

    def by_agent(self) -> dict[str, "Batch"]:
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
        for agent_id, part in parts.items():
            part.touched.add(agent_id)
        return parts

    def merge_older(self, older: "Batch") -> None:
        """Put back a batch that failed to write, under the changes made since (newer win)."""
        for task_id, run in older.runs.items():
            self.runs.setdefault(task_id, run)
        for agent_id, outcome in older.outcomes.items():
            mine = self.outcomes.get(agent_id)
            if mine is None or mine.at < outcome.at:
                self.outcomes[agent_id] = outcome
        for agent_id, metrics in older.metrics.items():
            mine_m = self.metrics.get(agent_id)
            if mine_m is None or mine_m[1] < metrics[1]:
                self.metrics[agent_id] = metrics
        self.touched |= older.touched
