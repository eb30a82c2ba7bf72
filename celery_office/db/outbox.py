"""The notifications' outbox: each event stored once, and per target a delivery that one
replica at a time holds by a lease while it posts.

Why leases: a replica that dies while posting leaves its delivery leased; the lease expires and
another replica (or the same one, restarted) posts it again. So each event reaches each target
at least once, and a receiver that gets it twice sees the same event id. Times are the
database's: replicas on several hosts agree on when a lease or a backoff ends.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, or_, select, update

from .base import db_now
from .notify_tables import DELIVERY, EVENT, TARGET
from .statements import insert_into

__all__ = ["PENDING", "DONE", "DROPPED", "Job", "register_targets", "add_events", "claim",
           "finish"]

PENDING, DONE, DROPPED = "pending", "done", "dropped"


@dataclass(frozen=True)
class Job:
    """A delivery this replica holds: the event's row id and key, its body, the try number."""

    event_id: int
    key: str
    body: dict[str, Any]
    attempt: int


def _now(conn: Connection) -> datetime:
    return cast(datetime, conn.scalar(select(db_now())))


def register_targets(conn: Connection, targets: Iterable[str], *, within: float) -> list[str]:
    """Say this replica posts to ``targets`` (digests); returns every target some replica said
    so within the last ``within`` seconds, ours included."""
    now, mine = _now(conn), sorted(set(targets))
    rows = [{"target": target, "seen_at": now} for target in mine]
    if rows:
        stmt = insert_into(conn, TARGET)
        conn.execute(stmt.on_conflict_do_update(index_elements=["target"],
                                                set_={"seen_at": stmt.excluded.seen_at}), rows)
    seen = conn.execute(select(TARGET.c.target)
                        .where(TARGET.c.seen_at >= now - timedelta(seconds=within)))
    return sorted(set(seen.scalars()) | set(mine))


def add_events(conn: Connection, events: Sequence[tuple[str, str, str, Mapping[str, Any]]],
               targets: Sequence[str]) -> int:
    """Store ``events`` (key, agent id, state, body) and a pending delivery per target; an
    event whose key is stored already is left as it is. Returns how many were new."""
    now, added = _now(conn), 0
    for key, agent_id, state, body in events:
        stmt = insert_into(conn, EVENT).values(
            key=key, agent_id=agent_id, state=state, created_at=now,
            body=json.dumps(body, ensure_ascii=False))
        event_id = conn.execute(stmt.on_conflict_do_nothing(index_elements=["key"])
                                .returning(EVENT.c.id)).scalar()
        if event_id is None or not targets:
            continue
        added += 1
        conn.execute(insert_into(conn, DELIVERY),
                     [{"event_id": event_id, "target": t, "next_try_at": now} for t in targets])
    return added


def claim(conn: Connection, target: str, *, holder: str, lease: float) -> Job | None:
    """Take the oldest delivery to ``target`` that is due and not leased (or whose lease
    expired: its holder died), leased to ``holder`` for ``lease`` seconds."""
    now = _now(conn)
    free = or_(DELIVERY.c.lease_until.is_(None), DELIVERY.c.lease_until < now)
    row = conn.execute(
        select(DELIVERY.c.event_id, DELIVERY.c.attempts, EVENT.c.key, EVENT.c.body)
        .join(EVENT, EVENT.c.id == DELIVERY.c.event_id)
        .where(DELIVERY.c.target == target, DELIVERY.c.state == PENDING,
               DELIVERY.c.next_try_at <= now, free)
        .order_by(DELIVERY.c.event_id).limit(1)
        .with_for_update(of=DELIVERY, skip_locked=True)
    ).first()
    if row is None:
        return None
    taken = conn.execute(
        update(DELIVERY)
        .where(DELIVERY.c.event_id == row.event_id, DELIVERY.c.target == target, free)
        .values(lease_until=now + timedelta(seconds=lease), leased_by=holder,
                attempts=DELIVERY.c.attempts + 1)
    ).rowcount
    if taken != 1:
        return None
    return Job(int(row.event_id), row.key, json.loads(row.body), int(row.attempts) + 1)


def finish(conn: Connection, job: Job, target: str, *, holder: str, state: str,
           retry_in: float = 0.0) -> None:
    """Record a try: ``done`` (whoever holds the lease now), ``dropped``, or ``pending``
    again in ``retry_in`` seconds (only while this holder still holds the lease)."""
    now = _now(conn)
    stmt = update(DELIVERY).where(DELIVERY.c.event_id == job.event_id,
                                  DELIVERY.c.target == target)
    if state == PENDING:
        stmt = stmt.where(DELIVERY.c.leased_by == holder).values(
            next_try_at=now + timedelta(seconds=retry_in), lease_until=None, leased_by=None)
    else:
        stmt = stmt.values(state=state, done_at=now, lease_until=None, leased_by=None)
    conn.execute(stmt)
