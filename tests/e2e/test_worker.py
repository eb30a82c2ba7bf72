"""What the table shows while a real prefork worker runs real tasks (PostgreSQL, Redis)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from decimal import Decimal

import pytest
from sqlalchemy import text

from celery_office import AgentStatus

from .conftest import HERE

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

ALL_AGENTS = {"watcher_price_monitor", "watcher_night_agent", "reputation_wb"}


def _is(agent, status, task=...):
    def check(rows):
        row = rows.get(agent)
        if row is None or row.status is not status:
            return False
        return task is ... or row.task == task

    return check


def test_worker_start_registers_every_agent_it_serves(office_pg):
    office_pg.worker()
    rows = office_pg.wait_for(lambda r: set(r) == ALL_AGENTS, what="registration")
    price = rows["watcher_price_monitor"]
    assert (price.department, price.name, price.brand) == (
        "watcher", "Мониторинг цен", "ohana_market",
    )
    assert (price.salary_equivalent, price.fte_coefficient) == (65000, Decimal("1.50"))
    assert price.status is AgentStatus.ok and price.task is None
    assert rows["reputation_wb"].brand is None  # `brand: null` overrides the default
    assert rows["watcher_night_agent"].salary_equivalent == 60000
    assert all(r.effective_status is AgentStatus.ok for r in rows.values())
    workers = office_pg.sql("select node_name, stopped_at from office_worker")
    assert [w.node_name.split("@")[0] for w in workers] == ["w1"]


def test_working_then_idle_with_metrics_unchanged(office_pg):
    office_pg.worker()
    office_pg.wait_for(lambda r: set(r) == ALL_AGENTS, what="registration")
    before = office_pg.row("watcher_price_monitor")
    result = office_pg.send("scan_prices", duration=2.0)
    office_pg.wait_for(
        _is("watcher_price_monitor", AgentStatus.ok, "Сканирование цен конкурентов"),
        what="working text",
    )
    assert result.get(timeout=20) == {"products_scanned": 150}
    rows = office_pg.wait_for(_is("watcher_price_monitor", AgentStatus.ok, None), what="idle")
    after = rows["watcher_price_monitor"]
    assert after.metrics == before.metrics == {}  # no @metrics decorator: metrics unchanged
    assert after.last_activity > before.last_activity


def test_glob_with_null_text_shows_the_task_name(office_pg):
    office_pg.worker()
    office_pg.send("night_check", duration=2.0)
    office_pg.wait_for(
        _is("watcher_night_agent", AgentStatus.ok, "office_app.night_check"), what="task name"
    )


def test_failure_shows_the_error(office_pg):
    office_pg.worker()
    result = office_pg.send("fail_scan")
    # The task's own exception, not any (a result that never came would raise TimeoutError):
    with pytest.raises(Exception, match="^Wildberries API timeout after 30s$") as info:
        result.get(timeout=20)
    assert type(info.value).__name__ == "ScanError"
    office_pg.wait_for(
        _is(
            "watcher_price_monitor",
            AgentStatus.error,
            "Ошибка: ScanError: Wildberries API timeout after 30s",
        ),
        what="error",
    )


def test_long_error_message_is_cut_to_the_column(office_pg):
    office_pg.worker()
    office_pg.send("fail_scan", message="x" * 1000)
    rows = office_pg.wait_for(_is("watcher_price_monitor", AgentStatus.error), what="error")
    task = rows["watcher_price_monitor"].task
    assert len(task) == 255 and task.startswith("Ошибка: ScanError: xxx") and task.endswith("…")


def test_retry_shows_a_warning_then_idle(office_pg):
    office_pg.worker()
    result = office_pg.send("flaky_reviews", hold=3.0)
    rows = office_pg.wait_for(_is("reputation_wb", AgentStatus.warning), what="warning")
    # the cause named as an error is, and when the next try is due; not Celery's wrapper
    assert rows["reputation_wb"].task == (
        "Повтор: Обработка отзывов Wildberries — ScanError: rate limit 429 "
        "(следующая попытка через 3 с)"
    )
    assert result.get(timeout=20) == {"reviews_today": 47}
    office_pg.wait_for(_is("reputation_wb", AgentStatus.ok, None), what="idle after retry")


def test_killed_pool_process_is_an_error(office_pg, tmp_path):
    office_pg.worker()
    pid_file = tmp_path / "pid"
    office_pg.send("scan_prices", duration=30.0, pid_file=str(pid_file))
    office_pg.wait_for(
        _is("watcher_price_monitor", AgentStatus.ok, "Сканирование цен конкурентов"),
        what="working",
    )
    os.kill(int(pid_file.read_text()), signal.SIGKILL)
    rows = office_pg.wait_for(_is("watcher_price_monitor", AgentStatus.error), what="error")
    assert rows["watcher_price_monitor"].task.startswith("Ошибка: WorkerLostError")
    assert office_pg.sql("select * from office_agent_run") == []


def test_hard_time_limit_is_an_error(office_pg):
    office_pg.worker()
    office_pg.send("overrun", duration=10.0)
    rows = office_pg.wait_for(
        _is("watcher_night_agent", AgentStatus.error), timeout=20, what="time limit error"
    )
    assert rows["watcher_night_agent"].task.startswith("Ошибка: TimeLimitExceeded")


def test_terminated_run_is_not_an_error(office_pg):
    office_pg.worker()
    result = office_pg.send("scan_prices", duration=30.0)
    office_pg.wait_for(
        _is("watcher_price_monitor", AgentStatus.ok, "Сканирование цен конкурентов"),
        what="working",
    )
    office_pg.app.control.revoke(result.id, terminate=True)
    office_pg.wait_for(_is("watcher_price_monitor", AgentStatus.ok, None), what="idle")


def test_tasks_of_no_agent_are_not_reported(office_pg):
    """A task no agent covers leaves every row as it was: no last_activity moved, no outcome,
    no run recorded. (Its row would read idle again soon after a wrong route, so comparing
    statuses alone could not tell.)"""
    office_pg.worker(pool="solo")  # one process, one buffer: a later flush covers the earlier
    before = office_pg.wait_for(lambda r: set(r) == ALL_AGENTS, what="registration")
    outcomes = "select agent_id, status, task from office_agent_outcome order by agent_id"
    outcomes_before = office_pg.sql(outcomes)
    assert office_pg.send("untracked", duration=0.3).get(timeout=20) == "not an agent's task"
    # A barrier: a tracked task of one agent, after the untracked one, in the same process.
    # Once its end is in the table, whatever the untracked run wrote would be there too.
    assert office_pg.send("night_check").get(timeout=20) == "done"
    office_pg.wait_for(
        lambda r: r["watcher_night_agent"].last_activity
        > before["watcher_night_agent"].last_activity
        and r["watcher_night_agent"].task is None,
        what="the barrier task's end",
    )
    after = office_pg.rows()
    assert set(after) == ALL_AGENTS
    for agent in ALL_AGENTS - {"watcher_night_agent"}:
        assert after[agent].last_activity == before[agent].last_activity, agent
        assert (after[agent].status, after[agent].task) == (AgentStatus.ok, None), agent
    barrier = [row for row in office_pg.sql(outcomes) if row not in outcomes_before]
    assert [(row.agent_id, row.status) for row in barrier] == [("watcher_night_agent", "ok")]
    assert office_pg.sql("select task_id, agent_id from office_agent_run") == []


def test_heartbeat_moves_last_activity_without_tasks(office_pg):
    office_pg.worker(env={"OFFICE_HEARTBEAT_INTERVAL": "0.5"})
    first = office_pg.wait_for(lambda r: set(r) == ALL_AGENTS, what="registration")
    start = {a: r.last_activity for a, r in first.items()}
    office_pg.wait_for(
        lambda r: all(r[a].last_activity > start[a] for a in ALL_AGENTS), timeout=10,
        what="heartbeat",
    )
    seen = office_pg.sql("select last_seen from office_worker")[0].last_seen
    time.sleep(1.2)
    assert office_pg.sql("select last_seen from office_worker")[0].last_seen > seen


def test_heartbeat_brings_back_rows_deleted_by_hand(office_pg):
    """Someone cleans the tables while the worker runs: its next heartbeat restores its
    agents (idle, from the registry) and its own worker row, and later runs show again."""
    office_pg.worker(env={"OFFICE_HEARTBEAT_INTERVAL": "0.5"})
    office_pg.wait_for(lambda r: set(r) == ALL_AGENTS, what="registration")
    with office_pg.engine.begin() as conn:
        conn.execute(text("delete from office_agent_status"))
        conn.execute(text("delete from office_worker"))
    rows = office_pg.wait_for(lambda r: set(r) == ALL_AGENTS, timeout=10, what="rows restored")
    assert all(r.status is AgentStatus.ok and r.task is None for r in rows.values())
    assert rows["watcher_price_monitor"].department == "watcher"
    assert [r.node_name for r in office_pg.sql("select node_name from office_worker")] == [
        f"w1@{socket.gethostname()}"
    ]
    office_pg.send("fail_scan")
    office_pg.wait_for(_is("watcher_price_monitor", AgentStatus.error), what="error after restore")


def test_warm_shutdown_marks_agents_offline(office_pg):
    worker = office_pg.worker()
    office_pg.wait_for(lambda r: set(r) == ALL_AGENTS, what="registration")
    assert worker.stop() == 0
    rows = office_pg.rows()
    assert {a: r.status for a, r in rows.items()} == {a: AgentStatus.offline for a in ALL_AGENTS}
    assert all(r.task is None for r in rows.values())
    assert office_pg.sql("select stopped_at from office_worker")[0].stopped_at is not None


@pytest.mark.parametrize("how", ["SIGINT", "celery control shutdown"])
def test_other_warm_shutdowns_mark_agents_offline(office_pg, how):
    worker = office_pg.worker()
    office_pg.wait_for(lambda r: set(r) == ALL_AGENTS, what="registration")
    if how == "SIGINT":
        worker.signal(signal.SIGINT)
    else:
        office_pg.app.control.shutdown(destination=[f"w1@{socket.gethostname()}"])
    worker.wait()
    rows = office_pg.rows()
    assert {a: r.status for a, r in rows.items()} == {a: AgentStatus.offline for a in ALL_AGENTS}
    assert office_pg.sql("select stopped_at from office_worker")[0].stopped_at is not None


def test_a_warm_restart_keeps_an_agents_error_until_its_next_success(office_pg):
    """Restarting a worker is not a success. Once, the start turned an offline agent into ok
    and forgot its outcome, so an agent in error read ok after a deploy and
    ``status --fail-on error`` passed; the README says an error stays until the agent's next
    successful run (a test named ``..._keeps_errors`` asserted the opposite)."""
    worker = office_pg.worker()
    office_pg.send("fail_scan")
    office_pg.wait_for(_is("watcher_price_monitor", AgentStatus.error), what="error")
    error = office_pg.row("watcher_price_monitor")
    assert worker.stop() == 0
    rows = office_pg.rows()
    assert {a: (r.status, r.task) for a, r in rows.items()} == {
        a: (AgentStatus.offline, None) for a in ALL_AGENTS
    }
    office_pg.worker()
    rows = office_pg.wait_for(
        lambda r: all(r[a].status is not AgentStatus.offline for a in ALL_AGENTS), what="back"
    )
    assert (rows["watcher_price_monitor"].status, rows["watcher_price_monitor"].task) == (
        AgentStatus.error, error.task
    )
    assert {a: (rows[a].status, rows[a].task) for a in ALL_AGENTS - {"watcher_price_monitor"}} \
        == {a: (AgentStatus.ok, None) for a in ALL_AGENTS - {"watcher_price_monitor"}}
    check = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "office_app", "office", "status",
         "--fail-on", "error"], cwd=HERE, env=office_pg.env, capture_output=True, text=True,
        timeout=60,
    )
    assert check.returncode == 1 and "watcher_price_monitor" in check.stderr, check
    office_pg.send("scan_prices").get(timeout=20)
    office_pg.wait_for(_is("watcher_price_monitor", AgentStatus.ok, None), what="ok after a run")


def test_restart_keeps_an_error_found_at_start(office_pg):
    """A worker that died without a shutdown (SIGKILL) leaves its error row; the next worker's
    start registers the agent again and keeps the error until its next successful run."""
    worker = office_pg.worker()
    office_pg.send("fail_scan")
    office_pg.wait_for(_is("watcher_price_monitor", AgentStatus.error), what="error")
    error = office_pg.row("watcher_price_monitor")
    worker.kill_group()
    office_pg.worker()
    rows = office_pg.wait_for(
        lambda r: r["watcher_price_monitor"].last_activity > error.last_activity,
        what="registration by the new worker",
    )
    assert (rows["watcher_price_monitor"].status, rows["watcher_price_monitor"].task) == (
        AgentStatus.error, error.task
    )
    assert rows["watcher_night_agent"].status is AgentStatus.ok
    office_pg.send("scan_prices").get(timeout=20)
    office_pg.wait_for(_is("watcher_price_monitor", AgentStatus.ok, None), what="ok after a run")
