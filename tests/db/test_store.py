"""The store's worker-side statements on real databases (PostgreSQL and SQLite): the cases a
worker reaches only by bad timing, set up here on purpose."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import Engine, delete, select, update

from celery_office import AgentStatus, agent_statuses, create_office_engine
from celery_office.core.changes import Batch, RunChange
from celery_office.db.batches import apply_batch
from celery_office.db.heartbeat import heartbeat
from celery_office.db.models import OfficeAgentRun, OfficeAgentStatus, OfficeWorker, OfficeWriter
from celery_office.db.workers import new_writer, register_worker, retire_worker

STATUS = OfficeAgentStatus.__table__
WORKER = OfficeWorker.__table__
RUN = OfficeAgentRun.__table__
WRITER = OfficeWriter.__table__
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


def _start_run(
    engine: Engine, task_id: str, started_at: float, *,
    agent: Agent = AGENTS["watcher_price_monitor"], text: str = "Сканирование цен",
    node: str = NODE,
) -> None:
    batch = Batch()
    batch.runs[task_id] = RunChange(agent.agent_id, text, started_at)
    batch.touched.add(agent.agent_id)
    with engine.begin() as conn:
        apply_batch(conn, batch, {agent.agent_id: agent}, node)


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


# --------------------------------------------------------------------------- other workers

SCOUT = Agent("scout_trends", department="scout", name="Тренды")
OTHER = "w2@host"


def _register_node(engine: Engine, node: str, agents: list[Agent]) -> None:
    with engine.begin() as conn:
        register_worker(conn, node_name=node, hostname="host", pid=2, agents=agents,
                        since=time.time() - 1)


def _beat(engine: Engine) -> None:
    with engine.begin() as conn:
        heartbeat(conn, node_name=NODE, hostname="host", pid=1,
                  agents=list(AGENTS.values()), offline_after=300)


def test_a_dead_workers_run_stops_counting_without_faking_life_for_its_agent(engine) -> None:
    """w2 served the scout agent alone and died mid-run: w1's heartbeat ends the run, and the
    scout agent keeps its old last_activity, so it still reads offline (nobody serves it)."""
    _register(engine, since=time.time() - 1)
    _register_node(engine, OTHER, [SCOUT])
    _start_run(engine, "scout-run", time.time(), agent=SCOUT, text="Поиск трендов", node=OTHER)
    assert _rows(engine)[SCOUT.agent_id].task == "Поиск трендов"
    with engine.begin() as conn:  # w2 went silent 10 minutes ago, and so did its agent
        conn.execute(update(WORKER).where(WORKER.c.node_name == OTHER)
                     .values(last_seen=_minutes_ago(conn, 10)))
        conn.execute(update(STATUS).where(STATUS.c.agent_id == SCOUT.agent_id)
                     .values(last_activity=_minutes_ago(conn, 10)))
    _beat(engine)
    scout = _rows(engine)[SCOUT.agent_id]
    assert (scout.status, scout.task) == (AgentStatus.ok, None)  # no run in progress
    assert scout.effective_status is AgentStatus.offline
    assert scout.silent_for > 590
    with engine.connect() as conn:
        assert conn.execute(select(RUN.c.task_id)).all() == []


def test_heartbeat_brings_back_an_agent_another_worker_retired_by_mistake(engine) -> None:
    """During a long outage w2 took w1 for dead and retired the agents they share: w1's
    next heartbeat puts them back to what their runs say."""
    _register(engine, since=time.time() - 1)
    _start_run(engine, "run-1", time.time())
    with engine.begin() as conn:
        conn.execute(update(STATUS).values(status=AgentStatus.offline, task=None))
    _beat(engine)
    rows = _rows(engine)
    assert rows["watcher_price_monitor"].status is AgentStatus.ok
    assert rows["watcher_price_monitor"].task == "Сканирование цен"
    assert rows["watcher_night_agent"].status is AgentStatus.ok


def test_a_worker_serving_no_agent_registers_and_beats(engine) -> None:
    with engine.begin() as conn:
        register_worker(conn, node_name=NODE, hostname="host", pid=1, agents=[])
        heartbeat(conn, node_name=NODE, agents=[], offline_after=300)
        assert retire_worker(conn, node_name=NODE, agent_ids=[], offline_after=300) == []
    with engine.connect() as conn:
        assert conn.execute(select(WORKER.c.node_name)).scalars().all() == [NODE]


def test_a_task_id_too_long_for_the_column_is_still_tracked(engine) -> None:
    """Celery takes any string as a custom task id: one over 255 characters must neither fail
    the batch (and block every later write) nor lose its end."""
    _register(engine, since=time.time() - 1)
    long_id = "report-" + "x" * 400
    _start_run(engine, long_id, time.time())
    assert _rows(engine)["watcher_price_monitor"].task == "Сканирование цен"
    batch = Batch()
    batch.runs[long_id] = RunChange("watcher_price_monitor", None, time.time(), ended=True)
    batch.touched.add("watcher_price_monitor")
    with engine.begin() as conn:
        apply_batch(conn, batch, AGENTS, NODE)
    assert _rows(engine)["watcher_price_monitor"].task is None
    with engine.connect() as conn:
        assert conn.execute(select(RUN.c.task_id)).all() == []


def test_two_workers_retiring_together_leave_their_shared_agents_offline(pg_url) -> None:
    """Both stop at once: neither may count the other as live, or nobody marks them offline."""
    engine = create_office_engine(pg_url)
    try:
        _register(engine, since=time.time() - 1)
        _register_node(engine, OTHER, list(AGENTS.values()))
        first = engine.connect()
        first.begin()
        retire_worker(first, node_name=NODE, agent_ids=sorted(AGENTS), offline_after=300)
        second: list[list[str]] = []
        thread = threading.Thread(target=lambda: second.append(_retire(engine, OTHER)))
        thread.start()
        time.sleep(0.5)  # the second waits for the first's locks
        assert thread.is_alive()
        first.commit()
        first.close()
        thread.join(10)
        assert second == [sorted(AGENTS)]
        rows = _rows(engine)
        assert {row.status for row in rows.values()} == {AgentStatus.offline}
    finally:
        engine.dispose()


def _retire(engine: Engine, node: str) -> list[str]:
    with engine.begin() as conn:
        return retire_worker(conn, node_name=node, agent_ids=sorted(AGENTS), offline_after=300)


def _minutes_ago(conn, minutes: float):
    from celery_office.db.statements import seconds_ago

    return seconds_ago(conn, minutes * 60)


def test_heartbeat_ends_only_runs_still_its_own(engine) -> None:
    """The main process found two runs it no longer runs; one was taken over by w2 since
    (a requeued task started there): only the first is ended."""
    _register(engine, since=time.time() - 1)
    _register_node(engine, OTHER, list(AGENTS.values()))
    _start_run(engine, "lost-run", time.time())
    _start_run(engine, "requeued-run", time.time())
    # w2 starts the requeued task: the row is now w2's
    _start_run(engine, "requeued-run", time.time(), text="Повторный запуск", node=OTHER)
    with engine.begin() as conn:
        heartbeat(conn, node_name=NODE, hostname="host", pid=1, agents=list(AGENTS.values()),
                  offline_after=300,
                  end_runs={"lost-run": "watcher_price_monitor",
                            "requeued-run": "watcher_price_monitor"})
    with engine.connect() as conn:
        runs = conn.execute(select(RUN.c.task_id, RUN.c.node_name)).all()
    assert [tuple(r) for r in runs] == [("requeued-run", OTHER)]
    assert _rows(engine)["watcher_price_monitor"].task == "Повторный запуск"


def test_a_dead_workers_run_leaves_an_offline_agent_offline(engine) -> None:
    """w2 was retired (its agent offline) yet a run of a dead w3 remained: clearing that run
    must not bring the agent back to ok."""
    _register(engine, since=time.time() - 1)
    _register_node(engine, OTHER, [SCOUT])
    # w3 never registered: its run is an orphan from the start
    _start_run(engine, "scout-run", time.time(), agent=SCOUT, text="Поиск трендов", node="w3@host")
    with engine.begin() as conn:
        conn.execute(update(STATUS).where(STATUS.c.agent_id == SCOUT.agent_id)
                     .values(status=AgentStatus.offline, task=None))
    _beat(engine)
    assert _rows(engine)[SCOUT.agent_id].status is AgentStatus.offline
    with engine.connect() as conn:
        assert conn.execute(select(RUN.c.task_id)).all() == []


def test_heartbeat_leaves_the_last_activity_of_agents_whose_changes_wait(engine) -> None:
    """Liveness follows status writes: an agent whose changes wait to be written (a flush
    behind a lock, in doubt) keeps the last_activity its last write set; the others are
    refreshed, and the worker's own row too."""
    _register(engine, since=None)
    with engine.begin() as conn:
        conn.execute(update(OfficeAgentStatus.__table__).values(
            last_activity=datetime(2026, 1, 1, tzinfo=timezone.utc)))
    with engine.begin() as conn:
        heartbeat(conn, node_name=NODE, agents=list(AGENTS.values()), offline_after=300.0,
                  waiting={"watcher_price_monitor"})
    with engine.connect() as conn:
        seen = {row.agent_id: row.last_activity for row in agent_statuses(conn)}
    assert seen["watcher_price_monitor"] == datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert seen["watcher_night_agent"] > datetime(2026, 1, 2, tzinfo=timezone.utc)


