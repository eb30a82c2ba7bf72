"""The table tells the truth with several pool processes and several workers (issue rules:
working while any run is in progress anywhere; offline only when no live worker serves)."""

from __future__ import annotations

import os
import random
import signal
import time

import pytest

from celery_office import AgentStatus

from .test_worker import ALL_AGENTS, _is

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

WORKING = "Сканирование цен конкурентов"
FAST = {"OFFICE_HEARTBEAT_INTERVAL": "0.5", "OFFICE_OFFLINE_AFTER": "3"}


def _registered(rows):
    return set(rows) == ALL_AGENTS


def test_overlapping_runs_on_two_workers_keep_the_agent_working(office_pg):
    office_pg.worker(name="w1", concurrency=1)
    office_pg.worker(name="w2", concurrency=1)
    office_pg.wait_for(_registered, what="registration")
    short = office_pg.send("scan_prices", duration=1.5)
    long = office_pg.send("scan_prices", duration=5.0)
    office_pg.wait_for(
        lambda r: len(office_pg.sql("select * from office_agent_run")) == 2, what="two runs"
    )
    nodes = {row.node_name.split("@")[0]
             for row in office_pg.sql("select node_name from office_agent_run")}
    assert nodes == {"w1", "w2"}
    short.get(timeout=20)
    time.sleep(1.0)  # several flush intervals after the short run ended
    assert office_pg.row("watcher_price_monitor").task == WORKING
    long.get(timeout=20)
    office_pg.wait_for(_is("watcher_price_monitor", AgentStatus.ok, None), what="idle")


def test_overlapping_runs_in_two_pool_processes(office_pg):
    office_pg.worker(concurrency=2)
    office_pg.wait_for(_registered, what="registration")
    short = office_pg.send("scan_prices", duration=1.0)
    long = office_pg.send("scan_prices", duration=4.0)
    short.get(timeout=20)
    time.sleep(1.0)
    assert office_pg.row("watcher_price_monitor").task == WORKING
    long.get(timeout=20)
    office_pg.wait_for(_is("watcher_price_monitor", AgentStatus.ok, None), what="idle")


def test_warm_stop_of_one_worker_keeps_agents_the_other_serves(office_pg):
    w1 = office_pg.worker(name="w1", env=FAST)
    w2 = office_pg.worker(name="w2", env=FAST)
    office_pg.wait_for(_registered, what="registration")
    assert w1.stop() == 0
    rows = office_pg.rows()
    assert {r.status for r in rows.values()} == {AgentStatus.ok}
    seen = {a: r.last_activity for a, r in rows.items()}
    office_pg.wait_for(
        lambda r: all(r[a].last_activity > seen[a] for a in ALL_AGENTS), timeout=5,
        what="w2 keeps beating",
    )
    time.sleep(3.5)  # past office_offline_after: still online thanks to w2
    statuses = {r.effective_status for r in office_pg.rows(offline_after=3).values()}
    assert statuses == {AgentStatus.ok}
    assert w2.stop() == 0
    assert {r.status for r in office_pg.rows().values()} == {AgentStatus.offline}


def test_killed_worker_does_not_leave_the_agent_working(office_pg):
    w1 = office_pg.worker(name="w1", concurrency=1, env=FAST)
    office_pg.worker(name="w2", concurrency=1, env=FAST)
    office_pg.wait_for(_registered, what="registration")
    office_pg.send("scan_prices", duration=60.0)
    office_pg.wait_for(lambda r: len(office_pg.sql("select * from office_agent_run")) == 1,
                       what="run")
    run = office_pg.sql("select node_name from office_agent_run")[0]
    victim = w1 if run.node_name.startswith("w1@") else office_pg.workers[1]
    victim.kill_group()
    # dead after office_offline_after (3 s); the survivor corrects within a heartbeat
    rows = office_pg.wait_for(
        _is("watcher_price_monitor", AgentStatus.ok, None), timeout=10, what="not working"
    )
    assert rows["watcher_price_monitor"].effective_status is AgentStatus.ok
    assert office_pg.sql("select * from office_agent_run") == []


def test_killed_only_worker_reads_offline_after_the_threshold(office_pg):
    w1 = office_pg.worker(env=FAST)
    office_pg.wait_for(_registered, what="registration")
    office_pg.send("scan_prices", duration=60.0)
    office_pg.wait_for(_is("watcher_price_monitor", AgentStatus.ok, WORKING), what="working")
    w1.kill_group()
    row = office_pg.rows(offline_after=3)["watcher_price_monitor"]
    assert row.effective_status is AgentStatus.ok
    time.sleep(3.5)
    rows = office_pg.rows(offline_after=3)
    assert {r.effective_status for r in rows.values()} == {AgentStatus.offline}
    view = office_pg.sql("select agent_id, effective_status from office_agent_status_effective")
    assert len(view) == 3
    assert {v.effective_status for v in view} == {"ok"}  # the view uses the spec's 5 minutes


