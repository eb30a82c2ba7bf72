"""All SQL celery-office runs, for PostgreSQL and SQLite.

The worker never writes ``office_agent_status`` by last-write-wins: each process records runs in
progress (``office_agent_run``) and the newest finished run of each agent
(``office_agent_outcome``), and the status row is recomputed from them in the same transaction,
under a row lock. So many processes and many workers flushing in any order leave the right row.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import (
    Connection,
    String,
    bindparam,
    delete,
    func,
    literal,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from .engine import create_office_engine, safe_url  # re-exported: the engine lives in engine.py
from .models import (
    AgentStatus,
    OfficeAgentOutcome,
    OfficeAgentRun,
    OfficeAgentStatus,
    OfficeWorker,
    db_now,
)

__all__ = [
    "AgentInfo",
    "Outcome",
    "RunChange",
    "Batch",
    "AgentRow",
    "create_office_engine",
    "safe_url",
    "apply_batch",
    "register_worker",
    "heartbeat",
    "retire_worker",
    "node_runs",
    "run_key",
    "upsert_status",
    "touch_agents",
    "agent_statuses",
]

STATUS = OfficeAgentStatus.__table__
RUN = OfficeAgentRun.__table__
RUN_KEY_MAX = RUN.c.task_id.type.length
OUTCOME = OfficeAgentOutcome.__table__
WORKER = OfficeWorker.__table__


class AgentInfo(Protocol):
    """What the store needs to know of an agent (the registry's ``AgentSpec`` fits)."""

    agent_id: str
    department: str
    name: str
    brand: str | None
    salary_equivalent: int
    fte_coefficient: Decimal | float


@dataclass(slots=True)
class Outcome:
    """How an agent's newest finished run ended, at ``at`` (epoch seconds, worker clock)."""

    status: AgentStatus
    task: str | None
    at: float


@dataclass(slots=True)
class RunChange:
    """A run that started (or changed its text), or ended when ``ended`` is true."""

    agent_id: str
    task: str | None
    started_at: float
    ended: bool = False


@dataclass
class Batch:
    """What one process has to write: the coalesced changes since its last write."""

    runs: dict[str, RunChange] = field(default_factory=dict)
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    metrics: dict[str, tuple[dict[str, Any], float]] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.touched or self.runs)

    def by_agent(self) -> dict[str, "Batch"]:
        """This batch cut into one batch per agent (to find the part a database refuses)."""
        parts: dict[str, Batch] = {}
        for task_id, run in self.runs.items():
            parts.setdefault(run.agent_id, Batch()).runs[task_id] = run
        for agent_id, outcome in self.outcomes.items():
            parts.setdefault(agent_id, Batch()).outcomes[agent_id] = outcome
        for agent_id, metrics in self.metrics.items():
            parts.setdefault(agent_id, Batch()).metrics[agent_id] = metrics
        for agent_id in self.touched:
            parts.setdefault(agent_id, Batch())
        for agent_id, part in parts.items():
            part.touched.add(agent_id)
        return parts

    def merge_older(self, older: "Batch") -> None:
        """Put back a batch that failed to write, under the changes made since (newer win)."""
        for task_id, run in older.runs.items():
            self.runs.setdefault(task_id, run)
        for agent_id, outcome in older.outcomes.items():
            mine = self.outcomes.get(agent_id)
            if mine is None or mine.at < outcome.at:
                self.outcomes[agent_id] = outcome
        for agent_id, metrics in older.metrics.items():
            mine_m = self.metrics.get(agent_id)
            if mine_m is None or mine_m[1] < metrics[1]:
                self.metrics[agent_id] = metrics
        self.touched |= older.touched


