"""Reading each agent's timeline (``office_agent_timeline``, written by triggers: revision
0008), and forgetting periods past ``office_timeline_days``.

Why the notifier reads per agent, after the last period it read of that agent: periods of one
agent are written under that agent's row lock, so they commit in the order of their ids; two
agents' periods may commit out of order, so one cursor for all would skip a period committed
late.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, or_, select, text

from .base import db_now
from .notify_tables import DELIVERY as _DELIVERY
from .notify_tables import EVENT as _EVENT
from .notify_tables import TIMELINE

__all__ = ["TIMELINE", "Period", "read_timeline", "periods_after", "open_periods",
           "forget_periods_before"]

_COLUMNS = "t.id, t.agent_id, t.status, t.alert, t.last_run_ok, t.task, t.since, t.until"

# PostgreSQL: one index probe per agent. SQLite (one writer, a small office): a plain join.
_AFTER = {
    "postgresql": f"""
        SELECT {_COLUMNS} FROM office_agent_status s
        LEFT JOIN office_agent_notice n ON n.agent_id = s.agent_id
        CROSS JOIN LATERAL (
            SELECT * FROM office_agent_timeline x
            WHERE x.agent_id = s.agent_id AND x.id > coalesce(n.period_id, 0)
            ORDER BY x.id LIMIT :limit) t
        ORDER BY t.id LIMIT :limit""",
    "sqlite": f"""
        SELECT {_COLUMNS} FROM office_agent_timeline t
        JOIN office_agent_status s ON s.agent_id = t.agent_id
        LEFT JOIN office_agent_notice n ON n.agent_id = t.agent_id
        WHERE t.id > coalesce(n.period_id, 0)
        ORDER BY t.id LIMIT :limit""",
}


@dataclass(frozen=True)
class Period:
    """An agent's status from ``since`` until ``until`` (None: still)."""

    id: int
    agent_id: str
    status: str
    alert: str | None
    last_run_ok: bool
    task: str | None
    since: datetime
    until: datetime | None

    def as_json(self) -> dict[str, Any]:
        """What ``/api/agents/{id}/timeline`` says of it."""
        return {"status": self.status, "since": self.since.isoformat(),
                "until": None if self.until is None else self.until.isoformat(),
                "task": self.task}


def _period(row: Any) -> Period:
    return Period(int(row.id), row.agent_id, str(row.status), row.alert, bool(row.last_run_ok),
                  row.task, row.since, row.until)


def read_timeline(engine: Engine | Connection, agent_id: str, *, since: datetime) -> list[Period]:
    """The agent's periods that were still going at ``since`` or began after, oldest first."""
    query = (select(TIMELINE).where(TIMELINE.c.agent_id == agent_id)
             .where(or_(TIMELINE.c.until.is_(None), TIMELINE.c.until > since))
             .order_by(TIMELINE.c.id))
    if isinstance(engine, Connection):
        return [_period(row) for row in engine.execute(query)]
    with engine.connect() as conn:
        return [_period(row) for row in conn.execute(query)]


def periods_after(conn: Connection, *, limit: int = 5000) -> list[Period]:
    """Periods the notifier has not read yet (after each agent's ``period_id``), by id."""
    sql = _AFTER["postgresql" if conn.dialect.name == "postgresql" else "sqlite"]
    query = text(sql).columns(TIMELINE.c.id, TIMELINE.c.agent_id, TIMELINE.c.status,
                              TIMELINE.c.alert, TIMELINE.c.last_run_ok, TIMELINE.c.task,
                              TIMELINE.c.since, TIMELINE.c.until)
    return [_period(row) for row in conn.execute(query, {"limit": limit})]


def forget_periods_before(conn: Connection, *, keep_days: float) -> None:
    """Delete periods that ended more than ``keep_days`` ago, and older notification events
    with their deliveries (explicitly: SQLite enforces no cascade)."""
    now = conn.scalar(select(db_now()))
    cutoff = now - timedelta(days=keep_days)
    conn.execute(delete(TIMELINE).where(TIMELINE.c.until < cutoff))
    old = select(_EVENT.c.id).where(_EVENT.c.created_at < cutoff)
    conn.execute(delete(_DELIVERY).where(_DELIVERY.c.event_id.in_(old)))
    conn.execute(delete(_EVENT).where(_EVENT.c.created_at < cutoff))


def open_periods(conn: Connection, agent_ids: Iterable[str]) -> dict[str, Period]:
    """The open period of each agent given (its state now, by the table)."""
    agent_ids = sorted(agent_ids)
    if not agent_ids:
        return {}
    rows = conn.execute(select(TIMELINE).where(TIMELINE.c.until.is_(None))
                        .where(TIMELINE.c.agent_id.in_(agent_ids)))
    return {row.agent_id: _period(row) for row in rows}
