"""Each agent's day in numbers (``office_agent_day``): added by the batches, read by the CLI.

Why added, not set: many processes of many workers count the same agent's day, each what it
saw since its last write, so every batch adds its numbers to the row in its own transaction
(``runs = runs + excluded.runs``; the longest runtime and the last times take the larger
value). The rows are locked after the agents' status rows, which every writer takes in agent
id order, so two writers never wait on each other's day rows in opposite order.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.dialects import postgresql, sqlite

from ..core.changes import DAY_FIELDS, DAY_LARGEST, DAY_SUMS, DayCount
from .tables import DAY

__all__ = ["DAY", "DayNumbers", "add_day_counts", "day_numbers"]



@dataclass(frozen=True)
class DayNumbers:
    """An agent's numbers of one day, as stored; zeros for a day without a run. Its fields
    are ``core.changes.DAY_FIELDS`` (tests/db/test_daily.py holds them to it)."""

    runs: int = 0
    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    revoked: int = 0
    runtime_s: float = 0.0
    max_runtime_s: float = 0.0
    last_success_at: datetime | None = None
    last_failure_at: datetime | None = None


@functools.cache
def _upsert(dialect: str) -> Any:
    """The adding upsert, built once per dialect (building it per flush costs CPU)."""
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(DAY)
    new = insert.excluded
    if dialect == "postgresql":  # GREATEST skips NULLs
        def larger(old: Any, added: Any) -> Any:
            return func.greatest(old, added)
    else:  # SQLite's max() of a NULL is NULL: each side stands in for a missing other
        def larger(old: Any, added: Any) -> Any:
            return func.max(func.coalesce(old, added), func.coalesce(added, old))
    set_ = {name: DAY.c[name] + new[name] for name in DAY_SUMS}
    for name in DAY_LARGEST:
        set_[name] = larger(DAY.c[name], new[name])
    return insert.on_conflict_do_update(index_elements=["agent_id", "day"], set_=set_)


def _moment(at: float | None) -> datetime | None:
    return None if at is None else datetime.fromtimestamp(at, timezone.utc)


def add_day_counts(conn: Connection, counts: Mapping[tuple[str, date], DayCount]) -> None:
    """Add a batch's counts to the agents' days, in one statement (in the batch's transaction)."""
    if not counts:
        return
    rows = [
        {"agent_id": agent_id, "day": day, **c.as_dict(),
         "last_success_at": _moment(c.last_success_at),
         "last_failure_at": _moment(c.last_failure_at)}
        for (agent_id, day), c in sorted(counts.items())
    ]
    conn.execute(_upsert(conn.dialect.name), rows)


def day_numbers(
    conn: Connection, day: date, *, agent_ids: Sequence[str] | None = None
) -> dict[str, DayNumbers]:
    """Every agent's numbers of ``day`` (only ``agent_ids`` when given); agents without a run
    that day are left out (read them as :class:`DayNumbers` ``()``, all zeros)."""
    query = select(DAY).where(DAY.c.day == day)
    if agent_ids is not None:
        query = query.where(DAY.c.agent_id.in_(list(agent_ids)))
    numbers = {}
    for row in conn.execute(query):
        numbers[row.agent_id] = DayNumbers(**{name: row._mapping[name] for name in DAY_FIELDS})
    return numbers
