"""What tests/db/test_row_rule_property.py does to both databases: a worker fleet's operations
(runs, ends, metrics, flushes, heartbeats, registrations, retirements), applied through the
production write path, and the tiny model of the row's rule the results are held to.

A process keeps what it has to write in a batch, as the worker's buffer does, and writes it
with ``write_batch`` under its own writer number (one per database: each hands its own out).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import Engine, select, text

from celery_office.core.changes import Batch, DayCount, Outcome, RunChange, add_counts, supersedes
from celery_office.core.statuses import AgentStatus
from celery_office.db.daily import DAY
from celery_office.db.flush import write_batch
from celery_office.db.heartbeat import heartbeat
from celery_office.db.models import Base
from celery_office.db.statements import OUTCOME, RUN, STATUS
from celery_office.db.workers import FlushId, new_writer, register_worker, retire_worker

from .test_store import Agent

AGENTS = {a: Agent(a) for a in ("agent_a", "agent_b", "agent_c")}
NODES = {"w1@host": ("agent_a", "agent_b"), "w2@host": ("agent_b", "agent_c")}
# task id -> agent; the ids sort otherwise than they are listed (the tie-break must decide).
# A task id belongs to one agent, as Celery's own ids do: a custom id reused by another agent's
# task while its run is in progress makes the two databases differ (the stored run keeps its
# first agent, and the Python path shows it on the second agent's row too): not generated here.
TASKS = {"t-b": "agent_a", "t-a": "agent_a", "T-c": "agent_a", "t_d": "agent_b",
         "9-e": "agent_b", "t-f": "agent_c", "t-0": "agent_c"}
# few instants, so runs and outcomes often share one; the last is past midnight (UTC)
T0 = datetime(2026, 3, 1, 23, 59, 59, tzinfo=timezone.utc).timestamp()
TIMES = (T0, T0 + 0.5, T0 + 1.0)
OFFLINE_AFTER = 3600.0  # no worker falls silent within a test
ENDS = {"ok": AgentStatus.ok, "error": AgentStatus.error, "retry": AgentStatus.warning,
        "revoked": None}
END_TEXTS = {AgentStatus.error: "Ошибка: Timeout", AgentStatus.warning: "Повтор: 429",
             AgentStatus.ok: None}


@dataclass(frozen=True)
class Start:
    node: str
    pid: int
    task_id: str
    text: str | None
    at: float


@dataclass(frozen=True)
class End:
    node: str
    pid: int
    task_id: str
    how: str  # a key of ENDS
    at: float
    metrics: int | None = None


@dataclass(frozen=True)
class Metrics:
    node: str
    pid: int
    agent_id: str
    value: int
    at: float


@dataclass(frozen=True)
class Flush:
    node: str
    pid: int


@dataclass(frozen=True)
class Beat:
    node: str


@dataclass(frozen=True)
class Register:
    node: str
    since: float | None


@dataclass(frozen=True)
class Retire:
    node: str


Op = Start | End | Metrics | Flush | Beat | Register | Retire


def day_of(at: float) -> date:
    return datetime.fromtimestamp(at, timezone.utc).date()


@dataclass
class Process:
    """One worker process: what it has to write, the runs it started, its writer numbers."""

    batch: Batch = field(default_factory=Batch)
    active: dict[str, float] = field(default_factory=dict)  # task id -> started at
    writers: dict[str, int] = field(default_factory=dict)  # database -> writer number
    seq: dict[str, int] = field(default_factory=dict)

    def count(self, agent_id: str, at: float) -> DayCount:
        return self.batch.counts.setdefault((agent_id, day_of(at)), DayCount())


@dataclass
class Fleet:
    """Two databases and the fleet that writes to both; ``written`` is the model: every
    outcome, metrics and count that reached the databases, in the order they did."""

    engines: dict[str, Engine]
    processes: dict[tuple[str, int], Process] = field(default_factory=dict)
    running: dict[str, dict[str, RunChange]] = field(default_factory=dict)  # node -> runs
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    metrics: dict[str, tuple[dict[str, Any], float]] = field(default_factory=dict)
    days: dict[tuple[str, date], DayCount] = field(default_factory=dict)

    def process(self, node: str, pid: int) -> Process:
        return self.processes.setdefault((node, pid), Process())

    def apply(self, op: Op) -> None:
        if isinstance(op, Start):
            self._start(op)
        elif isinstance(op, End):
            self._end(op)
        elif isinstance(op, Metrics):
            batch = self.process(op.node, op.pid).batch
            batch.metrics[op.agent_id] = ({"n": op.value}, op.at)
            batch.touched.add(op.agent_id)
        elif isinstance(op, Flush):
            self.flush(op.node, op.pid)
        else:
            self._worker(op)

    def _start(self, op: Start) -> None:
        agent_id = TASKS[op.task_id]
        process = self.process(op.node, op.pid)
        process.batch.runs[op.task_id] = RunChange(agent_id, op.text, op.at)
        process.batch.touched.add(agent_id)
        process.batch.started.add((agent_id, f"app.{op.task_id}"))
        process.count(agent_id, op.at).runs += 1
        process.active.setdefault(op.task_id, op.at)
        known = self.running.setdefault(op.node, {})
        began = known[op.task_id].started_at if op.task_id in known else op.at
        known[op.task_id] = RunChange(agent_id, op.text, began)

    def _end(self, op: End) -> None:
        agent_id = TASKS[op.task_id]
        process = self.process(op.node, op.pid)
        outcome = ENDS[op.how]
        process.count(agent_id, op.at).ended(outcome, op.at, process.active.pop(op.task_id, None))
        process.batch.runs[op.task_id] = RunChange(agent_id, None, op.at, ended=True)
        if outcome is not None:
            process.batch.outcomes[agent_id] = Outcome(outcome, END_TEXTS[outcome], op.at)
        if op.metrics is not None:
            process.batch.metrics[agent_id] = ({"n": op.metrics}, op.at)
        process.batch.touched.add(agent_id)
        self.running.get(op.node, {}).pop(op.task_id, None)

    def flush(self, node: str, pid: int) -> None:
        process = self.process(node, pid)
        batch = process.batch
        if not batch:
            return
        for name, engine in self.engines.items():
            if name not in process.writers:
                with engine.begin() as conn:
                    process.writers[name] = new_writer(conn, node_name=node, hostname="host",
                                                       pid=pid)
                process.seq[name] = 0
            process.seq[name] += 1
            write_batch(engine, batch, AGENTS, node,
                        flush=FlushId(process.writers[name], process.seq[name]),
                        resend=False, statement_timeout=30.0, sent=lambda: None)
        for agent_id, outcome in batch.outcomes.items():
            if supersedes(outcome.at, _at(self.outcomes.get(agent_id))):
                self.outcomes[agent_id] = outcome
        for agent_id, metrics in batch.metrics.items():
            standing = self.metrics.get(agent_id)
            if supersedes(metrics[1], None if standing is None else standing[1]):
                self.metrics[agent_id] = metrics
        add_counts(self.days, batch.counts)
        process.batch = Batch()

    def _worker(self, op: Beat | Register | Retire) -> None:
        agents = [AGENTS[a] for a in NODES[op.node]]
        main = self.process(op.node, 0)
        for name, engine in self.engines.items():
            writer = main.writers.get(name)
            with engine.begin() as conn:
                if isinstance(op, Beat):
                    heartbeat(conn, node_name=op.node, agents=agents, offline_after=OFFLINE_AFTER,
                              hostname="host", pid=1, running=dict(self.running.get(op.node, {})),
                              writer=writer)
                elif isinstance(op, Register):
                    register_worker(conn, node_name=op.node, hostname="host", pid=1,
                                    agents=agents, since=op.since)
                else:
                    retire_worker(conn, node_name=op.node, agent_ids=NODES[op.node],
                                  offline_after=OFFLINE_AFTER, writer=writer)
        if isinstance(op, Retire):
            main.writers.clear()  # its row is gone: a later flush takes a new number


def _at(outcome: Outcome | None) -> float | None:
    return None if outcome is None else outcome.at


def clear(engines: dict[str, Engine]) -> None:
    """Empty every office table (not the migrations' version): a fresh office, kept schema."""
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    for engine in engines.values():
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY"))
            else:
                for table in tables:
                    conn.execute(text(f"DELETE FROM {table}"))


def rows(engine: Engine) -> dict[str, tuple[str, str | None, Any]]:
    """Each agent's row as the dashboard reads it: status, task, metrics."""
    with engine.connect() as conn:
        result = conn.execute(select(STATUS.c.agent_id, STATUS.c.status, STATUS.c.task,
                                     STATUS.c.metrics))
        return {r.agent_id: (AgentStatus(r.status).value, r.task, r.metrics) for r in result}


def days(engine: Engine) -> dict[tuple[str, date], tuple[Any, ...]]:
    with engine.connect() as conn:
        return {(r.agent_id, r.day): tuple(r)[2:] for r in conn.execute(select(DAY))}


def decisive(engine: Engine) -> tuple[dict[str, list[tuple[str, float, str | None]]],
                                      dict[str, tuple[float, str, str | None, float]]]:
    """What decides the rows: the runs in progress and the outcomes, as stored."""
    with engine.connect() as conn:
        runs: dict[str, list[tuple[str, float, str | None]]] = {}
        for r in conn.execute(select(RUN.c.agent_id, RUN.c.task_id, RUN.c.started_at,
                                     RUN.c.task).order_by(RUN.c.task_id)):
            runs.setdefault(r.agent_id, []).append((r.task_id, r.started_at, r.task))
        outcomes = {r.agent_id: (r.finished_at, AgentStatus(r.status).value, r.task, r.metrics_at)
                    for r in conn.execute(select(OUTCOME))}
    return runs, outcomes


def model_row(runs: list[tuple[str, float, str | None]],
              outcome: tuple[float, str, str | None, float] | None) -> tuple[str, str | None]:
    """The rule, written again from the README's table (alerts aside): the run that started
    last, the smallest task id of equal starts; else a failed or retried last outcome; else
    idle."""
    if runs:
        newest = sorted(runs, key=lambda run: (-run[1], run[0]))[0]
        return "ok", newest[2]
    if outcome is None or outcome[1] == "ok":
        return "ok", None
    return outcome[1], outcome[2]


def model_days(fleet: Fleet) -> dict[tuple[str, date], tuple[Any, ...]]:
    """The day numbers every flush added, as ``office_agent_day`` holds them."""
    def moment(at: float | None) -> datetime | None:
        return None if at is None else datetime.fromtimestamp(at, timezone.utc)

    result = {}
    for key, count in fleet.days.items():
        count = replace(count)
        values = count.as_dict()
        values["last_success_at"] = moment(count.last_success_at)
        values["last_failure_at"] = moment(count.last_failure_at)
        result[key] = tuple(values.values())
    return result
