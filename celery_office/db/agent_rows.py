"""The one rule of an agent's row, and the one lock order every writer takes to apply it.

The worker never writes ``office_agent_status`` by last-write-wins: runs in progress
(``office_agent_run``), the newest finished run of each agent (``office_agent_outcome``) and its
alerts decide it, and the row is recomputed from them in the same transaction, under the agents'
row locks, always taken in agent id order. So many processes and many workers writing in any
order leave the right row, and never deadlock. Batches, registration, heartbeats, retirement
and alerts all go through here.

The rule has one home per database: on PostgreSQL the function ``office_recompute`` (revision
0011), which a flush's function calls too; on SQLite :class:`~celery_office.core.state.AgentState`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import ARRAY, Connection, String, bindparam, text

from ..core.changes import AgentInfo, Outcome
from ..core.state import AgentState, AlertState
from ..core.statuses import AgentStatus
from .statements import agent_values, statements_for

__all__ = ["ensure_agents", "read_locked", "write_status", "recompute"]

RECOMPUTE = text("SELECT office_recompute(:ids, :quiet)").bindparams(
    bindparam("ids", type_=ARRAY(String())), bindparam("quiet", type_=ARRAY(String())),
)

def ensure_agents(conn: Connection, agents: Sequence[AgentInfo]) -> None:
    """Insert missing agent rows (idle); existing rows are left alone and not locked."""
    if not agents:
        return
    rows = [
        {**agent_values(a), "status": AgentStatus.ok, "task": None, "metrics": {}}
        for a in sorted(agents, key=lambda a: a.agent_id)
    ]
    conn.execute(statements_for(conn.dialect.name).ensure, rows)


def read_locked(conn: Connection, agent_ids: Sequence[str]) -> dict[str, AgentState]:
    """Lock the agents' rows (PostgreSQL; always in one order, so writers never deadlock), then
    read their runs and outcomes. Agents with no row are left out.

    Every writer of runs and outcomes holds these locks, so what is read stays true until
    commit. SQLite needs no lock: ``BEGIN IMMEDIATE`` holds the database's write lock.
    """
    states: dict[str, AgentState] = {}
    if not agent_ids:
        return states
    statements = statements_for(conn.dialect.name)
    if statements.lock is not None:
        conn.execute(statements.lock, {"ids": list(agent_ids)})
    rows = conn.execute(statements.read, {"ids": list(agent_ids)})
    for row in rows:
        state = states.get(row.agent_id) or states.setdefault(row.agent_id, AgentState())
        if row.finished_at is not None and state.outcome is None:
            state.outcome = Outcome(row.status, row.task, row.finished_at)
            state.metrics_at = row.metrics_at or 0.0
        if row.task_id is not None:
            state.runs[row.task_id] = (row.started_at, row.run_task)
        if row.alert_kind is not None:
            state.alerts[(row.alert_kind, row.alert_subject)] = AlertState(
                row.alert_task, row.alert_node, row.alert_since
            )
    return states


def write_status(
    conn: Connection,
    states: Mapping[str, AgentState],
    metrics: Mapping[str, dict[str, Any]] | None = None,
    *,
    quiet: Iterable[str] = (),
) -> None:
    """Set status, task (and new metrics) of every agent in ``states``, which must be what the
    tables hold now (read under the locks, and told every change made since).

    ``last_activity`` becomes now, except for the ``quiet`` agents (served by no live worker:
    correcting their row is no sign of life). PostgreSQL: ``office_recompute`` reads the tables
    itself (``metrics`` are a SQLite batch's: a PostgreSQL flush is ``office_apply_batch``).
    SQLite: an executemany of what ``states`` say.
    """
    if not states:
        return
    quiet = set(quiet)
    if conn.dialect.name == "postgresql" and not metrics:
        _recompute_in_sql(conn, states, quiet)
        return
    metrics = metrics or {}
    plain, with_metrics, silent = [], [], []
    for agent_id in sorted(states):
        status, task = states[agent_id].status()
        row = {"a": agent_id, "status": status, "task": task}
        if agent_id in metrics:
            with_metrics.append({**row, "metrics": metrics[agent_id]})
        elif agent_id in quiet:
            silent.append(row)
        else:
            plain.append(row)
    statements = statements_for(conn.dialect.name)
    if plain:
        conn.execute(statements.update_status, plain)
    if with_metrics:
        conn.execute(statements.update_status_metrics, with_metrics)
    if silent:
        conn.execute(statements.update_status_quiet, silent)


def recompute(conn: Connection, agent_ids: Sequence[str], *, quiet: Iterable[str] = ()) -> None:
    """Lock, read and rewrite the status of agents whose runs changed outside a batch
    (``quiet``: see :func:`write_status`)."""
    if conn.dialect.name == "postgresql":  # the function locks and reads for itself
        _recompute_in_sql(conn, agent_ids, set(quiet))
        return
    write_status(conn, read_locked(conn, sorted(agent_ids)), quiet=quiet)


def _recompute_in_sql(conn: Connection, agent_ids: Iterable[str], quiet: set[str]) -> None:
    """PostgreSQL's one home of the rule, ``office_recompute``, for ``agent_ids``."""
    ids = sorted(agent_ids)
    if ids:
        conn.execute(RECOMPUTE, {"ids": ids, "quiet": sorted(quiet.intersection(ids))})
