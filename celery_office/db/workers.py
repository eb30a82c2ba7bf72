"""A worker's life in the tables: registration, heartbeats (with the repairs they make), and
retirement. Each locks the agents' rows through :mod:`.agent_rows`, like every writer.

And the writers' ledger (``office_writer``): every start of a process that writes takes a
number the database hands out (:func:`new_writer`) and numbers its flushes from 1 under it
(:class:`FlushId`), so a flush lands exactly once whatever the clocks say, and two live workers
sharing a node name never skip each other's flushes. A flush the ledger cannot place is refused
aloud (:class:`WriterRefused`, SQLSTATE ``OF001`` from ``office_apply_batch``), never skipped.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from ..core.changes import AgentInfo
from ..core.errors import OfficeError
from ..core.statuses import AgentStatus
from .agent_rows import ensure_agents, read_locked, recompute
from .base import db_now
from .failures import sqlstate
from .statements import RUN, STATUS, WORKER, agent_values, insert_into, seconds_ago
from .tables import WRITER

__all__ = ["register_worker", "retire_worker", "node_runs", "live_workers", "upsert_worker",
           "FlushId", "WriterRefused", "is_writer_refusal", "new_writer", "claim_flush",
           "live_namesakes", "forget_writers", "waiting_elsewhere", "tell_waiting"]

WRITER_REFUSED = "OF001"  # the SQLSTATE office_apply_batch raises (revision 0007)


class FlushId(NamedTuple):
    """A flush's identity: the writer's number (the database's) and the flush's, from 1."""

    writer: int
    seq: int


class WriterRefused(OfficeError):
    """The ledger cannot place a flush: its writer's row is gone, or its number is not after
    the writer's last one. Nothing of it was written; the writer takes a new number."""


def is_writer_refusal(exc: BaseException | None) -> bool:
    """Did the database refuse a flush for its writer (not for its content, nor by failing)?"""
    return isinstance(exc, WriterRefused) or (exc is not None and sqlstate(exc) == WRITER_REFUSED)


def new_writer(conn: Connection, *, node_name: str, hostname: str | None, pid: int | None) -> int:
    """A new writer of ``node_name``: the number the database hands out, never seen before."""
    result = conn.execute(
        insert(WRITER).values(node_name=node_name, hostname=hostname, pid=pid, flush_seq=0,
                              started_at=db_now(), last_seen=db_now())
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def claim_flush(conn: Connection, flush: FlushId, *, node_name: str | None, resend: bool) -> bool:
    """Record ``flush`` (SQLite; PostgreSQL's ``office_apply_batch`` does the same): False
    when a flush sent again (``resend``) had landed already; raises :class:`WriterRefused` for
    a flush it cannot place. The caller holds the database's write lock (``BEGIN IMMEDIATE``)."""
    last = conn.execute(
        select(WRITER.c.flush_seq).where(WRITER.c.writer_id == flush.writer)
    ).scalar_one_or_none()
    if last is None:
        raise WriterRefused(
            f"writer {flush.writer} of {node_name} is not in office_writer (its row was deleted)"
        )
    if flush.seq <= last:
        if resend:
            return False
        raise WriterRefused(
            f"flush {flush.seq} of writer {flush.writer} of {node_name} is not after its last "
            f"one, {last} (office_writer.flush_seq was changed, or another process writes as it)"
        )
    conn.execute(update(WRITER).where(WRITER.c.writer_id == flush.writer)
                 .values(flush_seq=flush.seq))
    return True


def live_namesakes(conn: Connection, *, node_name: str, writer: int) -> list[Any]:
    """Other writers of ``node_name`` that beat since ``writer`` started: live processes
    under the same node name (a former self that crashed beats no more)."""
    mine = select(WRITER.c.started_at).where(WRITER.c.writer_id == writer).scalar_subquery()
    return list(conn.execute(
        select(WRITER.c.writer_id, WRITER.c.hostname, WRITER.c.pid)
        .where(WRITER.c.node_name == node_name, WRITER.c.writer_id != writer,
               WRITER.c.last_seen > mine)
        .order_by(WRITER.c.writer_id)
    ))


def forget_writers(conn: Connection, *, silent_for: float) -> None:
    """Delete the writers silent for ``silent_for`` seconds (crashed long ago: a warm shutdown
    deletes its own)."""
    conn.execute(delete(WRITER).where(WRITER.c.last_seen < seconds_ago(conn, silent_for)))


def live_workers(conn: Connection, offline_after: float) -> Any:
    cutoff = seconds_ago(conn, offline_after)
    return (
        select(WORKER.c.node_name, WORKER.c.agents)
        .where(WORKER.c.stopped_at.is_(None))
        .where(WORKER.c.last_seen >= cutoff)
    )



def tell_waiting(conn: Connection, *, writer: int, waiting: Collection[str]) -> None:
    """Record at once what waits in ``writer`` (a status write just failed), so that no other
    writer's heartbeat or registration keeps those agents alive until this one's next beat.
    Touches ``office_writer`` alone: a lock on another table does not hold it."""
    conn.execute(update(WRITER).where(WRITER.c.writer_id == writer)
                 .values(waiting=sorted(waiting)))


def waiting_elsewhere(conn: Connection, *, writer: int | None, offline_after: float) -> set[str]:
    """The agents whose changes wait in another writer that beat within ``offline_after``
    (a writer silent longer is dead: what waited in it is lost, not waiting)."""
    rows = conn.execute(
        select(WRITER.c.waiting)
        .where(WRITER.c.waiting.is_not(None))
        .where(WRITER.c.writer_id != (writer if writer is not None else -1))
        .where(WRITER.c.last_seen >= seconds_ago(conn, offline_after))
    ).scalars()
    return {agent for waiting in rows for agent in (waiting or ()) if isinstance(agent, str)}


def register_worker(
    conn: Connection,
    *,
    node_name: str,
    hostname: str | None,
    pid: int | None,
    agents: Sequence[AgentInfo],
    since: float | None = None,
    offline_after: float | None = None,
    waiting: Collection[str] = (),
) -> None:
    """A worker starts: (re)register its agents and itself, forget its former self's runs.

    Agent metadata comes from the registry. Every agent's row is recomputed from its runs in
    progress, its last outcome and its alerts: an offline agent comes back idle, or in error
    when its last run failed (a restart is not a success: the error stays until the agent's
    next successful run). ``since`` is when this worker started: its own runs, which pool
    processes may write before this registration, are kept. Liveness follows status writes:
    ``last_activity`` is left alone for the agents ``waiting`` in this process (a restart
    during a lock, a solo pool that ran tasks before it registers) and, given
    ``offline_after``, in any other live writer.
    """
    agents = sorted(agents, key=lambda a: a.agent_id)
    agent_ids = [a.agent_id for a in agents]
    ensure_agents(conn, agents)
    former = RUN.c.node_name == node_name
    if since is not None:
        former = former & (RUN.c.started_at < since)
    dropped = _agents_of_runs(conn, former) - set(agent_ids)  # served before, not now
    read_locked(conn, sorted({*agent_ids, *dropped}))
    quiet = set(waiting)
    if offline_after is not None:
        quiet |= waiting_elsewhere(conn, writer=None, offline_after=offline_after)
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
                updated_at=db_now(),
            ),
            [{**agent_values(a), "a": a.agent_id} for a in agents],
        )
        conn.execute(update(STATUS).where(STATUS.c.agent_id.in_(sorted(set(agent_ids) - quiet)))
                     .values(last_activity=db_now()))
    conn.execute(delete(RUN).where(former))
    upsert_worker(conn, node_name=node_name, hostname=hostname, pid=pid, agent_ids=agent_ids)
    recompute(conn, sorted({*agent_ids, *dropped}), quiet=quiet | dropped)


