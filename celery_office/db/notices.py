"""What notifications last announced of each agent, and the claims that move it on.

Several ``celery office serve --notify`` replicas watch one office; each transition must be
posted once. A replica reads the announced states first, then the agents' rows, and claims a
transition by moving the agent's notice from the version it read (compare and swap): of two
replicas claiming the same transition, the second finds the version moved and posts nothing.
Reading the notices before the rows matters: the rows are then at least as new as what any
claim already made was judged on, so a replica never announces a state older than one already
announced.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Connection, Table, select, update

from .models import OfficeAgentNotice, db_now
from .statements import insert_into

__all__ = ["NOTICE", "Notice", "read_notices", "record_first_seen", "claim"]

NOTICE = cast(Table, OfficeAgentNotice.__table__)


@dataclass(frozen=True)
class Notice:
    """An agent's last announced state and the version a claim must find to move it."""

    state: str
    version: int


def read_notices(conn: Connection) -> dict[str, Notice]:
    """Every agent's last announced state, by agent id."""
    rows = conn.execute(select(NOTICE.c.agent_id, NOTICE.c.state, NOTICE.c.version))
    return {row.agent_id: Notice(row.state, row.version) for row in rows}


def record_first_seen(conn: Connection, states: Mapping[str, str]) -> None:
    """The state of agents seen for the first time, recorded without an announcement (a new
    deployment does not post the past); a replica that recorded one first keeps its own."""
    if not states:
        return
    rows = [{"agent_id": agent_id, "state": states[agent_id]} for agent_id in sorted(states)]
    stmt = insert_into(conn, NOTICE).values(changed_at=db_now())
    conn.execute(stmt.on_conflict_do_nothing(index_elements=["agent_id"]), rows)


def claim(conn: Connection, agent_id: str, *, seen: Notice, state: str) -> bool:
    """Move ``agent_id``'s notice from the version ``seen`` to ``state``: True when this caller
    moved it (and so announces the transition), False when another got there first."""
    result = conn.execute(
        update(NOTICE)
        .where(NOTICE.c.agent_id == agent_id, NOTICE.c.version == seen.version)
        .values(state=state, version=NOTICE.c.version + 1, changed_at=db_now())
    )
    return result.rowcount == 1