def _insert(conn: Connection, table: Any) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def _is_postgresql(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


# --------------------------------------------------------------------------- agent rows


def _agent_values(agent: AgentInfo) -> dict[str, Any]:
    return {
        "agent_id": agent.agent_id,
        "department": agent.department,
        "name": agent.name,
        "brand": agent.brand,
        "salary_equivalent": agent.salary_equivalent,
        "fte_coefficient": agent.fte_coefficient,
    }


class _Statements:
    """The statements of the write path, built once per dialect: building and cache-keying
    SQLAlchemy constructs on every flush would cost more CPU than the writes themselves."""

    def __init__(self, dialect: str) -> None:
        insert = (postgresql if dialect == "postgresql" else sqlite).insert
        ids = bindparam("ids", expanding=True)

        self.ensure = (
            insert(STATUS)
            .values(last_activity=db_now(), created_at=db_now(), updated_at=db_now())
            .on_conflict_do_nothing(index_elements=["agent_id"])
        )
        read = (
            select(
                STATUS.c.agent_id,
                OUTCOME.c.finished_at,
                OUTCOME.c.status,
                OUTCOME.c.task,
                OUTCOME.c.metrics_at,
                RUN.c.task_id,
                RUN.c.task.label("run_task"),
                RUN.c.started_at,
            )
            .select_from(
                STATUS.outerjoin(OUTCOME, OUTCOME.c.agent_id == STATUS.c.agent_id).outerjoin(
                    RUN, RUN.c.agent_id == STATUS.c.agent_id
                )
            )
            .where(STATUS.c.agent_id.in_(ids))
            .order_by(STATUS.c.agent_id)
        )
        self.read = read
        # taken in a statement of its own, before the read: in READ COMMITTED a locking read
        # that waited returns the locked rows fresh but the joined runs and outcomes as of the
        # statement's start, i.e. stale by the very commit it waited for
        self.lock = (
            select(STATUS.c.agent_id)
            .where(STATUS.c.agent_id.in_(ids))
            .order_by(STATUS.c.agent_id)
            .with_for_update()
        ) if dialect == "postgresql" else None
        self.delete_runs = delete(RUN).where(RUN.c.task_id.in_(bindparam("task_ids", expanding=True)))
        run = insert(RUN)
        self.upsert_runs = run.on_conflict_do_update(
            index_elements=["task_id"],
            set_={"task": run.excluded.task, "node_name": run.excluded.node_name},
        )
        outcome = insert(OUTCOME)
        self.upsert_outcomes = outcome.on_conflict_do_update(
            index_elements=["agent_id"],
            set_={k: outcome.excluded[k] for k in ("finished_at", "status", "task", "metrics_at")},
        )
        # for agents no live worker serves: their silence must keep counting
        self.update_status_quiet = (
            update(STATUS)
            .where(STATUS.c.agent_id == bindparam("a"))
            .values(status=bindparam("status"), task=bindparam("task"), updated_at=db_now())
        )
        self.update_status = self.update_status_quiet.values(last_activity=db_now())
        self.update_status_metrics = self.update_status.values(
            metrics=bindparam("metrics", type_=STATUS.c.metrics.type)
        )


@functools.lru_cache(maxsize=None)
def _statements(dialect: str) -> _Statements:
    return _Statements(dialect)


def _ensure_agents(conn: Connection, agents: Sequence[AgentInfo]) -> None:
    """Insert missing agent rows (idle); existing rows are left alone and not locked."""
    if not agents:
        return
    rows = [
        {**_agent_values(a), "status": AgentStatus.ok, "task": None, "metrics": {}}
        for a in sorted(agents, key=lambda a: a.agent_id)
    ]
    conn.execute(_statements(conn.dialect.name).ensure, rows)


@dataclass
class _AgentState:
    """What decides an agent's row: its runs in progress and its newest outcome."""

    runs: dict[str, tuple[float, str | None]] = field(default_factory=dict)
    outcome: Outcome | None = None
    metrics_at: float = 0.0

    def status(self) -> tuple[AgentStatus, str | None]:
        """Working (ok, text of the newest run) while any run is in progress anywhere;
        otherwise the newest outcome: idle (ok, no task), error or warning with its text."""
        if self.runs:
            return AgentStatus.ok, max(self.runs.values(), key=lambda run: run[0])[1]
        if self.outcome is None or self.outcome.status is AgentStatus.ok:
            return AgentStatus.ok, None
        return self.outcome.status, self.outcome.task


def _read_locked(conn: Connection, agent_ids: Sequence[str]) -> dict[str, _AgentState]:
    """Lock the agents' rows (PostgreSQL; always in one order, so writers never deadlock), then
    read their runs and outcomes. Agents with no row are left out.

    Every writer of runs and outcomes holds these locks, so what is read stays true until
    commit. SQLite needs no lock: ``BEGIN IMMEDIATE`` holds the database's write lock.
    """
    states: dict[str, _AgentState] = {}
    if not agent_ids:
        return states
    statements = _statements(conn.dialect.name)
    if statements.lock is not None:
        conn.execute(statements.lock, {"ids": list(agent_ids)})
    rows = conn.execute(statements.read, {"ids": list(agent_ids)})
    for row in rows:
        state = states.get(row.agent_id) or states.setdefault(row.agent_id, _AgentState())
        if row.finished_at is not None and state.outcome is None:
            state.outcome = Outcome(row.status, row.task, row.finished_at)
            state.metrics_at = row.metrics_at or 0.0
        if row.task_id is not None:
            state.runs[row.task_id] = (row.started_at, row.run_task)
    return states


def _write_status(
    conn: Connection,
    states: Mapping[str, _AgentState],
    metrics: Mapping[str, dict[str, Any]] | None = None,
    *,
    quiet: Iterable[str] = (),
) -> None:
    """Set status, task (and new metrics) of every agent in ``states``.

    ``last_activity`` becomes now, except for the ``quiet`` agents (served by no live worker:
    correcting their row is no sign of life). An executemany: psycopg2's ``execute_batch``
    sends it in one round trip.
    """
    if not states:
        return
    metrics = metrics or {}
    quiet = set(quiet)
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
    statements = _statements(conn.dialect.name)
    if plain:
        conn.execute(statements.update_status, plain)
    if with_metrics:
        conn.execute(statements.update_status_metrics, with_metrics)
    if silent:
        conn.execute(statements.update_status_quiet, silent)


def _recompute(conn: Connection, agent_ids: Sequence[str]) -> None:
    """Lock, read and rewrite the status of agents whose runs changed outside a batch."""
    _write_status(conn, _read_locked(conn, sorted(agent_ids)))


# --------------------------------------------------------------------------- worker batches


def apply_batch(
    conn: Connection,
    batch: Batch,
    agents: Mapping[str, AgentInfo],
    node_name: str | None,
    known: set[str] | None = None,
) -> None:
    """Write one process's coalesced changes and recompute the status of the agents touched.

    Runs in progress and outcomes are read under the agents' locks, the batch is applied to
    them in memory (a newer outcome or metrics wins, whichever process flushes last), and each
    table is written with one statement. ``known``: agents whose rows this process has seen
    exist, so their insert is skipped; the agents written are added to it.
    """
    agent_ids = sorted(batch.touched | {run.agent_id for run in batch.runs.values()})
    missing = agent_ids if known is None else [a for a in agent_ids if a not in known]
    _ensure_agents(conn, [agents[a] for a in missing if a in agents])
    states = _read_locked(conn, agent_ids)
    absent = [a for a in agent_ids if a not in states]
    if absent:  # rows deleted by hand since this process wrote them: put them back
        _ensure_agents(conn, [agents[a] for a in absent if a in agents])
        states.update(_read_locked(conn, absent))
        states.update((a, _AgentState()) for a in absent if a not in states)
    _write_runs(conn, batch.runs, states, node_name)

    newer_outcomes = set()
    for agent_id, outcome in batch.outcomes.items():
        state = states[agent_id]
        if state.outcome is None or state.outcome.at <= outcome.at:
            state.outcome = outcome
            newer_outcomes.add(agent_id)
    newer_metrics = {}
    for agent_id, (metrics, at) in batch.metrics.items():
        state = states[agent_id]
        if at >= state.metrics_at:
            state.metrics_at = at
            newer_metrics[agent_id] = metrics
    _write_outcomes(conn, {a: states[a] for a in sorted(newer_outcomes | set(newer_metrics))})

    _write_status(conn, states, newer_metrics)
    if known is not None:
        known.update(agent_ids)


def _write_runs(
    conn: Connection,
    runs: Mapping[str, RunChange],
    states: Mapping[str, _AgentState],
    node_name: str | None,
) -> None:
    """Delete the runs that ended, upsert the ones that started or changed their text, and
    apply both to ``states``."""
    ended = []
    started = []
    for task_id, run in runs.items():
        in_progress = states[run.agent_id].runs
        key = run_key(task_id)
        if run.ended:
            ended.append(key)
            in_progress.pop(key, None)
            continue
        started_at = in_progress[key][0] if key in in_progress else run.started_at
        in_progress[key] = (started_at, run.task)
        started.append(
            {"task_id": key, "agent_id": run.agent_id, "node_name": node_name,
             "task": run.task, "started_at": started_at}
        )
    statements = _statements(conn.dialect.name)
    if ended:
        conn.execute(statements.delete_runs, {"task_ids": ended})
    if started:
        conn.execute(statements.upsert_runs, started)


def run_key(task_id: Any) -> str:
    """The run's key in ``office_agent_run``: the task id, or a digest of one too long for the
    column (Celery accepts any string as a custom task id, and some pass other types)."""
    task_id = task_id if isinstance(task_id, str) else str(task_id)
    if len(task_id) <= RUN_KEY_MAX:
        return task_id
    return "sha256:" + hashlib.sha256(task_id.encode("utf-8", "surrogatepass")).hexdigest()


def _write_outcomes(conn: Connection, states: Mapping[str, _AgentState]) -> None:
    """Upsert the outcomes and metrics times the batch made newer, in one statement."""
    if not states:
        return
    rows = []
    for agent_id, state in states.items():
        outcome = state.outcome or Outcome(AgentStatus.ok, None, 0.0)
        rows.append(
            {"agent_id": agent_id, "finished_at": outcome.at, "status": outcome.status,
             "task": outcome.task, "metrics_at": state.metrics_at}
        )
    conn.execute(_statements(conn.dialect.name).upsert_outcomes, rows)


# --------------------------------------------------------------------------- workers


def _live_workers(conn: Connection, offline_after: float) -> Any:
    cutoff = _seconds_ago(conn, offline_after)
    return (
        select(WORKER.c.node_name, WORKER.c.agents)
        .where(WORKER.c.stopped_at.is_(None))
        .where(WORKER.c.last_seen >= cutoff)
    )


def _seconds_ago(conn: Connection, seconds: float) -> Any:
    if _is_postgresql(conn):
        return func.now() - func.make_interval(0, 0, 0, 0, 0, 0, literal(float(seconds)))
    return func.strftime("%Y-%m-%d %H:%M:%f000", "now", f"-{float(seconds)} seconds")


def register_worker(
    conn: Connection,
    *,
    node_name: str,
    hostname: str | None,
    pid: int | None,
    agents: Sequence[AgentInfo],
    since: float | None = None,
) -> None:
    """A worker starts: (re)register its agents and itself, forget its former self's runs.

    Agent metadata comes from the registry. An agent that was offline becomes idle; one in error
    stays in error until its next successful run. ``since`` is when this worker started: its
    own runs, which pool processes may write before this registration, are kept.
    """
    agents = sorted(agents, key=lambda a: a.agent_id)
    agent_ids = [a.agent_id for a in agents]
    _ensure_agents(conn, agents)
    _read_locked(conn, agent_ids)
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
                last_activity=db_now(),
                updated_at=db_now(),
            ),
            [{**_agent_values(a), "a": a.agent_id} for a in agents],
        )
    was_offline = [
        row.agent_id
        for row in conn.execute(
            select(STATUS.c.agent_id)
            .where(STATUS.c.agent_id.in_(agent_ids))
            .where(STATUS.c.status == AgentStatus.offline)
        )
    ]
    if was_offline:
        conn.execute(
            update(OUTCOME)
            .where(OUTCOME.c.agent_id.in_(was_offline))
            .values(status=AgentStatus.ok, task=None)
        )
        conn.execute(
            update(STATUS)
            .where(STATUS.c.agent_id.in_(was_offline))
            .values(status=AgentStatus.ok, task=None)
        )
    former = delete(RUN).where(RUN.c.node_name == node_name)
    if since is not None:
        former = former.where(RUN.c.started_at < since)
    conn.execute(former)
    _upsert_worker(conn, node_name=node_name, hostname=hostname, pid=pid, agent_ids=agent_ids)
    _recompute(conn, agent_ids)