def test_heartbeat_leaves_agents_whose_changes_wait_in_another_worker(engine) -> None:
    """An agent served by two workers: while one of them has its changes waiting (its
    heartbeat said so), the other's heartbeat does not keep it alive either; once the first
    says nothing waits any more (or falls silent: dead), the other refreshes it again."""
    _register(engine, since=None)
    old = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with engine.begin() as conn:
        stuck = new_writer(conn, node_name="w2@host", hostname="host", pid=2)
        beating = new_writer(conn, node_name=NODE, hostname="host", pid=1)

    def beat(node: str, writer: int, waiting: set[str] = frozenset()) -> dict[str, datetime]:
        with engine.begin() as conn:
            conn.execute(update(STATUS).values(last_activity=old))
        with engine.begin() as conn:
            heartbeat(conn, node_name=node, agents=list(AGENTS.values()), offline_after=300.0,
                      writer=writer, waiting=waiting)
        with engine.connect() as conn:
            return {row.agent_id: row.last_activity for row in agent_statuses(conn)}

    beat("w2@host", stuck, {"watcher_price_monitor"})
    seen = beat(NODE, beating)
    assert seen["watcher_price_monitor"] == old
    assert seen["watcher_night_agent"] > old
    beat("w2@host", stuck)  # written at last: nothing waits in it any more
    assert beat(NODE, beating)["watcher_price_monitor"] > old
    beat("w2@host", stuck, {"watcher_price_monitor"})
    with engine.begin() as conn:  # then silent past office_offline_after: dead, nothing waits
        conn.execute(update(WRITER).where(WRITER.c.writer_id == stuck)
                     .values(last_seen=datetime(2026, 1, 1, tzinfo=timezone.utc)))
    assert beat(NODE, beating)["watcher_price_monitor"] > old


