"""What decides an agent's row, and the precedence that decides it.

One rule, one home per database: the README's table "Which status wins". On SQLite, Python
applies it wherever a row is recomputed (batches, heartbeats, registration, retirement,
alerts); on PostgreSQL every one of those paths calls the function ``office_recompute``
(revision 0011; a flush's ``office_apply_changes`` calls it too), and this class is not used.
The two databases must agree to the last tie, so that a fleet moved from one to the other
shows the same rows: a change to one is a change to the other (a new revision for the SQL).
tests/db/test_row_rule_property.py holds them to it.

The rule, tie-breaks included:

- an alert of each kind, overlong before missed: the one set first (``since``; one set in
  this transaction after the stored ones, one with no time last), of equal times the
  smallest ``subject`` (SQL: ``ORDER BY since NULLS LAST, subject``);
- else the run in progress that started last, of equal start times the smallest task id
  (SQL: ``ORDER BY started_at DESC, task_id``, under the database's collation; Python
  compares code points, as SQLite does);
- else the newest outcome, where of two at the same instant the later written stands
  (:func:`~.changes.supersedes`; SQL: ``WHERE o.finished_at <= EXCLUDED.finished_at``).
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
        subject breaks a tie); when it is cured, the next one shows. As SQL's ``since NULLS
        LAST, subject``: one set in this transaction (``NEWEST``, the database's now) comes
        after every stored time but before a row with no time at all."""
        found = [((alert.since is None, alert.since or NEWEST, subject), alert)
                 for (k, subject), alert in self.alerts.items() if k == kind]
        return min(found, key=lambda item: item[0])[1] if found else None

    def newest_run(self) -> str | None:
        """The text of the run in progress the row shows: the one that started last, of equal
        start times the smallest task id, exactly as SQL's ``ORDER BY started_at DESC,
        task_id`` (the order of ``runs``, which is the order rows were read, never decides).
        None when no run is in progress, or when that run has no text."""
        if not self.runs:
            return None
        _, (_, text) = min(self.runs.items(), key=lambda item: (-item[1][0], item[0]))
        return text

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
            return AgentStatus.ok, self.newest_run()
        if self.outcome is None or self.outcome.status is AgentStatus.ok:
            return AgentStatus.ok, None
        return self.outcome.status, self.outcome.task


