"""Faults on purpose: the database refuses, hangs, restarts, or loses its connections while a real
prefork worker runs tasks. Tasks never notice; the table ends right once the database is back."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, text

from celery_office import AgentStatus

from ..faultproxy import FaultProxy
from .test_worker import ALL_AGENTS, _is

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

TIGHT = {
    "OFFICE_CONNECT_TIMEOUT": "2",
    "OFFICE_STATEMENT_TIMEOUT": "2",
    "OFFICE_SHUTDOWN_TIMEOUT": "2",
    "OFFICE_HEARTBEAT_INTERVAL": "1",
}


@pytest.fixture
def proxy():
    proxy = FaultProxy()
    yield proxy
    proxy.close()


def _office_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if "celery-office" in line]


def _send_mix(office, n: int) -> list:
    """n rounds of the three agents' tasks; the last round fixes each agent's final state:
    price monitor error, night agent idle, reputation idle after a retry."""
    results = []
    for _ in range(n):
        results.append(office.send("scan_prices"))
        results.append(office.send("night_check"))
    results.append(office.send("flaky_reviews", hold=0.1))
    results.append(office.send("fail_scan", message="final failure"))
    return results


def _final_state(rows) -> bool:
    return (
        set(rows) == ALL_AGENTS
        and rows["watcher_price_monitor"].status is AgentStatus.error
        and rows["watcher_price_monitor"].task == "Ошибка: ScanError: final failure"
        and rows["watcher_night_agent"].status is AgentStatus.ok
        and rows["watcher_night_agent"].task is None
        and rows["reputation_wb"].status is AgentStatus.ok
        and rows["reputation_wb"].task is None
    )


def test_database_refusing_for_the_whole_run(office_pg, proxy):
    proxy.set_mode("refuse")
    worker = office_pg.worker(env={**TIGHT, "OFFICE_DATABASE_URL": proxy.url(office_pg.db_url)})
    results = _send_mix(office_pg, 100)
    for result in results[:-1]:
        result.get(timeout=30)
    with pytest.raises(Exception, match="final failure"):
        results[-1].get(timeout=30)
    time.sleep(2)  # many flush intervals and heartbeats while down
    lines = _office_lines(worker.log)
    # one line when writes start failing per process (main + 2 pool processes), no flood
    assert len([line for line in lines if "failed on" in line]) <= 3, "\n".join(lines)
    assert len(lines) <= 8, "\n".join(lines)
    assert office_pg.rows() == {}
    proxy.set_mode("forward")
    office_pg.wait_for(_final_state, timeout=20, what="final state after the database is back")
    assert any("again" in line for line in _office_lines(worker.log))


def test_hung_database_never_delays_tasks_and_shutdown_is_bounded(office_pg, proxy):
    proxy.set_mode("hang")
    worker = office_pg.worker(env={**TIGHT, "OFFICE_DATABASE_URL": proxy.url(office_pg.db_url)})
    started = time.monotonic()
    results = [office_pg.send("scan_prices") for _ in range(200)]
    for result in results:
        result.get(timeout=30)
    took = time.monotonic() - started
    assert took < 20, f"200 no-op tasks took {took:.1f} s with a hung database"
    started = time.monotonic()
    assert worker.stop(timeout=30) == 0
    stopping = time.monotonic() - started
    # documented bound: about 2 x office_shutdown_timeout (pool processes, then the main one)
    # plus one connect attempt under way
    assert stopping < 2 * 2 + 2 + 5, f"warm shutdown took {stopping:.1f} s"


def test_database_that_hangs_mid_run_recovers(office_pg, proxy):
    worker = office_pg.worker(env={**TIGHT, "OFFICE_DATABASE_URL": proxy.url(office_pg.db_url)})
    office_pg.wait_for(lambda r: set(r) == ALL_AGENTS, what="registration")
    proxy.set_mode("hang")  # open connections stop relaying, new ones are never answered
    results = _send_mix(office_pg, 20)
    for result in results[:-1]:
        result.get(timeout=30)
    time.sleep(1)
    proxy.set_mode("forward")
    office_pg.wait_for(_final_state, timeout=30, what="final state after the hang")
    assert worker.proc.poll() is None


def test_connections_killed_and_database_restarted_mid_run(office_pg, proxy):
    worker = office_pg.worker(env={**TIGHT, "OFFICE_DATABASE_URL": proxy.url(office_pg.db_url)})
    office_pg.wait_for(lambda r: set(r) == ALL_AGENTS, what="registration")
    admin = create_engine(office_pg.db_url, isolation_level="AUTOCOMMIT")
    results = []
    for round_ in range(6):
        results += [office_pg.send("scan_prices", duration=0.05) for _ in range(10)]
        if round_ % 2 == 0:
            with admin.connect() as conn:  # every connection of the workers, killed
                conn.execute(
                    text(
                        "select pg_terminate_backend(pid) from pg_stat_activity "
                        "where datname = current_database() and pid <> pg_backend_pid()"
                    )
                )
        else:  # the database goes away and comes back, as in a restart
            proxy.set_mode("refuse")
            time.sleep(0.5)
            proxy.set_mode("forward")
        time.sleep(0.3)
    results += _send_mix(office_pg, 1)
    for result in results:
        result.get(timeout=30, propagate=False)
    office_pg.wait_for(_final_state, timeout=20, what="final state after kills and restarts")
    admin.dispose()
    assert worker.proc.poll() is None


def test_a_run_whose_end_was_never_written_stops_counting(office_pg):
    """A run of this worker in the table that it no longer runs (its end never reached the
    table: a task requeued by reject_on_worker_lost, a process lost after storing its result;
    Celery sends no signal for either) is ended by the main process after a grace, with one
    warning: the agent does not show working forever."""
    worker = office_pg.worker(concurrency=1, env=TIGHT)
    office_pg.wait_for(lambda r: set(r) == ALL_AGENTS, what="registration")
    node = office_pg.sql("select node_name from office_worker")[0].node_name
    with office_pg.engine.begin() as conn:  # what such a run leaves behind
        conn.execute(
            text(
                "insert into office_agent_run (task_id, agent_id, node_name, task, started_at) "
                "values ('requeued-1', 'watcher_price_monitor', :node, 'Сканирование', 0)"
            ),
            {"node": node},
        )
        conn.execute(
            text("update office_agent_status set task = 'Сканирование' "
                 "where agent_id = 'watcher_price_monitor'")
        )
    rows = office_pg.wait_for(
        _is("watcher_price_monitor", AgentStatus.ok, None),
        timeout=30, what="the lost run ended by the main process",
    )
    assert office_pg.sql("select task_id from office_agent_run") == []
    assert "ended without their end being written" in worker.log
    assert rows["watcher_price_monitor"].effective_status is AgentStatus.ok


def test_a_trigger_refusing_one_agent_with_a_plain_raise_blocks_no_other(office_pg):
    """A DBA's trigger refuses one agent's error text with `RAISE EXCEPTION` (SQLSTATE P0001):
    that change is dropped with one error line naming the agent, and the other agents keep
    flowing (a 3 s run shows working) instead of every status waiting behind it. One pool
    process, so both changes travel the same way."""
    worker = office_pg.worker(env=TIGHT, concurrency=1)
    office_pg.wait_for(lambda r: set(r) == ALL_AGENTS, what="registration")
    with office_pg.engine.begin() as conn:
        conn.exec_driver_sql(
            "create function office_refuse() returns trigger language plpgsql as $$ begin "
            "if position('poison' in coalesce(new.task, '')) > 0 then "
            "raise exception 'no poison here'; end if; return new; end $$"
        )
        conn.exec_driver_sql(
            "create trigger office_refuse before insert or update on office_agent_status "
            "for each row execute function office_refuse()"
        )
    failing = office_pg.send("fail_scan", message="poison")
    working = office_pg.send("night_check", duration=3.0)
    office_pg.wait_for(
        _is("watcher_night_agent", AgentStatus.ok, "office_app.night_check"),
        timeout=15, what="the other agent shown working while the refusal lasts",
    )
    failing.get(timeout=20, propagate=False)
    working.get(timeout=20)
    office_pg.wait_for(_is("watcher_night_agent", AgentStatus.ok, None), what="then idle")
    errors = [line for line in _office_lines(worker.log) if "refuses the status change" in line]
    assert len(errors) == 1 and "watcher_price_monitor" in errors[0], errors
    assert office_pg.row("watcher_price_monitor").task != "Ошибка: ScanError: poison"


def test_connections_killed_again_and_again_are_replaced_quietly(office_pg):
    """A `pg_terminate_backend` loop (a DBA's script, a pooler recycling connections): each
    write finds its connection dropped and replaces it at once. The README says quietly: once,
    every worker logged a failure and a recovery line for each kill."""
    worker = office_pg.worker(env={"OFFICE_HEARTBEAT_INTERVAL": "0.5"})
    office_pg.wait_for(lambda r: set(r) == ALL_AGENTS, what="registration")
    admin = create_engine(office_pg.db_url, isolation_level="AUTOCOMMIT")
    killed = 0
    try:
        for round_ in range(150):
            if round_ % 5 == 0:
                office_pg.send("scan_prices", duration=0.05)
            time.sleep(0.06)
            with admin.connect() as conn:
                killed += conn.execute(text(
                    "select count(pg_terminate_backend(pid)) from pg_stat_activity "
                    "where datname = current_database() and application_name = 'celery-office'"
                )).scalar_one()
    finally:
        admin.dispose()
    assert killed >= 10, killed  # the writer really had its connections cut, many times
    result = office_pg.send("fail_scan")
    result.get(timeout=20, propagate=False)
    office_pg.wait_for(_is("watcher_price_monitor", AgentStatus.error), what="statuses still land")
    noisy = [line for line in _office_lines(worker.log) if "WARNING" in line or "ERROR" in line]
    assert noisy == [], noisy
