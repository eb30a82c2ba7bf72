"""The read side: every agent as the dashboard shows it, with its effective status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, String, select, type_coerce

from ..core.statuses import ALERT_PRECEDENCE, DASHBOARD_OFFLINE_AFTER, AgentStatus, effective_status
from .base import db_now
from .daily import DayNumbers, day_numbers
from .statements import ALERT, RUN, STATUS

__all__ = ["AgentRow", "agent_statuses", "active_alerts", "busy_agents"]


@dataclass(frozen=True)
class AgentRow:
    """An agent as the dashboard shows it, with the status it has in effect now."""

    agent_id: str
    department: str
    name: str
    brand: str | None
    status: AgentStatus
    effective_status: AgentStatus
    task: str | None
    metrics: dict[str, Any]
    salary_equivalent: int | None
    fte_coefficient: Decimal | None
    last_activity: datetime | None
    silent_for: float | None  # seconds since last_activity, by the database clock
    updated_at: datetime | None
    today: DayNumbers | None = None  # the numbers of the day asked for (``day=``), else None


def agent_statuses(
    conn: Connection, offline_after: float = DASHBOARD_OFFLINE_AFTER, *, day: date | None = None
) -> list[AgentRow]:
    """Every agent with its effective status: offline when silent for over ``offline_after``.

    ``day``: also read each agent's numbers of that day (``AgentRow.today``, zeros when it
    ran nothing), e.g. ``celery_office.core.days.today(app.conf.timezone or "UTC")``.

    Silence is measured by the database clock, like ``last_activity`` itself. A status value a
    team added to an adopted table's enum (say ``'paused'``) comes back as that plain string,
    in ``status`` and, unless the agent is silent, ``effective_status``: shown, never guessed.
    """

    known = {status.value: status for status in AgentStatus}
    # Read the status as text (the SQL is unchanged), so an unknown value is no LookupError.
    raw_status = type_coerce(STATUS.c.status, String).label("status")
    columns = [raw_status if column.name == "status" else column for column in STATUS.c]
    now = conn.execute(select(db_now())).scalar_one()
    numbers = day_numbers(conn, day) if day is not None else None
    rows = conn.execute(select(*columns).order_by(STATUS.c.department, STATUS.c.agent_id))
    result = []
    for agent in rows:
        silent = (now - agent.last_activity).total_seconds() if agent.last_activity else None
        status = known.get(agent.status, agent.status)
        effective: Any = effective_status(status, silent, offline_after)  # a team's value: str
        result.append(
            AgentRow(
                agent_id=agent.agent_id,
                department=agent.department,
                name=agent.name,
                brand=agent.brand,
                status=status,
                effective_status=effective,
                task=agent.task,
                metrics=agent.metrics or {},
                salary_equivalent=agent.salary_equivalent,
                fte_coefficient=agent.fte_coefficient,
                last_activity=agent.last_activity,
                silent_for=silent,
                updated_at=agent.updated_at,
                today=None if numbers is None else numbers.get(agent.agent_id, DayNumbers()),
            )
        )
    return result


def active_alerts(conn: Connection) -> dict[str, tuple[str, ...]]:
    """The kinds of every agent's active alerts (``missed``, ``overlong``), by agent id, in
    the order of their precedence on the row."""
    found: dict[str, set[str]] = {}
    for agent_id, kind in conn.execute(select(ALERT.c.agent_id, ALERT.c.kind)):
        found.setdefault(agent_id, set()).add(kind)
    order = {kind: index for index, kind in enumerate(ALERT_PRECEDENCE)}
    return {
        agent_id: tuple(sorted(kinds, key=lambda kind: (order.get(kind, len(order)), kind)))
        for agent_id, kinds in found.items()
    }


def busy_agents(conn: Connection) -> frozenset[str]:
    """The agents with a run in progress (recorded starts not yet ended), whatever their row
    shows: an agent in error that runs again is busy too."""
    return frozenset(conn.execute(select(RUN.c.agent_id).distinct()).scalars())
