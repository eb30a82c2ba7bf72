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

from .agent_rows import MISSED, OVERLONG, AgentState, read_locked, write_status
from .models import db_now
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
        overlong = state.alerts.get(OVERLONG)
        if overlong is not None and overlong[0] in ended:
            gone.append((agent_id, OVERLONG))
        missed = state.alerts.get(MISSED)
        if missed is not None and any(
            fnmatch.fnmatchcase(name, missed[0]) for name in started_by_agent.get(agent_id, ())
        ):
            gone.append((agent_id, MISSED))
    if not gone:
        return
    conn.execute(delete(ALERT).where(tuple_(ALERT.c.agent_id, ALERT.c.kind).in_(gone)))
    for agent_id, kind in gone:
        del states[agent_id].alerts[kind]


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
    desired: Mapping[str, Mapping[str, Alert]],
    *,
    judged: Iterable[tuple[str, str]],
    node_name: str,
) -> list[str]:
    """Make the alerts of the ``judged`` (agent, kind) pairs what a judge wants, and rewrite
    the rows they change. An overlong alert another worker set (its run) is left to that
    worker. Returns the agents whose row changed."""
    judged = sorted(set(judged))
    agent_ids = sorted({agent_id for agent_id, _ in judged})
    states = read_locked(conn, agent_ids)
    changed: dict[str, AgentState] = {}
    upserts, deletes = [], []
    for agent_id, kind in judged:
        state = states.get(agent_id)
        if state is None:
            continue
        want = desired.get(agent_id, {}).get(kind)
        have = state.alerts.get(kind)
        if want is None:
            if have is not None and _ours_or_stale(conn, agent_id, kind, have[0], node_name):
                deletes.append((agent_id, kind))
                del state.alerts[kind]
                changed[agent_id] = state
            continue
        if have == (want.subject, want.task):
            continue
        if kind == OVERLONG and have is not None and _owner(conn, agent_id) != node_name:
            continue  # another worker's overlong run: its judge keeps it
        upserts.append({"agent_id": agent_id, "kind": kind, "subject": want.subject,
                        "task": want.task[:255], "node_name": node_name})
        state.alerts[kind] = (want.subject, want.task)
        changed[agent_id] = state
    if deletes:
        conn.execute(delete(ALERT).where(tuple_(ALERT.c.agent_id, ALERT.c.kind).in_(deletes)))
    if upserts:
        stmt = insert_into(conn, ALERT).values(since=db_now())
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["agent_id", "kind"],
                set_={k: stmt.excluded[k] for k in ("subject", "task", "node_name")},
            ),
            upserts,
        )
    write_status(conn, changed)
    return sorted(changed)


def _ours_or_stale(conn: Connection, agent_id: str, kind: str, subject: str, node_name: str) -> bool:
    """May this judge drop the alert? A missed schedule is everyone's to judge; an overlong
    run is its worker's, unless that run is gone from the table (its worker died, or came back
    under another name): then nobody else would ever drop it."""
    if kind != OVERLONG or _owner(conn, agent_id) == node_name:
        return True
    return conn.execute(select(RUN.c.task_id).where(RUN.c.task_id == subject)).first() is None


def _owner(conn: Connection, agent_id: str) -> str | None:
    return conn.execute(
        select(ALERT.c.node_name).where(ALERT.c.agent_id == agent_id, ALERT.c.kind == OVERLONG)
    ).scalar_one_or_none()
