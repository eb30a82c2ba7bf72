"""An agent's statuses, the alerts that make it a warning, and when silence means offline."""

from __future__ import annotations

import enum

__all__ = ["AgentStatus", "OVERLONG", "MISSED", "ALERT_PRECEDENCE", "DASHBOARD_OFFLINE_AFTER",
           "effective_status"]


class AgentStatus(str, enum.Enum):
    """Status of an agent as the dashboard shows it (the spec's four)."""

    ok = "ok"
    warning = "warning"
    error = "error"
    offline = "offline"


OVERLONG = "overlong"  # an alert: a run in progress past its limit
MISSED = "missed"  # an alert: an expected run that did not start within its grace
ALERT_PRECEDENCE = (OVERLONG, MISSED)  # the live problems, the first one wins

# The Office Dashboard treats an agent silent for longer than this as offline (the spec's
# 5 minutes); office_offline_after defaults to it, and the view office_agent_status_effective
# (revision 0001, frozen) spells the same number.
DASHBOARD_OFFLINE_AFTER = 300.0


def effective_status(status: AgentStatus | str, silent_for: float | None,
                     offline_after: float) -> AgentStatus | str:
    """The status in effect: offline once silent for longer than ``offline_after`` seconds
    (or never heard of), else the row's own (a team's extra value is kept as it is)."""
    if silent_for is None or silent_for > offline_after:
        return AgentStatus.offline
    return status
