"""The agent's day in numbers from real prefork workers: a known mix of runs across two workers,
one pool process killed mid-run and one run terminated, gives exactly the expected counts."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

COUNTERS = ("runs", "succeeded", "failed", "retried", "revoked")
# agent -> (runs, succeeded, failed, retried, revoked)
EXPECTED = {
    # 4 successes, 2 failures, 1 run whose pool process is killed (failed: WorkerLostError),
    # 1 run terminated by a revoke (revoked, not failed)
    "watcher_price_monitor": (8, 4, 3, 0, 1),
    # 3 successes
    "watcher_night_agent": (3, 3, 0, 0, 0),
    # 2 tasks that fail once, are retried and then succeed: 4 runs
    "reputation_wb": (4, 2, 0, 2, 0),
}


def _numbers(office: Any) -> dict[str, tuple[int, ...]]:
    """Summed over days, so a test running across midnight counts the same."""
    rows = office.sql(
        "select agent_id, sum(runs) runs, sum(succeeded) succeeded, sum(failed) failed, "
        "sum(retried) retried, sum(revoked) revoked from office_agent_day group by agent_id"
    )
    return {row.agent_id: tuple(int(getattr(row, name)) for name in COUNTERS) for row in rows}


def _wait_numbers(office: Any, expected: dict[str, tuple[int, ...]], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    seen: dict[str, tuple[int, ...]] = {}
    while time.monotonic() < deadline:
        seen = _numbers(office)
        if seen == expected:
            return
        time.sleep(0.2)
    logs = "\n".join(w.log[-3000:] for w in office.workers)
    raise AssertionError(f"day numbers {seen} != {expected}\n--- logs:\n{logs}")


def _wait_run_in_table(office: Any, task_id: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if office.sql("select 1 from office_agent_run where task_id = :t", t=task_id):
            return
        time.sleep(0.05)
    raise AssertionError(f"run {task_id} never showed in office_agent_run")


def test_a_known_mix_across_two_workers_counts_exactly(office_pg, tmp_path):
    office_pg.worker(name="w1")
    office_pg.worker(name="w2")
    pid_file = tmp_path / "pid"
    doomed = office_pg.send("scan_prices", duration=30.0, pid_file=str(pid_file))
    revoked = office_pg.send("scan_prices", duration=30.0)
    for result in (doomed, revoked):  # their starts reached the main processes and the table
        _wait_run_in_table(office_pg, result.id)
    time.sleep(1.0)  # some runtime to count
    os.kill(int(pid_file.read_text()), signal.SIGKILL)
    office_pg.app.control.revoke(revoked.id, terminate=True)

    results = [office_pg.send("scan_prices") for _ in range(4)]
    results += [office_pg.send("fail_scan") for _ in range(2)]
    results += [office_pg.send("flaky_reviews", hold=0.3) for _ in range(2)]
    results += [office_pg.send("night_check") for _ in range(3)]
    for result in results:
        result.get(timeout=30, propagate=False)
    _wait_numbers(office_pg, EXPECTED)

    day = office_pg.sql(
        "select sum(runtime_s) runtime_s, max(max_runtime_s) max_runtime_s, "
        "max(last_success_at) last_success_at, max(last_failure_at) last_failure_at "
        "from office_agent_day where agent_id = 'watcher_price_monitor'"
    )[0]
    # the killed and the terminated run each ran about a second before they ended
    assert 0.9 < day.max_runtime_s < 20.0
    assert day.max_runtime_s <= day.runtime_s < 60.0
    assert day.last_success_at is not None and day.last_failure_at is not None
    view = office_pg.sql("select agent_id, department, runs from office_agent_day_view "
                         "where agent_id = 'reputation_wb'")
    assert [(row.department, row.runs) for row in view] == [("reputation", 4)]

    # nothing is counted twice later: not by the next writes (two more runs of another agent,
    # counted, prove they landed), nor by a warm shutdown
    later = {**EXPECTED, "watcher_night_agent": (5, 5, 0, 0, 0)}
    for result in [office_pg.send("night_check") for _ in range(2)]:
        result.get(timeout=30)
    _wait_numbers(office_pg, later)
    for worker in office_pg.workers:
        assert worker.stop() == 0
    assert _numbers(office_pg) == later