def _upsert_worker(
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
        _insert(conn, WORKER).values(node_name=node_name, **values).on_conflict_do_update(
            index_elements=["node_name"], set_=values
        )
    )


def heartbeat(
    conn: Connection,
    *,
    node_name: str,
    agents: Sequence[AgentInfo],
    offline_after: float,
    hostname: str | None = None,
    pid: int | None = None,
    end_runs: Mapping[str, str] | None = None,
) -> None:
    """Refresh ``last_activity`` of a worker's agents (one statement), and clear dead workers.

    A worker silent for ``offline_after`` is dead: its runs in progress stop counting, and the
    agents they kept working are recomputed, so a killed worker does not leave them working
    (without refreshing ``last_activity`` of agents this worker does not serve, and leaving
    those already offline as they are: nobody serves them). ``end_runs`` (run key -> agent) are
    runs of this worker it knows have ended. Rows deleted by hand (the agents' or the worker's
    own) are put back, and agents of this worker found offline (retired by another worker that
    took this one for dead, during an outage) are recomputed from their runs in progress and
    last outcomes.

    Every agent row involved is locked in one sorted statement, as every writer does, so a
    heartbeat never deadlocks with a batch, a registration or a retirement.
    """
    end_runs = end_runs or {}
    agent_ids = sorted(a.agent_id for a in agents)
    served = set(agent_ids)
    present = conn.execute(
        # the status as text: a team's extra enum value ('paused') must not fail the beat
        select(STATUS.c.agent_id, type_coerce(STATUS.c.status, String).label("status"))
        .where(STATUS.c.agent_id.in_(agent_ids))
    ).all()
    restore = len(present) < len(agent_ids)  # rows deleted by hand
    if restore:  # inserted before any lock is taken, as a batch does, so writers never deadlock
        _ensure_agents(conn, agents)
    live = select(_live_workers(conn, offline_after).subquery().c.node_name)
    orphan_run = (RUN.c.node_name.is_(None)) | RUN.c.node_name.not_in(live)
    orphans = {row.task_id: row.agent_id for row in conn.execute(
        select(RUN.c.task_id, RUN.c.agent_id).where(orphan_run)
    )}
    involved = served | set(orphans.values()) | set(end_runs.values())
    states = _read_locked(conn, sorted(involved))
    conn.execute(
        update(STATUS)
        .where(STATUS.c.agent_id.in_(agent_ids))
        .values(last_activity=db_now(), updated_at=db_now())
    )
    seen = conn.execute(
        update(WORKER)
        .where(WORKER.c.node_name == node_name)
        .values(last_seen=db_now(), stopped_at=None)
    ).rowcount
    if seen == 0:
        _upsert_worker(conn, node_name=node_name, hostname=hostname, pid=pid, agent_ids=agent_ids)
    # read again under the locks (runs of locked agents cannot change now): a worker may have
    # come back, or a run been taken over by another worker, since the first look
    ending = select(RUN.c.task_id, RUN.c.agent_id).where(RUN.c.agent_id.in_(sorted(involved)))
    condition = orphan_run
    if end_runs:
        condition = condition | (
            RUN.c.task_id.in_(sorted(end_runs)) & (RUN.c.node_name == node_name)
        )
    ended = {row.task_id: row.agent_id for row in conn.execute(ending.where(condition))}
    if ended:
        conn.execute(_statements(conn.dialect.name).delete_runs, {"task_ids": sorted(ended)})
    for task_id, agent_id in ended.items():
        if agent_id in states:  # an agent whose row was deleted by hand has none to correct
            states[agent_id].runs.pop(task_id, None)
    recompute = {agent_id for agent_id in ended.values() if agent_id in states}
    if recompute - served:  # nobody serves them: an offline row stays offline
        offline = conn.execute(
            select(STATUS.c.agent_id)
            .where(STATUS.c.agent_id.in_(sorted(recompute - served)))
            .where(STATUS.c.status == AgentStatus.offline)
        ).scalars().all()
        recompute.difference_update(offline)
    if restore:
        recompute.update(agent_ids)
    recompute.update(row.agent_id for row in present if row.status == AgentStatus.offline.value)
    _write_status(
        conn,
        {a: states[a] for a in recompute if a in states},
        quiet=[a for a in recompute if a not in served],
    )


