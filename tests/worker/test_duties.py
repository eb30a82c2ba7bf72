"""The main process's duties against real databases: registration, the heartbeat and its
lost-run repair, retirement."""

from __future__ import annotations

import time

from sqlalchemy import text

from celery_office import AgentStatus, agent_statuses, create_office_engine
from celery_office.settings import OfficeSettings
from celery_office.worker import duties as duties_module
from celery_office.worker.duties import LOST_RUN_GRACE_MIN, WorkerDuties

from ..db.test_store import AGENTS

AGENT = "watcher_price_monitor"
NODE = "w1@host"


def _rows(engine):
    with engine.connect() as conn:
        return {row.agent_id: row for row in agent_statuses(conn)}


def test_register_beat_and_retire(db_url: str) -> None:
    settings = OfficeSettings(database_url=db_url, flush_interval=0.1, statement_timeout=1.0)
    duties = WorkerDuties(settings, AGENTS, node_name=NODE, started_at=time.time())
    engine = create_office_engine(db_url)
    with engine.begin() as conn:
        duties.register(conn)
    registered = _rows(engine)[AGENT].last_activity
    time.sleep(0.05)
    with engine.begin() as conn:
        duties.beat(conn)
    assert _rows(engine)[AGENT].last_activity > registered
    with engine.begin() as conn:
        duties.retire(conn)
    assert {row.status for row in _rows(engine).values()} == {AgentStatus.offline}
    engine.dispose()


def test_a_run_this_worker_no_longer_runs_is_ended_after_the_grace(
    db_url: str, monkeypatch, caplog
) -> None:
    settings = OfficeSettings(database_url=db_url, flush_interval=0.1, statement_timeout=1.0)
    duties = WorkerDuties(settings, AGENTS, node_name=NODE, started_at=time.time())
    engine = create_office_engine(db_url)
    with engine.begin() as conn:
        duties.register(conn)
        conn.execute(
            text("insert into office_agent_run (task_id, agent_id, node_name, task, started_at) "
                 "values ('requeued', :agent, :node, 'Сканирование', :at)"),
            {"agent": AGENT, "node": NODE, "at": time.time()},
        )
    clock = [time.monotonic()]
    monkeypatch.setattr(duties_module.time, "monotonic", lambda: clock[0])
    with engine.begin() as conn:
        duties.beat(conn)  # first seen unowned: not yet
    with engine.connect() as conn:
        assert conn.execute(text("select count(*) from office_agent_run")).scalar_one() == 1
    clock[0] += LOST_RUN_GRACE_MIN + settings.statement_timeout + 0.1
    with engine.begin() as conn:
        duties.beat(conn)
    with engine.connect() as conn:
        assert conn.execute(text("select count(*) from office_agent_run")).scalar_one() == 0
    assert "ended without their end being written" in caplog.text
    engine.dispose()
