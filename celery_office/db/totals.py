"""Each agent's numbers since it was first counted: the counters of ``/metrics``, which never go
down, across midnight, restarts and retention.

Why no column of their own that every batch adds to: the day rows already are what every batch
adds to (:mod:`.daily`), and the only thing that ever takes numbers away from them is retention.
So an agent's total is the sum of the days still kept plus what retention folded into
``office_agent_total`` when it deleted older days, in the same statement (PostgreSQL) or
transaction (SQLite), so a day is never counted twice nor lost between the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Connection, bindparam, delete, func, select, text, union_all
from sqlalchemy.dialects import sqlite

from ..core.changes import DAY_SUMS
from .daily import DAY
from .tables import TOTAL

__all__ = ["TOTAL", "Totals", "agent_totals", "forget_days_before"]



@dataclass(frozen=True)
class Totals:
    """An agent's numbers since it was first counted (``core.changes.DAY_SUMS``)."""

    runs: int = 0
    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    revoked: int = 0
    runtime_s: float = 0.0


def _fold_sql() -> str:
    """PostgreSQL's fold: the upsert reads exactly the rows its DELETE removed."""
    columns = ", ".join(DAY_SUMS)
    sums = ", ".join(f"sum({n})" for n in DAY_SUMS)
    adds = ", ".join(f"{n} = {TOTAL.name}.{n} + excluded.{n}" for n in DAY_SUMS)
    return (
        f"WITH gone AS (DELETE FROM {DAY.name} WHERE day < :cutoff RETURNING agent_id, {columns}),"
        f" folded AS (INSERT INTO {TOTAL.name} (agent_id, {columns})"
        f" SELECT agent_id, {sums} FROM gone GROUP BY agent_id"
        f" ON CONFLICT (agent_id) DO UPDATE SET {adds})"
        " SELECT count(*) FROM gone"
    )


def forget_days_before(conn: Connection, *, today: date, keep_days: float) -> int:
    """Delete the days more than ``keep_days`` before ``today`` (``office_day_retention``)
    and add their numbers to the agents' totals; returns how many day rows went.

    On PostgreSQL one statement folds exactly the rows its DELETE removed (``RETURNING``), so
    two workers running retention at once never fold a day twice: the second one's DELETE
    waits for the first and then finds those rows gone. SQLite writes one transaction at a
    time, so there the fold and the delete are two statements of one transaction.
    """
    cutoff = today - timedelta(days=int(keep_days))
    if conn.dialect.name == "postgresql":
        return int(conn.execute(text(_fold_sql()), {"cutoff": cutoff}).scalar_one())
    before = DAY.c.day < bindparam("cutoff", type_=DAY.c.day.type)
    sums = select(DAY.c.agent_id, *(func.sum(DAY.c[n]).label(n) for n in DAY_SUMS))
    insert = sqlite.insert(TOTAL).from_select(
        ["agent_id", *DAY_SUMS], sums.where(before).group_by(DAY.c.agent_id)
    )
    conn.execute(
        insert.on_conflict_do_update(
            index_elements=["agent_id"],
            set_={n: TOTAL.c[n] + insert.excluded[n] for n in DAY_SUMS},
        ),
        {"cutoff": cutoff},
    )
    return conn.execute(delete(DAY).where(before), {"cutoff": cutoff}).rowcount or 0


def agent_totals(conn: Connection) -> dict[str, Totals]:
    """Every counted agent's totals: its kept days plus what retention folded away."""
    parts = [select(table.c.agent_id, *(table.c[n] for n in DAY_SUMS)) for table in (DAY, TOTAL)]
    both = union_all(*parts).subquery("numbers")
    query = select(both.c.agent_id, *(func.sum(both.c[n]).label(n) for n in DAY_SUMS))
    totals = {}
    for row in conn.execute(query.group_by(both.c.agent_id)):
        n = {name: row._mapping[name] or 0 for name in DAY_SUMS}
        totals[row.agent_id] = Totals(
            runs=int(n["runs"]), succeeded=int(n["succeeded"]), failed=int(n["failed"]),
            retried=int(n["retried"]), revoked=int(n["revoked"]), runtime_s=float(n["runtime_s"]),
        )
    return totals
