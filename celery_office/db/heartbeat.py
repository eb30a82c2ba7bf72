"""A worker's heartbeat, as named steps in one transaction (:func:`heartbeat`).

It refreshes ``last_activity`` of the worker's agents (except those whose statuses wait to be
written, here or in another live writer: liveness follows status writes, so an agent whose
changes cannot be written is not kept alive by the heartbeat alone, not even by a worker that
serves it too and has nothing of it waiting), its own row and its writer's (with the agents
waiting in it, which the other writers' heartbeats then leave alone), and repairs what it
finds: rows deleted by hand put back, the runs of dead workers (silent for
``office_offline_after``) and the runs this worker knows ended taken out of the table, its own
runs written back when another worker took it for dead, and the agents all this changes
recomputed. Every agent row involved is locked in one sorted statement, as every writer does,
so a heartbeat never deadlocks with a batch, a registration or a retirement.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, String, null, select, type_coerce, update

from ..core.changes import AgentInfo, RunChange
from ..core.state import AgentState
from ..core.statuses import AgentStatus
from .agent_rows import ensure_agents, read_locked, write_status
from .base import db_now
from .statements import RUN, STATUS, WORKER, seconds_ago, statements_for
from .workers import WRITER, live_workers, upsert_worker, waiting_elsewhere

__all__ = ["heartbeat"]


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
    writer: int | None = None,
    waiting: Collection[str] = (),
) -> int:
    """One heartbeat of the worker ``node_name``; returns how many runs it wrote back.

    A worker silent for ``offline_after`` is dead: its runs in progress stop counting and the
    agents they kept working are recomputed (without refreshing ``last_activity`` of agents
    this worker does not serve, and leaving those already offline as they are: nobody serves
    them). ``end_runs`` (run key -> agent): runs of this worker it knows have ended.
    ``running`` (run key -> run): the runs its main process knows in progress, written back
    when this worker finds itself taken for dead (its row silent past ``offline_after``,
    stopped, or gone). Agents of this worker found offline, and rows deleted by hand, are
    recomputed from their runs in progress and last outcomes. ``writer``: this process's
    writer number, whose row is refreshed too. ``waiting``: agents whose changes wait to be
    written (pending, or in doubt): their ``last_activity`` is left as their last write set it,
    and so is that of the agents waiting in any other live writer (their last heartbeat said
    so); ``waiting`` is recorded in this writer's row for the others to do the same.
    """
    agent_ids = sorted(a.agent_id for a in agents)
    offline_rows, restored = _put_back_rows(conn, agents, agent_ids)
    dead_runs = _runs_of_dead_workers(conn, offline_after)
    end_runs = end_runs or {}
    involved = sorted(set(agent_ids) | set(_agents_of(conn, dead_runs).values())
                      | set(end_runs.values()))
    states = read_locked(conn, involved)
    taken_for_dead = _taken_for_dead(conn, node_name, offline_after)
    quiet = set(waiting) | waiting_elsewhere(conn, writer=writer, offline_after=offline_after)
    _refresh(conn, node_name=node_name, agent_ids=agent_ids, quiet=quiet, hostname=hostname,
             pid=pid, writer=writer, waiting=sorted(waiting))
    ended = _end_runs(conn, involved, dead_runs, end_runs, node_name, states)
    back = _write_back(conn, running or {}, states, node_name) if taken_for_dead else {}
    changed = {a for a in ended.values() if a in states} | set(back.values())
    changed = _not_left_offline(conn, changed, served=set(agent_ids))
    if restored:
        changed.update(agent_ids)
    changed.update(offline_rows)
    write_status(conn, {a: states[a] for a in changed if a in states},
                 quiet=[a for a in changed if a not in agent_ids or a in quiet])
    return len(back)


def _put_back_rows(
    conn: Connection, agents: Sequence[AgentInfo], agent_ids: list[str]
) -> tuple[list[str], bool]:
    """The worker's agents whose row reads offline, and whether rows deleted by hand were put
    back (before any lock is taken, as a batch does, so writers never deadlock)."""
    present = conn.execute(
        # the status as text: a team's extra enum value ('paused') must not fail the beat
        select(STATUS.c.agent_id, type_coerce(STATUS.c.status, String).label("status"))
        .where(STATUS.c.agent_id.in_(agent_ids))
    ).all()
    restored = len(present) < len(agent_ids)
    if restored:
        ensure_agents(conn, agents)
    return [row.agent_id for row in present if row.status == AgentStatus.offline.value], restored


def _runs_of_dead_workers(conn: Connection, offline_after: float) -> Any:
    """The condition of a run whose worker is dead (silent, stopped, or never named)."""
    live = select(live_workers(conn, offline_after).subquery().c.node_name)
    return (RUN.c.node_name.is_(None)) | RUN.c.node_name.not_in(live)


def _agents_of(conn: Connection, condition: Any) -> dict[str, str]:
    rows = conn.execute(select(RUN.c.task_id, RUN.c.agent_id).where(condition))
    return {row.task_id: row.agent_id for row in rows}


def _refresh(conn: Connection, *, node_name: str, agent_ids: list[str], quiet: set[str],
             hostname: str | None, pid: int | None, writer: int | None,
             waiting: list[str]) -> None:
    """``last_activity`` of the worker's agents but the ``quiet``, the worker's own row (put
    back if gone) and its writer's (with what waits in it: none is written as NULL)."""
    conn.execute(
        update(STATUS).where(STATUS.c.agent_id.in_([a for a in agent_ids if a not in quiet]))
        .values(last_activity=db_now(), updated_at=db_now())
    )
    if writer is not None:
        conn.execute(update(WRITER).where(WRITER.c.writer_id == writer)
                     .values(last_seen=db_now(), waiting=waiting or null()))
    seen = conn.execute(
        update(WORKER).where(WORKER.c.node_name == node_name)
        .values(last_seen=db_now(), stopped_at=None)
    ).rowcount
    if seen == 0:
        upsert_worker(conn, node_name=node_name, hostname=hostname, pid=pid, agent_ids=agent_ids)


def _end_runs(conn: Connection, involved: list[str], dead_runs: Any, end_runs: Mapping[str, str],
              node_name: str, states: Mapping[str, AgentState]) -> dict[str, str]:
    """Take out of the table the runs of dead workers and the runs this worker knows ended,
    read again under the locks (a worker may have come back, or a run been taken over by
    another, since the first look); ``states`` learns it. Returns run key -> agent."""
    condition = dead_runs
    if end_runs:
        condition = condition | (
            RUN.c.task_id.in_(sorted(end_runs)) & (RUN.c.node_name == node_name)
        )
    ended = _agents_of(conn, RUN.c.agent_id.in_(involved) & condition)
    if ended:
        conn.execute(statements_for(conn.dialect.name).delete_runs, {"task_ids": sorted(ended)})
    for task_id, agent_id in ended.items():
        if agent_id in states:  # an agent whose row was deleted by hand has none to correct
            states[agent_id].runs.pop(task_id, None)
    return ended


def _not_left_offline(conn: Connection, changed: set[str], *, served: set[str]) -> set[str]:
    """Agents nobody serves that read offline stay as they are: their silence is the truth."""
    unserved = sorted(changed - served)
    if not unserved:
        return changed
    offline = conn.execute(
        select(STATUS.c.agent_id).where(STATUS.c.agent_id.in_(unserved))
        .where(STATUS.c.status == AgentStatus.offline)
    ).scalars().all()
    return changed - set(offline)


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