def node_runs(conn: Connection, node_name: str) -> dict[str, str]:
    """The runs in progress a worker has in the table: task id -> agent id."""
    rows = conn.execute(select(RUN.c.task_id, RUN.c.agent_id).where(RUN.c.node_name == node_name))
    return {row.task_id: row.agent_id for row in rows}


def retire_worker(
    conn: Connection, *, node_name: str, agent_ids: Sequence[str], offline_after: float
) -> list[str]:
    """A worker stops warmly: its agents that no other live worker serves become offline.

    Returns the agents marked offline. The others keep their state and their heartbeats.
    """
    # the agents' locks first: two workers retiring at once that share agents take turns, and
    # the second sees the first stopped (READ COMMITTED reads after the lock wait), so the
    # last of them marks the shared agents offline
    _read_locked(conn, sorted(agent_ids))
    conn.execute(
        update(WORKER)
        .where(WORKER.c.node_name == node_name)
        .values(stopped_at=db_now(), last_seen=db_now())
    )
    served_elsewhere: set[str] = set()
    for row in conn.execute(_live_workers(conn, offline_after)):
        if row.node_name != node_name:
            served_elsewhere.update(row.agents or ())
    offline = sorted(set(agent_ids) - served_elsewhere)
    still_served = sorted(set(agent_ids) & served_elsewhere)
    conn.execute(delete(RUN).where(RUN.c.node_name == node_name))
    if offline:
        conn.execute(
            update(STATUS)
            .where(STATUS.c.agent_id.in_(offline))
            .values(status=AgentStatus.offline, task=None, last_activity=db_now(), updated_at=db_now())
        )
    _recompute(conn, still_served)
    return offline


