"""What notifications last announced of each agent, and the last period they read of it.

The notifier of one ``celery office serve`` replica at a time (it holds a lock for its look:
:mod:`celery_office.web.notifier`) reads them, the periods after them, and writes them back with
the events it found, in one transaction: a look that fails to commit changed nothing, and the
next one reads the same periods again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, select

from .base import db_now
from .notify_tables import NOTICE
from .statements import insert_into

__all__ = ["NOTICE", "Notice", "read_notices", "save_notices"]



@dataclass(frozen=True)
class Notice:
    """An agent's last announced state ('' none yet), how many announcements were made, and
    the last period read (None: none yet)."""

    state: str = ""
    version: int = 0
    period_id: int | None = None


def read_notices(conn: Connection) -> dict[str, Notice]:
    """Every agent's notice, by agent id."""
    rows = conn.execute(select(NOTICE.c.agent_id, NOTICE.c.state, NOTICE.c.version,
                               NOTICE.c.period_id))
    return {row.agent_id: Notice(row.state, row.version, row.period_id) for row in rows}


def save_notices(conn: Connection, notices: Mapping[str, Notice]) -> None:
    """Write the notices that moved (agents whose row is gone are skipped by their key)."""
    if not notices:
        return
    rows = [{"agent_id": agent_id, "state": n.state, "version": n.version,
             "period_id": n.period_id} for agent_id, n in sorted(notices.items())]
    stmt = insert_into(conn, NOTICE).values(changed_at=db_now())
    conn.execute(stmt.on_conflict_do_update(
        index_elements=["agent_id"],
        set_={"state": stmt.excluded.state, "version": stmt.excluded.version,
              "period_id": stmt.excluded.period_id, "changed_at": db_now()}), rows)
