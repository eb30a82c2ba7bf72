"""The main process's duties against real databases: registration, the heartbeat and its
lost-run repair, retirement."""

from __future__ import annotations

import time
from datetime import timedelta

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


def test_a_bug_in_judging_schedules_never_stops_the_heartbeat(db_url: str, caplog) -> None:
    """An expected run whose arithmetic overflows (a beat entry of a billion days) made every
    heartbeat fail, logged as the database being down: the agents read offline while the
    worker ran. The judgement fails alone, said as what it is; the beat goes through."""
    from celery.schedules import schedule

    from celery_office.worker.guard import GuardedDatabase
    from celery_office.worker.watch import Expected, Watch

    settings = OfficeSettings(database_url=db_url, flush_interval=0.1, statement_timeout=1.0)
    huge = Expected(AGENT, "app.scan", "Сканирование", schedule(timedelta(days=999_999_990)), 60.0)
    watch = Watch(expected=[huge], limits={}, timezone="UTC")
    duties = WorkerDuties(settings, AGENTS, node_name=NODE, started_at=time.time(), watch=watch)
    db = GuardedDatabase(settings)
    assert db.run("registration", duties.register)
    engine = create_office_engine(db_url)
    before = _rows(engine)[AGENT].last_activity
    time.sleep(0.05)
    assert db.run("heartbeat", duties.beat)
    assert db.run("heartbeat", duties.beat)
    assert _rows(engine)[AGENT].last_activity > before
    assert not db.failing
    assert "heartbeat failed on" not in caplog.text
    assert "database is back" not in caplog.text
    judged = [r.getMessage() for r in caplog.records if "missed schedules" in r.getMessage()]
    assert len(judged) == 1, judged  # said once, as a bug in judging, not a database failure
    assert "OverflowError" in judged[0]
    engine.dispose()
    db.engine.dispose()


def test_an_unexpected_error_of_a_write_is_not_called_a_database_failure(
    db_url: str, caplog
) -> None:
    from celery_office.worker.guard import GuardedDatabase

    db = GuardedDatabase(OfficeSettings(database_url=db_url))

    def buggy(conn) -> None:
        raise KeyError("a bug in celery-office")

    assert not db.run("status write", buggy)
    assert not db.run("status write", buggy)
    assert not db.failing  # no outage back-off, no "again" line when the next write works
    assert "database is back" not in caplog.text
    lines = [r.getMessage() for r in caplog.records if "KeyError" in r.getMessage()]
    assert len(lines) == 1 and "not the database" in lines[0], lines
    db.engine.dispose()


def test_a_heartbeat_that_works_while_status_writes_fail_does_not_say_again(
    db_url: str, caplog
) -> None:
    """Status writes fail (here a missing table; in life a table a DBA locked) while the
    heartbeat goes through: the log says the failure once and "again" only once a status
    write went through. Once, every heartbeat said "again" and the next write "failed"."""
    from celery_office.worker.guard import GuardedDatabase

    db = GuardedDatabase(OfficeSettings(database_url=db_url))

    def status_write(conn) -> None:
        conn.execute(text("select * from office_table_that_is_not_there"))

    def beat(conn) -> None:
        conn.execute(text("select 1"))

    for _ in range(3):
        assert not db.run("status write", status_write)
        assert db.run("heartbeat", beat)
    assert db.failing  # still: the back-off holds
    lines = [r.getMessage() for r in caplog.records if "celery-office" in r.getMessage()]
    assert len([line for line in lines if "status write failed" in line]) == 1, lines
    assert not any("again" in line for line in lines), lines
    assert db.run("status write", beat)
    assert not db.failing
    lines = [r.getMessage() for r in caplog.records if "celery-office" in r.getMessage()]
    assert len([line for line in lines if "again" in line]) == 1, lines
    db.engine.dispose()