# --------------------------------------------------------------------------- hand-called API


def upsert_status(
    conn: Connection,
    agent: AgentInfo,
    *,
    status: AgentStatus,
    task: str | None,
    metrics: dict[str, Any] | None,
) -> None:
    """The spec's UPSERT on ``agent_id``; ``metrics=None`` keeps the row's metrics."""
    values = {**_agent_values(agent), "status": status, "task": task}
    stmt = _insert(conn, STATUS).values(
        **values,
        metrics=metrics if metrics is not None else {},
        last_activity=db_now(),
        created_at=db_now(),
        updated_at=db_now(),
    )
    set_ = {
        key: stmt.excluded[key]
        for key in ("department", "name", "brand", "salary_equivalent", "fte_coefficient",
                    "status", "task", "last_activity", "updated_at")
    }
    if metrics is not None:
        set_["metrics"] = stmt.excluded.metrics
    conn.execute(stmt.on_conflict_do_update(index_elements=["agent_id"], set_=set_))


def touch_agents(conn: Connection, agent_ids: Iterable[str]) -> int:
    """Refresh ``last_activity`` and ``updated_at`` only; returns how many rows exist."""
    result = conn.execute(
        update(STATUS)
        .where(STATUS.c.agent_id.in_(sorted(agent_ids)))
        .values(last_activity=db_now(), updated_at=db_now())
    )
    return result.rowcount