def test_restarted_worker_with_the_same_name_replaces_its_former_self(office_pg):
    w1 = office_pg.worker(name="w1", env=FAST)
    office_pg.wait_for(_registered, what="registration")
    office_pg.send("scan_prices", duration=60.0)
    office_pg.wait_for(_is("watcher_price_monitor", AgentStatus.ok, WORKING), what="working")
    w1.kill_group()
    office_pg.app.control.purge()
    office_pg.worker(name="w1", env=FAST)
    office_pg.wait_for(_is("watcher_price_monitor", AgentStatus.ok, None), what="idle again")
    assert len(office_pg.sql("select * from office_worker")) == 1


def test_random_load_on_two_workers_ends_as_the_rules_say(office_pg):
    rng = random.Random(20261124)
    office_pg.worker(name="w1", concurrency=2)
    office_pg.worker(name="w2", concurrency=2)
    office_pg.wait_for(_registered, what="registration")
    sent = []
    for _ in range(60):
        agent_task = rng.choice(["scan_prices", "fail_scan", "night_check"])
        duration = rng.choice([0.0, 0.05, 0.2, 0.6, 1.2])
        if agent_task == "scan_prices" and rng.random() < 0.3:
            agent_task = "fail_scan"
        sent.append((agent_task, office_pg.send(agent_task, duration=duration)))
        time.sleep(rng.choice([0.0, 0.01, 0.05]))
    finished = []
    for task, result in sent:
        try:
            result.get(timeout=60, propagate=False)
        finally:
            finished.append((task, result.date_done, result.successful()))
    agent_of = {"scan_prices": "watcher_price_monitor", "fail_scan": "watcher_price_monitor",
                "night_check": "watcher_night_agent"}
    expected = {}
    for agent in set(agent_of.values()):
        runs = sorted((done, ok) for task, done, ok in finished if agent_of[task] == agent)
        last_done, last_ok = runs[-1]
        close = [ok for done, ok in runs if (last_done - done).total_seconds() < 0.05]
        expected[agent] = {AgentStatus.ok if ok else AgentStatus.error for ok in close}
    rows = office_pg.wait_for(
        lambda r: all(r[a].status in expected[a]
                      and (r[a].status is not AgentStatus.ok or r[a].task is None)
                      for a in expected),
        timeout=10, what=f"final state {expected}",
    )
    time.sleep(1.0)  # and it stays so: no late write from any process changes it
    rows = office_pg.rows()
    for agent, statuses in expected.items():
        assert rows[agent].status in statuses, (agent, rows[agent].status, statuses)
        if rows[agent].status is AgentStatus.error:
            assert rows[agent].task.startswith("Ошибка: ScanError")
        else:
            assert rows[agent].task is None
    assert office_pg.sql("select * from office_agent_run") == []
    assert rows["reputation_wb"].status is AgentStatus.ok


def test_a_paused_worker_taken_for_dead_writes_its_running_task_back(office_pg):
    """Worker 1's main process is stopped (SIGSTOP) past office_offline_after while its pool
    runs a long task; worker 2 rightly takes it for dead and ends its runs. Once resumed,
    worker 1 must put what it runs back at its next write: once, it never did, and the agent
    read idle (0 runs of worker 1 in the table) until the task ended."""
    paused = {**FAST, "OFFICE_OFFLINE_AFTER": "4", "OFFICE_STATEMENT_TIMEOUT": "2"}
    w1 = office_pg.worker(name="w1", env=paused)
    office_pg.wait_for(_registered, what="registration")
    office_pg.send("scan_prices", duration=40.0)
    office_pg.wait_for(_is("watcher_price_monitor", AgentStatus.ok, WORKING), what="working")
    office_pg.worker(name="w2", env=paused)
    os.kill(w1.proc.pid, signal.SIGSTOP)  # the main process only: its pool runs on
    try:
        office_pg.wait_for(_is("watcher_price_monitor", AgentStatus.ok, None), timeout=30,
                           what="worker 2 ends the runs of worker 1, taken for dead")
        assert office_pg.sql("select * from office_agent_run") == []
        time.sleep(8)  # past the grace of a run unknown to the table
    finally:
        os.kill(w1.proc.pid, signal.SIGCONT)
    office_pg.wait_for(_is("watcher_price_monitor", AgentStatus.ok, WORKING), timeout=20,
                       what="worker 1 writes its running task back")
    runs = office_pg.sql("select node_name from office_agent_run")
    assert [r.node_name.split("@")[0] for r in runs] == ["w1"]
    assert "taken for dead" in w1.log
    office_pg.wait_for(_is("watcher_price_monitor", AgentStatus.ok, None), timeout=60,
                       what="idle when the task ends")
