"""Alerts in the table: set by a worker's judgement, cleared by the events that end them.

A run past its limit (``overlong``) or an expected run that did not start (``missed``) turns its
agent to warning (see :class:`.agent_rows.AgentState`). The main process of a worker judges
them at its heartbeat (:func:`apply_alerts`); a batch clears them as soon as it carries the end
(the run ended) or the cure (a matching task started): :func:`clear_cured`. Both run under the
agents' row locks, like every writer.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, select, tuple_

from ..core.state import NEWEST, AgentState, AlertState
from ..core.statuses import MISSED, OVERLONG
from .agent_rows import read_locked, write_status
from .base import db_now
from .statements import ALERT, RUN, START, insert_into, run_key

__all__ = ["Alert", "record_starts", "clear_cured", "apply_alerts", "last_starts", "WATCHED_SINCE"]

WATCHED_SINCE = ""  # task_name of the row that says since when an agent's schedules are watched


@dataclass(frozen=True)
class Alert:
    """One alert as a judge wants it."""

    kind: str
    subject: str  # the run key (overlong) or the task pattern (missed)
    task: str  # the text the row shows


def record_starts(conn: Connection, started: Iterable[tuple[str, str]]) -> None:
    """The tasks a batch saw start, stamped with the database clock (one statement)."""
    rows = [{"agent_id": a, "task_name": t[:255]} for a, t in sorted(set(started))]
    if not rows:
        return
    stmt = insert_into(conn, START).values(started_at=db_now())
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["agent_id", "task_name"], set_={"started_at": stmt.excluded.started_at}
        ),
        rows,
    )


def clear_cured(
    conn: Connection,
    states: Mapping[str, AgentState],
    *,
    ended_runs: Iterable[str],
    started: Iterable[tuple[str, str]],
) -> None:
    """Drop the alerts a batch ends: an overlong run that ended, a missed schedule whose task
    started. ``states`` (read under the locks) is updated to match."""
    ended = {run_key(task_id) for task_id in ended_runs}
    started_by_agent: dict[str, list[str]] = {}
    for agent_id, task_name in started:
        started_by_agent.setdefault(agent_id, []).append(task_name)
    gone = []
    for agent_id, state in states.items():
        names = started_by_agent.get(agent_id, ())
        for kind, subject in state.alerts:
            if (kind == OVERLONG and subject in ended) or (
                kind == MISSED and any(fnmatch.fnmatchcase(name, subject) for name in names)
            ):
                gone.append((agent_id, kind, subject))
    _delete(conn, gone)
    for agent_id, kind, subject in gone:
        del states[agent_id].alerts[(kind, subject)]


def _delete(conn: Connection, alerts: list[tuple[str, str, str]]) -> None:
    if alerts:
        key = tuple_(ALERT.c.agent_id, ALERT.c.kind, ALERT.c.subject)
        conn.execute(delete(ALERT).where(key.in_(alerts)))


def last_starts(conn: Connection, agent_ids: Iterable[str]) -> dict[str, dict[str, datetime]]:
    """Agent -> task name -> when it last started; ``WATCHED_SINCE`` is inserted for an agent
    seen for the first time, so every judge of it counts from the same moment."""
    agent_ids = sorted(set(agent_ids))
    if not agent_ids:
        return {}
    stmt = insert_into(conn, START).values(task_name=WATCHED_SINCE, started_at=db_now())
    conn.execute(
        stmt.on_conflict_do_nothing(index_elements=["agent_id", "task_name"]),
        [{"agent_id": a} for a in agent_ids],
    )
    result: dict[str, dict[str, datetime]] = {}
    for row in conn.execute(select(START).where(START.c.agent_id.in_(agent_ids))):
        result.setdefault(row.agent_id, {})[row.task_name] = row.started_at
    return result


def apply_alerts(
    conn: Connection,
    desired: Mapping[str, Mapping[tuple[str, str], Alert]],
    *,
    judged: Iterable[tuple[str, str]],
    node_name: str,
) -> list[str]:
    """Make the alerts of the ``judged`` (agent, kind) pairs what a judge wants (agent ->
    (kind, subject) -> alert), and rewrite the rows they change. An overlong alert another
    worker set (its run) is left to that worker, unless its run is gone from the table.
    Returns the agents whose row changed."""
    judged = sorted(set(judged))
    states = read_locked(conn, sorted({agent_id for agent_id, _ in judged}))
    changed: dict[str, AgentState] = {}
    upserts, deletes = [], []
    for agent_id, kind in judged:
        state = states.get(agent_id)
        if state is None:
            continue
        want = {s: a for (k, s), a in desired.get(agent_id, {}).items() if k == kind}
        have = {s: a for (k, s), a in state.alerts.items() if k == kind}
        for subject, held in have.items():
            if subject not in want and _may_drop(conn, kind, subject, held, node_name):
                deletes.append((agent_id, kind, subject))
                del state.alerts[(kind, subject)]
                changed[agent_id] = state
        for subject, wanted in want.items():
            current = have.get(subject)
            if current is not None and current.task == wanted.task:
                continue
            upserts.append({"agent_id": agent_id, "kind": kind, "subject": subject[:255],
                            "task": wanted.task[:255], "node_name": node_name})
            since = current.since if current is not None else NEWEST
            state.alerts[(kind, subject)] = AlertState(wanted.task, node_name, since)
            changed[agent_id] = state
    _delete(conn, deletes)
    if upserts:
        stmt = insert_into(conn, ALERT).values(since=db_now())
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["agent_id", "kind", "subject"],
                set_={k: stmt.excluded[k] for k in ("task", "node_name")},
            ),
            upserts,
        )
    write_status(conn, changed)
    return sorted(changed)


def _may_drop(conn: Connection, kind: str, subject: str, alert: AlertState, node_name: str) -> bool:
    """May this judge drop the alert? A missed schedule is everyone's to judge; an overlong
    run is its worker's, unless that run is gone from the table (its worker died, or came back
    under another name): then nobody else would ever drop it."""
    if kind != OVERLONG or alert.node_name == node_name:
        return True
    return conn.execute(select(RUN.c.task_id).where(RUN.c.task_id == subject)).first() is None
