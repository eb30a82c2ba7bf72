"""A worker's life in the tables: registration, heartbeats (with the repairs they make), and
retirement. Each locks the agents' rows through :mod:`.agent_rows`, like every writer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, String, bindparam, delete, select, type_coerce, update

from ..core.changes import AgentInfo, RunChange
from .agent_rows import ensure_agents, read_locked, recompute, write_status
from ..core.state import AgentState
from .models import db_now
from ..core.statuses import AgentStatus
from .statements import RUN, STATUS, WORKER, agent_values, insert_into, seconds_ago, statements_for

__all__ = ["register_worker", "heartbeat", "retire_worker", "node_runs"]


def _live_workers(conn: Connection, offline_after: float) -> Any:
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
    _upsert_worker(conn, node_name=node_name, hostname=hostname, pid=pid, agent_ids=agent_ids)
    recompute(conn, agent_ids)


def _upsert_worker(
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


def heartbeat(
    conn: Connection,
    *,
    node_name: str,
    agents: Sequence[AgentInfo],
    offline_after: float,
    hostname: str | None = None,
    pid: int | None = None,
    end_runs: Mapping[str, str] | None = None,
    running: Mapping[str, RunChange] | None = None,
) -> int:
    """Refresh ``last_activity`` of a worker's agents (one statement), and clear dead workers.

    A worker silent for ``offline_after`` is dead: its runs in progress stop counting, and the
    agents they kept working are recomputed, so a killed worker does not leave them working
    (without refreshing ``last_activity`` of agents this worker does not serve, and leaving
    those already offline as they are: nobody serves them). ``end_runs`` (run key -> agent) are
    runs of this worker it knows have ended. Rows deleted by hand (the agents' or the worker's
    own) are put back, and agents of this worker found offline (retired by another worker that
    took this one for dead, during an outage) are recomputed from their runs in progress and
    last outcomes.

    ``running`` (run key -> run) are the runs the worker's main process knows in progress.
    When this worker finds itself taken for dead (its row silent past ``offline_after``,
    stopped, or gone: its main process was paused, say, and another worker ended its runs),
    those missing from the table are written back; returns how many.

    Every agent row involved is locked in one sorted statement, as every writer does, so a
    heartbeat never deadlocks with a batch, a registration or a retirement.
    """
    end_runs = end_runs or {}
    running = running or {}
    agent_ids = sorted(a.agent_id for a in agents)
    served = set(agent_ids)
    present = conn.execute(
        # the status as text: a team's extra enum value ('paused') must not fail the beat
        select(STATUS.c.agent_id, type_coerce(STATUS.c.status, String).label("status"))
        .where(STATUS.c.agent_id.in_(agent_ids))
    ).all()
    restore = len(present) < len(agent_ids)  # rows deleted by hand
    if restore:  # inserted before any lock is taken, as a batch does, so writers never deadlock
        ensure_agents(conn, agents)
    live = select(_live_workers(conn, offline_after).subquery().c.node_name)
    orphan_run = (RUN.c.node_name.is_(None)) | RUN.c.node_name.not_in(live)
    orphans = {row.task_id: row.agent_id for row in conn.execute(
        select(RUN.c.task_id, RUN.c.agent_id).where(orphan_run)
    )}
    involved = served | set(orphans.values()) | set(end_runs.values())
    states = read_locked(conn, sorted(involved))
    taken_for_dead = _taken_for_dead(conn, node_name, offline_after)
    conn.execute(
        update(STATUS)
        .where(STATUS.c.agent_id.in_(agent_ids))
        .values(last_activity=db_now(), updated_at=db_now())
    )
    seen = conn.execute(
        update(WORKER)
        .where(WORKER.c.node_name == node_name)
        .values(last_seen=db_now(), stopped_at=None)
    ).rowcount
    if seen == 0:
        _upsert_worker(conn, node_name=node_name, hostname=hostname, pid=pid, agent_ids=agent_ids)
    # read again under the locks (runs of locked agents cannot change now): a worker may have
    # come back, or a run been taken over by another worker, since the first look
    ending = select(RUN.c.task_id, RUN.c.agent_id).where(RUN.c.agent_id.in_(sorted(involved)))
    condition = orphan_run
    if end_runs:
        condition = condition | (
            RUN.c.task_id.in_(sorted(end_runs)) & (RUN.c.node_name == node_name)
        )
    ended = {row.task_id: row.agent_id for row in conn.execute(ending.where(condition))}
    if ended:
        conn.execute(statements_for(conn.dialect.name).delete_runs, {"task_ids": sorted(ended)})
    for task_id, agent_id in ended.items():
        if agent_id in states:  # an agent whose row was deleted by hand has none to correct
            states[agent_id].runs.pop(task_id, None)
    recompute = {agent_id for agent_id in ended.values() if agent_id in states}
    if taken_for_dead:
        back = _write_back(conn, running, states, node_name)
        recompute.update(back.values())
    else:
        back = {}
    if recompute - served:  # nobody serves them: an offline row stays offline
        offline = conn.execute(
            select(STATUS.c.agent_id)
            .where(STATUS.c.agent_id.in_(sorted(recompute - served)))
            .where(STATUS.c.status == AgentStatus.offline)
        ).scalars().all()
        recompute.difference_update(offline)
    if restore:
        recompute.update(agent_ids)
    recompute.update(row.agent_id for row in present if row.status == AgentStatus.offline.value)
    write_status(
        conn,
        {a: states[a] for a in recompute if a in states},
        quiet=[a for a in recompute if a not in served],
    )
    return len(back)


def _taken_for_dead(conn: Connection, node_name: str, offline_after: float) -> bool:
    """Did the other workers take this one for dead? Its row silent past ``offline_after``
    (by the database clock), stopped, or gone. Read before this heartbeat refreshes it."""
    cutoff = seconds_ago(conn, offline_after)
    alive = conn.execute(
        select(WORKER.c.node_name)
        .where(WORKER.c.node_name == node_name)
        .where(WORKER.c.stopped_at.is_(None))
        .where(WORKER.c.last_seen >= cutoff)
    ).first()
    return alive is None


def _write_back(
    conn: Connection, running: Mapping[str, RunChange], states: Mapping[str, AgentState],
    node_name: str,
) -> dict[str, str]:
    """Write back the runs in progress the table lost while this worker was taken for dead;
    ``states`` (read under the locks) learns them. Returns run key -> agent."""
    back = {}
    for key, run in sorted(running.items()):
        state = states.get(run.agent_id)
        if state is not None and key not in state.runs:
            state.runs[key] = (run.started_at, run.task)
            back[key] = run
    if back:
        conn.execute(statements_for(conn.dialect.name).upsert_runs, [
            {"task_id": key, "agent_id": run.agent_id, "node_name": node_name,
             "task": run.task, "started_at": run.started_at} for key, run in back.items()
        ])
    return {key: run.agent_id for key, run in back.items()}


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
    for row in conn.execute(_live_workers(conn, offline_after)):
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
