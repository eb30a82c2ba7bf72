"""What decides an agent's row, and the precedence that decides it.

One rule, in one place: the README's table "Which status wins". The worker applies it to the
rows it writes (SQLite, and the tests), and PostgreSQL's ``office_apply_batch`` (revision
0005) spells the same rule in SQL; the tests run every case on both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from .changes import Outcome
from .statuses import ALERT_PRECEDENCE, AgentStatus

__all__ = ["AgentState", "AlertState", "NEWEST"]

NEWEST = datetime.max.replace(tzinfo=timezone.utc)  # an alert set in this transaction


@dataclass(frozen=True)
class AlertState:
    """A row of ``office_agent_alert``: the text it shows, the worker that set it, since when."""

    task: str | None
    node_name: str | None
    since: datetime | None


@dataclass
class AgentState:
    """What decides an agent's row: its runs in progress, its newest outcome, its alerts."""

    runs: dict[str, tuple[float, str | None]] = field(default_factory=dict)
    outcome: Outcome | None = None
    metrics_at: float = 0.0
    alerts: dict[tuple[str, str], AlertState] = field(default_factory=dict)  # (kind, subject)

    def shown_alert(self, kind: str) -> AlertState | None:
        """Of the agent's alerts of ``kind``, the one its row shows: the one set first (the
        subject breaks a tie); when it is cured, the next one shows."""
        found = [(alert.since or NEWEST, subject, alert)
                 for (k, subject), alert in self.alerts.items() if k == kind]
        return min(found, key=lambda item: item[:2])[2] if found else None

    def status(self) -> tuple[AgentStatus, str | None]:
        """The row's status and task, by the precedence the README's table states: a run past
        its limit, then a missed schedule (both warnings: live problems), then a run in
        progress anywhere (ok, the newest run's text), then the newest outcome (error or
        retry warning with its text), else idle. Offline is set by retirement alone."""
        for kind in ALERT_PRECEDENCE:
            shown = self.shown_alert(kind)
            if shown is not None:
                return AgentStatus.warning, shown.task
        if self.runs:
            return AgentStatus.ok, max(self.runs.values(), key=lambda run: run[0])[1]
        if self.outcome is None or self.outcome.status is AgentStatus.ok:
            return AgentStatus.ok, None
        return self.outcome.status, self.outcome.task


