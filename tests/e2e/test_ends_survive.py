"""A run's end survives its pool process being SIGKILLed right after it: once Celery has logged
the end, the row and the day numbers have it, whatever happens to that process next.

The flush interval is long here: before the fix a pool process handed over every 1.5 s from
its first run's start, so a kill 0.1 s after an end at 0 s or at 7 s fell, every time, inside
the window the bug left open.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from celery_office import AgentStatus

from .test_worker import ALL_AGENTS, _is

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

SLOW_FLUSH = {"OFFICE_FLUSH_INTERVAL": "3"}
AGENT = "watcher_price_monitor"
ERROR = "Ошибка: ScanError: killed right after"


def _pool_pid(main_pid: int) -> int:
    """The only pool process of a ``-c 1`` worker: the child of its main process."""
    children = Path(f"/proc/{main_pid}/task/{main_pid}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def _day(office: Any) -> tuple[int, int]:
    rows = office.sql(
        "select coalesce(sum(runs), 0) runs, coalesce(sum(failed), 0) failed "
        "from office_agent_day where agent_id = :a", a=AGENT,
    )
    return int(rows[0].runs), int(rows[0].failed)


def _wait_day(office: Any, expected: tuple[int, int], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    seen = _day(office)
    while seen != expected and time.monotonic() < deadline:
        time.sleep(0.1)
        seen = _day(office)
    logs = "\n".join(w.log[-3000:] for w in office.workers)
    assert seen == expected, f"day numbers (runs, failed) {seen} != {expected}\n{logs}"


def _kill_after_the_failure(office: Any, worker: Any, before: int) -> None:
    """SIGKILL the pool process 0.1 s after Celery logged the task's failure."""
    pool = _pool_pid(worker.proc.pid)
    deadline = time.monotonic() + 20
    while worker.log.count("raised unexpected") <= before:
        assert time.monotonic() < deadline, worker.log
        time.sleep(0.01)
    time.sleep(0.1)
    os.kill(pool, signal.SIGKILL)


@pytest.mark.parametrize("duration", [0.0, 7.0], ids=["quick", "start-in-table"])
def test_a_failure_survives_its_pool_process_killed_right_after(office_pg, duration):
    """quick: the run starts and fails between two hand-overs; start-in-table: its start was
    handed over and written first, so the table has a run in progress to end."""
    worker = office_pg.worker(concurrency=1, env=SLOW_FLUSH)
    office_pg.wait_for(lambda r: set(r) == ALL_AGENTS, what="registration")
    result = office_pg.send("fail_scan", message="killed right after", duration=duration)
    if duration:
        office_pg.wait_for(_is(AGENT, AgentStatus.ok, "Сканирование цен (сбой)"), timeout=15,
                           what="the run shown working")
    _kill_after_the_failure(office_pg, worker, 0)
    office_pg.wait_for(_is(AGENT, AgentStatus.error, ERROR), timeout=15,
                       what="the error of the run whose pool process was killed")
    _wait_day(office_pg, (1, 1))
    assert office_pg.sql("select task_id from office_agent_run") == []
    with pytest.raises(Exception, match="killed right after"):
        result.get(timeout=5)
