"""The same behaviours on the solo and threads pools, and on SQLite (the embedded default)."""

from __future__ import annotations

import pytest

from celery_office import AgentStatus

from .test_worker import ALL_AGENTS, _is

pytestmark = pytest.mark.e2e

WORKING = "Сканирование цен конкурентов"


@pytest.fixture(params=["solo", "threads"])
def pool(request):
    return request.param


@pytest.mark.postgres
def test_lifecycle_on_pool(office_pg, pool):
    worker = office_pg.worker(pool=pool, concurrency=1 if pool == "solo" else 2)
    office_pg.wait_for(lambda r: set(r) == ALL_AGENTS, what="registration")
    result = office_pg.send("scan_prices", duration=1.5)
    office_pg.wait_for(_is("watcher_price_monitor", AgentStatus.ok, WORKING), what="working")
    result.get(timeout=20)
    office_pg.wait_for(_is("watcher_price_monitor", AgentStatus.ok, None), what="idle")
    office_pg.send("fail_scan")
    office_pg.wait_for(
        _is("watcher_price_monitor", AgentStatus.error,
            "Ошибка: ScanError: Wildberries API timeout after 30s"),
        what="error",
    )
    office_pg.send("flaky_reviews", hold=2.0)
    office_pg.wait_for(_is("reputation_wb", AgentStatus.warning), what="warning")
    office_pg.wait_for(_is("reputation_wb", AgentStatus.ok, None), what="idle after retry")
    assert worker.stop() == 0
    assert {r.status for r in office_pg.rows().values()} == {AgentStatus.offline}


@pytest.mark.postgres
def test_heartbeat_keeps_beating_during_a_long_task(office_pg, pool):
    """On solo a running task blocks the worker's event loop and its timer: beats must not stop."""
    office_pg.worker(pool=pool, concurrency=1, env={"OFFICE_HEARTBEAT_INTERVAL": "0.5"})
    office_pg.wait_for(lambda r: set(r) == ALL_AGENTS, what="registration")
    office_pg.send("scan_prices", duration=6.0)
    rows = office_pg.wait_for(_is("watcher_price_monitor", AgentStatus.ok, WORKING), what="working")
    seen = rows["watcher_night_agent"].last_activity
    for _ in range(3):
        rows = office_pg.wait_for(
            lambda r, seen=seen: r["watcher_night_agent"].last_activity > seen,
            timeout=3, what="a beat",
        )
        seen = rows["watcher_night_agent"].last_activity
        assert rows["watcher_price_monitor"].task == WORKING


def test_prefork_on_sqlite(office_sqlite):
    worker = office_sqlite.worker()
    office_sqlite.wait_for(lambda r: set(r) == ALL_AGENTS, what="registration")
    slow = office_sqlite.send("scan_prices", duration=2.0)
    office_sqlite.wait_for(_is("watcher_price_monitor", AgentStatus.ok, WORKING), what="working")
    office_sqlite.send("fail_scan")  # runs in the other pool process meanwhile
    office_sqlite.wait_for(_is("watcher_price_monitor", AgentStatus.ok, WORKING),
                           what="still working")
    slow.get(timeout=20)
    # the failure ended first, the slow success last: the newest outcome wins
    office_sqlite.wait_for(_is("watcher_price_monitor", AgentStatus.ok, None), what="idle")
    assert worker.stop() == 0
    assert {r.status for r in office_sqlite.rows().values()} == {AgentStatus.offline}