def test_registration_leaves_agents_whose_changes_wait(engine) -> None:
    """A worker that (re)starts while another's changes of an agent wait (its heartbeat said
    so), or with changes of its own waiting (a solo pool runs tasks before it registers),
    does not refresh their last_activity by registering; the other agents' it does."""
    old = datetime(2026, 1, 1, tzinfo=timezone.utc)
    _register(engine, since=None)
    with engine.begin() as conn:
        stuck = new_writer(conn, node_name="w2@host", hostname="host", pid=2)
        heartbeat(conn, node_name="w2@host", agents=list(AGENTS.values()), offline_after=300.0,
                  writer=stuck, waiting={"watcher_price_monitor"})
        conn.execute(update(STATUS).values(last_activity=old))
    with engine.begin() as conn:
        register_worker(conn, node_name=NODE, hostname="host", pid=1, agents=list(AGENTS.values()),
                        offline_after=300.0, waiting={"watcher_night_agent"})
    seen = {a: row.last_activity for a, row in _rows(engine).items()}
    assert seen == {"watcher_price_monitor": old, "watcher_night_agent": old}
    with engine.begin() as conn:
        register_worker(conn, node_name=NODE, hostname="host", pid=1, agents=list(AGENTS.values()),
                        offline_after=300.0)
    seen = {a: row.last_activity for a, row in _rows(engine).items()}
    assert seen["watcher_price_monitor"] == old and seen["watcher_night_agent"] > old


def test_a_restart_that_no_longer_serves_an_agent_leaves_no_stale_run_on_its_row(engine) -> None:
    """The worker's registry dropped an agent across a restart: registration deletes the
    node's former runs, so that agent's row must not keep showing one (it showed the gone
    run's text for good); nothing of it looks alive either."""
    started = time.time()
    night = AGENTS["watcher_night_agent"]
    _start_run(engine, "former-run", started - 3600, agent=night, text="Ночная проверка")
    old = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with engine.begin() as conn:
        conn.execute(update(STATUS).values(last_activity=old))
    with engine.begin() as conn:
        register_worker(conn, node_name=NODE, hostname="host", pid=1,
                        agents=[AGENTS["watcher_price_monitor"]], since=started)
    row = _rows(engine)["watcher_night_agent"]
    assert row.task is None and row.last_activity == old
