"""Pool processes recycled (``--max-tasks-per-child``) while the database is hung or down.

A recycled pool process exits after its task: its exit is on the task path (the next task waits
for its replacement), so it must never wait on the database, and what it could not write must
not leave with it. These run real prefork workers through a loopback proxy that turns the
database bad on purpose."""

from __future__ import annotations

import time

import pytest

from celery_office import AgentStatus

from ..faultproxy import FaultProxy
from .test_faults import TIGHT, _office_lines
from .test_worker import ALL_AGENTS, _is

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

RECYCLE = ["--max-tasks-per-child", "1"]


@pytest.fixture
def proxy():
    proxy = FaultProxy()
    yield proxy
    proxy.close()


def _recycled_round(office, n: int, *, each_within: float) -> None:
    """n short tasks, one after the other, on a worker whose pool processes exit after each
    task: each result must come within ``each_within`` seconds of its send."""
    for _ in range(n):
        office.send("scan_prices", duration=0.05).get(timeout=each_within)


def test_a_hung_database_does_not_slow_recycled_pool_processes(office_pg, proxy):
    """Recycled tasks on a database that accepts connections and never answers. Every exiting
    process once waited office_shutdown_timeout for its last write, and the next task waited
    for its replacement. With that timeout at 120 s, a single wait makes a task's result miss
    its 40 s deadline; none may (a short task takes well under a second)."""
    env = {
        **TIGHT, "OFFICE_DATABASE_URL": proxy.url(office_pg.db_url),
        "OFFICE_SHUTDOWN_TIMEOUT": "120",
    }
    worker = office_pg.worker(env=env, extra=RECYCLE)
    office_pg.wait_for(lambda r: set(r) == ALL_AGENTS, what="registration")
    _recycled_round(office_pg, 2, each_within=60)  # the first forks and imports
    proxy.set_mode("hang")
    _recycled_round(office_pg, 8, each_within=40)
    assert "did not answer within" not in worker.log  # no exiting process waited


def test_recycling_during_an_outage_logs_a_few_lines_not_a_line_per_task(office_pg, proxy):
    """While the database is down the pool processes never speak of it: the main process
    says once that writes fail and once that they work again."""
    proxy.set_mode("refuse")
    worker = office_pg.worker(
        env={**TIGHT, "OFFICE_DATABASE_URL": proxy.url(office_pg.db_url)}, extra=RECYCLE
    )
    _recycled_round(office_pg, 30, each_within=60)
    proxy.set_mode("forward")
    office_pg.wait_for(
        _is("watcher_price_monitor", AgentStatus.ok, None), timeout=20, what="the agent idle"
    )
    lines = [line for line in _office_lines(worker.log) if "WARNING" in line or "ERROR" in line]
    assert len(lines) <= 4, "\n".join(lines)
    assert len(_office_lines(worker.log)) <= 8, "\n".join(_office_lines(worker.log))


def test_an_error_is_not_lost_when_its_pool_process_exits_during_an_outage(office_pg, proxy):
    """A run raises while the database is down and its pool process exits right after: the
    error reaches the table once the database is back (it used to read working, then idle
    once the main process gave the run up for lost)."""
    worker = office_pg.worker(
        concurrency=1,
        env={**TIGHT, "OFFICE_DATABASE_URL": proxy.url(office_pg.db_url)},
        extra=RECYCLE,
    )
    office_pg.wait_for(lambda r: set(r) == ALL_AGENTS, what="registration")
    result = office_pg.send("fail_scan", message="Ozon API 503", duration=3.0)
    office_pg.wait_for(
        _is("watcher_price_monitor", AgentStatus.ok, "Сканирование цен (сбой)"),
        what="the run shown working",
    )
    proxy.set_mode("refuse")
    with pytest.raises(Exception, match="Ozon API 503"):
        result.get(timeout=30)
    time.sleep(2.0)  # the pool process has exited, the database still down
    proxy.set_mode("forward")
    rows = office_pg.wait_for(
        _is("watcher_price_monitor", AgentStatus.error, "Ошибка: ScanError: Ozon API 503"),
        timeout=20, what="the error after the outage",
    )
    assert rows["watcher_price_monitor"].effective_status is AgentStatus.error
    assert office_pg.sql("select task_id from office_agent_run") == []
    assert "ended without their end being written" not in worker.log
