"""A worker's life in the tables: registration, heartbeats (with the repairs they make), and
retirement. Each locks the agents' rows through :mod:`.agent_rows`, like every writer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select, update

from ..core.changes import AgentInfo
from .agent_rows import ensure_agents, read_locked, recompute
from .models import db_now
from ..core.statuses import AgentStatus
from .statements import RUN, STATUS, WORKER, agent_values, insert_into, seconds_ago

__all__ = ["register_worker", "retire_worker", "node_runs", "live_workers", "upsert_worker"]


def live_workers(conn: Connection, offline_after: float) -> Any:
    cutoff = seconds_ago(conn, offline_after)
    return (
        select(WORKER.c.node_name, WORKER.c.agents)
        .where(WORKER.c.stopped_at.is_(None))
        .where(WORKER.c.last_seen >= cutoff)
    )



def register_worker(
    conn: Connection,
    *,
    node_name: str,
    hostname: str | None,
    pid: int | None,
    agents: Sequence[AgentInfo],
    since: float | None = None,
) -> None:
    """A worker starts: (re)register its agents and itself, forget its former self's runs.

    Agent metadata comes from the registry. Every agent's row is recomputed from its runs in
    progress, its last outcome and its alerts: an offline agent comes back idle, or in error
    when its last run failed (a restart is not a success: the error stays until the agent's
    next successful run). ``since`` is when this worker started: its own runs, which pool
    processes may write before this registration, are kept.
    """
    agents = sorted(agents, key=lambda a: a.agent_id)
    agent_ids = [a.agent_id for a in agents]
    ensure_agents(conn, agents)
    read_locked(conn, agent_ids)
    if agents:  # an executemany needs rows: a worker may serve no agent at all
        conn.execute(
            update(STATUS)
            .where(STATUS.c.agent_id == bindparam("a"))
            .values(
                department=bindparam("department"),
                name=bindparam("name"),
                brand=bindparam("brand"),
                salary_equivalent=bindparam("salary_equivalent"),
                fte_coefficient=bindparam("fte_coefficient"),
                last_activity=db_now(),
                updated_at=db_now(),
            ),
            [{**agent_values(a), "a": a.agent_id} for a in agents],
        )
    former = delete(RUN).where(RUN.c.node_name == node_name)
    if since is not None:
        former = former.where(RUN.c.started_at < since)
    conn.execute(former)
    upsert_worker(conn, node_name=node_name, hostname=hostname, pid=pid, agent_ids=agent_ids)
    recompute(conn, agent_ids)


def upsert_worker(
    conn: Connection, *, node_name: str, hostname: str | None, pid: int | None,
    agent_ids: Sequence[str],
) -> None:
    values = {
        "hostname": hostname,
        "pid": pid,
        "agents": list(agent_ids),
        "started_at": db_now(),
        "last_seen": db_now(),
        "stopped_at": None,
    }
    conn.execute(
        insert_into(conn, WORKER).values(node_name=node_name, **values).on_conflict_do_update(
            index_elements=["node_name"], set_=values
        )
    )


def node_runs(conn: Connection, node_name: str) -> dict[str, str]:
    """The runs in progress a worker has in the table: task id -> agent id."""
    rows = conn.execute(select(RUN.c.task_id, RUN.c.agent_id).where(RUN.c.node_name == node_name))
    return {row.task_id: row.agent_id for row in rows}


def retire_worker(
    conn: Connection, *, node_name: str, agent_ids: Sequence[str], offline_after: float
) -> list[str]:
    """A worker stops warmly: its agents that no other live worker serves become offline.

    Returns the agents marked offline. The others keep their state and their heartbeats.
    """
    # the agents' locks first: two workers retiring at once that share agents take turns, and
    # the second sees the first stopped (READ COMMITTED reads after the lock wait), so the
    # last of them marks the shared agents offline
    read_locked(conn, sorted(agent_ids))
    conn.execute(
        update(WORKER)
        .where(WORKER.c.node_name == node_name)
        .values(stopped_at=db_now(), last_seen=db_now())
    )
    served_elsewhere: set[str] = set()
    for row in conn.execute(live_workers(conn, offline_after)):
        if row.node_name != node_name:
            served_elsewhere.update(row.agents or ())
    offline = sorted(set(agent_ids) - served_elsewhere)
    still_served = sorted(set(agent_ids) & served_elsewhere)
    conn.execute(delete(RUN).where(RUN.c.node_name == node_name))
    if offline:
        conn.execute(
            update(STATUS)
            .where(STATUS.c.agent_id.in_(offline))
            .values(status=AgentStatus.offline, task=None, last_activity=db_now(), updated_at=db_now())
        )
    recompute(conn, still_served)
    return offline
