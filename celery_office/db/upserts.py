"""The spec's hand-called writes (``OfficeReporter``): one UPSERT on ``agent_id`` each."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, update

from ..core.changes import AGENT_FIELDS, AgentInfo
from ..core.statuses import AgentStatus
from .base import db_now
from .statements import STATUS, agent_values, insert_into

__all__ = ["upsert_status", "touch_agents"]


def upsert_status(
    conn: Connection,
    agent: AgentInfo,
    *,
    status: AgentStatus,
    task: str | None,
    metrics: dict[str, Any] | None,
) -> None:
    """The spec's UPSERT on ``agent_id``; ``metrics=None`` keeps the row's metrics."""
    values = {**agent_values(agent), "status": status, "task": task}
    stmt = insert_into(conn, STATUS).values(
        **values,
        metrics=metrics if metrics is not None else {},
        last_activity=db_now(),
        created_at=db_now(),
        updated_at=db_now(),
    )
    set_ = {
        key: stmt.excluded[key]
        for key in (*AGENT_FIELDS[1:], "status", "task", "last_activity", "updated_at")
    }
    if metrics is not None:
        set_["metrics"] = stmt.excluded.metrics
    conn.execute(stmt.on_conflict_do_update(index_elements=["agent_id"], set_=set_))


def touch_agents(conn: Connection, agent_ids: Iterable[str]) -> int:
    """Refresh ``last_activity`` and ``updated_at`` only; returns how many rows exist."""
    result = conn.execute(
        update(STATUS)
        .where(STATUS.c.agent_id.in_(sorted(agent_ids)))
        .values(last_activity=db_now(), updated_at=db_now())
    )
    return result.rowcount