# --------------------------------------------------------------------------- read side


@dataclass(frozen=True)
class AgentRow:
    """An agent as the dashboard shows it, with the status it has in effect now."""

    agent_id: str
    department: str
    name: str
    brand: str | None
    status: AgentStatus
    effective_status: AgentStatus
    task: str | None
    metrics: dict[str, Any]
    salary_equivalent: int | None
    fte_coefficient: Decimal | None
    last_activity: datetime | None
    silent_for: float | None  # seconds since last_activity, by the database clock
    updated_at: datetime | None


def agent_statuses(conn: Connection, offline_after: float = 300.0) -> list[AgentRow]:
    """Every agent with its effective status: offline when silent for over ``offline_after``.

    Silence is measured by the database clock, like ``last_activity`` itself. A status value a
    team added to an adopted table's enum (say ``'paused'``) comes back as that plain string,
    in ``status`` and, unless the agent is silent, ``effective_status``: shown, never guessed.
    """

    known = {status.value: status for status in AgentStatus}
    # Read the status as text (the SQL is unchanged), so an unknown value is no LookupError.
    raw_status = type_coerce(STATUS.c.status, String).label("status")
    columns = [raw_status if column.name == "status" else column for column in STATUS.c]
    now = conn.execute(select(db_now())).scalar_one()
    rows = conn.execute(select(*columns).order_by(STATUS.c.department, STATUS.c.agent_id))
    result = []
    for agent in rows:
        silent = (now - agent.last_activity).total_seconds() if agent.last_activity else None
        status = known.get(agent.status, agent.status)
        effective = status
        if silent is None or silent > offline_after:
            effective = AgentStatus.offline
        result.append(
            AgentRow(
                agent_id=agent.agent_id,
                department=agent.department,
                name=agent.name,
                brand=agent.brand,
                status=status,
                effective_status=effective,
                task=agent.task,
                metrics=agent.metrics or {},
                salary_equivalent=agent.salary_equivalent,
                fte_coefficient=agent.fte_coefficient,
                last_activity=agent.last_activity,
                silent_for=silent,
                updated_at=agent.updated_at,
            )
        )
    return result
