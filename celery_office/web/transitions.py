"""Which agents changed in a way worth a message, and the message: pure, no I/O.

An agent's notified state is one of ``error``, ``offline``, ``missed`` (an expected run did not
start), ``overlong`` (a run past its limit), or ``ok``. Entering any of the first four is
announced, and so is coming back to ``ok`` (a recovery). A retry's warning, or a status a team
added to the enum, is neither: the last announced state stands, so an error, retried and then
fixed, is announced as a recovery when the run succeeds, not lost in between.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..core.statuses import MISSED, OVERLONG
from ..core.texts import ERROR_PREFIX
from ..core.statuses import AgentStatus
from ..db.notices import Notice
from ..db.read import AgentRow
from ..jsonsafe import json_safe
from ..snapshot import status_name
from ..core.texts import MISSED_PREFIX, OVERLONG_PREFIX, human_duration
from ..core.texts import NOTIFY

__all__ = [
    "OK", "ERROR", "OFFLINE", "MISSED", "OVERLONG", "Transition", "Changes", "state_of",
    "changes", "message", "chat_escape",
]

OK = "ok"
ERROR = "error"
OFFLINE = "offline"

# What the task text of a state starts with, cut from the message's detail (the state says it)
_PREFIXES = {ERROR: ERROR_PREFIX, MISSED: MISSED_PREFIX, OVERLONG: OVERLONG_PREFIX}


def state_of(row: AgentRow, alerts: Collection[str] = ()) -> str | None:
    """The agent's notified state now, or None when its row announces nothing either way.

    The row decides, as on the page: offline once silent (the effective status), then its
    status; a warning is ``overlong`` or ``missed`` when that alert is active (in that
    precedence, the row's), else a retry's warning (None).
    """
    if row.effective_status is AgentStatus.offline:
        return OFFLINE
    if row.status is AgentStatus.error:
        return ERROR
    if row.status is AgentStatus.warning:
        for kind in (OVERLONG, MISSED):
            if kind in alerts:
                return kind
        return None
    if row.status is AgentStatus.ok:
        return OK
    return None  # a status a team added: shown on the page, not announced


@dataclass(frozen=True)
class Transition:
    """An agent whose notified state moved from ``seen`` to ``state``."""

    agent: AgentRow
    seen: Notice
    state: str

    @property
    def previous(self) -> str:
        return self.seen.state


@dataclass
class Changes:
    """What one look at the office found: transitions to claim, and agents seen for the first
    time (recorded with their state, not announced)."""

    transitions: list[Transition] = field(default_factory=list)
    first_seen: dict[str, str] = field(default_factory=dict)


def changes(
    rows: Iterable[AgentRow],
    alerts: Mapping[str, Collection[str]],
    notices: Mapping[str, Notice],
) -> Changes:
    """Compare each agent's state now with the one last announced."""
    found = Changes()
    for row in rows:
        state = state_of(row, alerts.get(row.agent_id, ()))
        if state is None:
            continue
        seen = notices.get(row.agent_id)
        if seen is None:
            found.first_seen[row.agent_id] = state
        elif seen.state != state:
            found.transitions.append(Transition(row, seen, state))
    return found


def chat_escape(text: str) -> str:
    """``&``, ``<`` and ``>`` as entities: chat webhooks (Slack's, Mattermost's) read
    ``<...>`` as links and mentions, so a task's text could otherwise ping a whole channel."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _detail(transition: Transition) -> str:
    agent = transition.agent
    if transition.state == OFFLINE:
        if agent.silent_for is None:
            return ""
        return str(NOTIFY["last_seen"]).format(ago=human_duration(agent.silent_for, style="long"))
    if transition.state == OK:
        return ""
    task = agent.task or ""
    prefix = _PREFIXES.get(transition.state, "")
    return task[len(prefix):] if prefix and task.startswith(prefix) else task


def message(transition: Transition, *, now: datetime | None = None) -> dict[str, Any]:
    """The JSON posted for a transition: ``text`` for chat webhooks (escaped for them), and
    the same facts as plain fields for any other receiver."""
    agent = transition.agent
    state = transition.state
    text = str(NOTIFY["headline"]).format(
        icon=NOTIFY["icons"][state], name=agent.name, agent_id=agent.agent_id,
        department=agent.department, state=NOTIFY["states"][state],
    )
    detail = _detail(transition)
    if detail:
        text += str(NOTIFY["detail"]).format(detail=detail)
    if state == OK:
        was = transition.previous
        text += str(NOTIFY["previous"]).format(state=NOTIFY["states"].get(was, was))
    return {
        "text": chat_escape(text),
        "event": "recovered" if state == OK else "entered",
        "state": state,
        "previous": transition.previous,
        "agent_id": agent.agent_id,
        "name": agent.name,
        "department": agent.department,
        "brand": agent.brand,
        "status": status_name(agent.effective_status),
        "task": agent.task,
        "last_activity": json_safe(agent.last_activity),
        "at": (now or datetime.now(timezone.utc)).isoformat(),
    }
