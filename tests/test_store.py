"""The store's worker-side statements on real databases (PostgreSQL and SQLite): the cases a
worker reaches only by bad timing, set up here on purpose."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import pytest
from sqlalchemy import Engine, delete, select

from celery_office import AgentStatus, agent_statuses, create_office_engine
from celery_office.models import OfficeAgentRun, OfficeAgentStatus, OfficeWorker
from celery_office.store import Batch, RunChange, apply_batch, heartbeat, register_worker

STATUS = OfficeAgentStatus.__table__
WORKER = OfficeWorker.__table__
RUN = OfficeAgentRun.__table__
NODE = "w1@host"


@dataclass
class Agent:
    agent_id: str
    department: str = "watcher"
    name: str = "Мониторинг цен"
    brand: str | None = "ohana_market"
    salary_equivalent: int = 60000
    fte_coefficient: Decimal = Decimal("1.00")


AGENTS = {a.agent_id: a for a in (Agent("watcher_price_monitor"), Agent("watcher_night_agent"))}


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = create_office_engine(db_url)
    yield engine
    engine.dispose()


def _register(engine: Engine, since: float | None) -> None:
    with engine.begin() as conn:
        register_worker(conn, node_name=NODE, hostname="host", pid=1,
                        agents=list(AGENTS.values()), since=since)


def _start_run(engine: Engine, task_id: str, started_at: float) -> None:
    batch = Batch()
    batch.runs[task_id] = RunChange("watcher_price_monitor", "Сканирование цен", started_at)
    batch.touched.add("watcher_price_monitor")
    with engine.begin() as conn:
        apply_batch(conn, batch, AGENTS, NODE)


def _rows(engine: Engine) -> dict[str, object]:
    with engine.connect() as conn:
        return {row.agent_id: row for row in agent_statuses(conn, 300)}


def test_a_run_written_before_its_workers_registration_keeps_the_agent_working(engine) -> None:
    """A pool process may flush a run's start before the main process has registered the
    worker: registration must keep it, and drop only runs of the worker's former self."""
    started = time.time()
    _start_run(engine, "former-run", started - 3600)  # the previous process of this node
    _start_run(engine, "new-run", started + 0.5)
    _register(engine, since=started)
    with engine.connect() as conn:
        runs = [row.task_id for row in conn.execute(select(RUN.c.task_id))]
    assert runs == ["new-run"]
    row = _rows(engine)["watcher_price_monitor"]
    assert row.status is AgentStatus.ok and row.task == "Сканирование цен"


def test_registration_without_since_forgets_every_run_of_the_node(engine) -> None:
    _start_run(engine, "former-run", time.time())
    _register(engine, since=None)
    with engine.connect() as conn:
        assert conn.execute(select(RUN.c.task_id)).all() == []
    assert _rows(engine)["watcher_price_monitor"].task is None


def test_heartbeat_puts_back_rows_deleted_by_hand(engine) -> None:
    _register(engine, since=time.time() - 1)
    _start_run(engine, "run-1", time.time())
    with engine.begin() as conn:
        conn.execute(delete(STATUS))
        conn.execute(delete(WORKER))
    with engine.begin() as conn:
        heartbeat(conn, node_name=NODE, hostname="host", pid=7,
                  agents=list(AGENTS.values()), offline_after=300)
    rows = _rows(engine)
    assert set(rows) == set(AGENTS)
    assert rows["watcher_price_monitor"].status is AgentStatus.ok
    assert rows["watcher_price_monitor"].task == "Сканирование цен"  # its run is in progress
    assert rows["watcher_night_agent"].task is None
    assert rows["watcher_night_agent"].department == "watcher"
    with engine.connect() as conn:
        worker = conn.execute(select(WORKER)).one()
    assert (worker.node_name, worker.pid, sorted(worker.agents)) == (NODE, 7, sorted(AGENTS))
    assert worker.stopped_at is None