def _agents_of_runs(conn: Connection, condition: Any) -> set[str]:
    """The agents of the runs ``condition`` picks: a node's runs may be of agents its new
    registry no longer names, whose rows must not keep showing a run that is gone."""
    return {row.agent_id for row in conn.execute(select(RUN.c.agent_id).where(condition))}


def upsert_worker(
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


def node_runs(conn: Connection, node_name: str) -> dict[str, str]:
    """The runs in progress a worker has in the table: task id -> agent id."""
    rows = conn.execute(select(RUN.c.task_id, RUN.c.agent_id).where(RUN.c.node_name == node_name))
    return {row.task_id: row.agent_id for row in rows}


def retire_worker(
    conn: Connection, *, node_name: str, agent_ids: Sequence[str], offline_after: float,
    writer: int | None = None,
) -> list[str]:
    """A worker stops warmly: its agents that no other live worker serves become offline, and
    its writer's row goes.

    Returns the agents marked offline. The others keep their state and their heartbeats. A
    worker that shares its node name with another live one (``live_namesakes``: ``-n`` given
    twice) leaves the node's worker row, runs and agents to the other, which still serves them.
    """
    if writer is not None:
        namesakes = live_namesakes(conn, node_name=node_name, writer=writer)
        conn.execute(delete(WRITER).where(WRITER.c.writer_id == writer))
        if namesakes:
            return []
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
    for row in conn.execute(live_workers(conn, offline_after)):
        if row.node_name != node_name:
            served_elsewhere.update(row.agents or ())
    offline = sorted(set(agent_ids) - served_elsewhere)
    still_served = sorted(set(agent_ids) & served_elsewhere)
    conn.execute(delete(RUN).where(RUN.c.node_name == node_name))
    if offline:
        conn.execute(
            update(STATUS)
            .where(STATUS.c.agent_id.in_(offline))
            .values(status=AgentStatus.offline, task=None, last_activity=db_now(),
                    updated_at=db_now())
        )
    recompute(conn, still_served)
    return offline
