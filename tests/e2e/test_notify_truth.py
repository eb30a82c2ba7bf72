"""Issue 30.4 and 30.5 with real workers and a real `celery office serve --notify`: an outage
longer than office_offline_after calls nobody offline (nor then "recovered"), and an agent
that fails every run is never "recovered" while its next run is in progress."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from ..faultproxy import FaultProxy
from ..web.receiver import Receiver, receiving
from ..web.serve_process import ServeProcess
from .conftest import HERE, Office

pytestmark = pytest.mark.e2e

AGENTS = {"watcher_price_monitor", "watcher_night_agent", "reputation_wb"}
PRICES = "watcher_price_monitor"
QUICK = {"OFFICE_OFFLINE_AFTER": "6", "OFFICE_HEARTBEAT_INTERVAL": "2"}


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiving() as receiver:
        yield receiver


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    proxy = FaultProxy()
    yield proxy
    proxy.close()


def _serve(office: Office, hook: Receiver, env: dict[str, str]) -> ServeProcess:
    return ServeProcess("office_app", cwd=HERE, env=env, log_path=office.tmp_path / "serve.log",
                        args=("--notify", hook.url, "--notify-interval", "0.5")).wait_ready()


def _states(hook: Receiver) -> list[tuple[str, str]]:
    with hook.lock:
        return [(post["agent_id"], post["state"]) for post in hook.posts]


def test_an_outage_longer_than_offline_after_calls_nobody_offline(
    office_pg: Office, hook: Receiver, proxy: FaultProxy,
) -> None:
    env = {**office_pg.env, **QUICK, "OFFICE_DATABASE_URL": proxy.url(office_pg.db_url)}
    office_pg.worker(env=env)
    office_pg.wait_for(lambda rows: AGENTS <= set(rows), what="registration")
    serve = _serve(office_pg, hook, env)
    try:
        time.sleep(1.0)  # serve's first looks: the agents as they are, nothing to post
        proxy.set_mode("refuse")  # the database is gone for workers and serve alike
        time.sleep(10)  # longer than office_offline_after (6 s)
        back = office_pg.sql("SELECT now() AS back")[0].back
        proxy.set_mode("forward")
        # the workers write again (a heartbeat after the outage)...
        office_pg.wait_for(lambda rows: all(rows[a].last_activity > back for a in AGENTS),
                           timeout=60, what="heartbeats after the outage")
        # ...and serve is looking: a real transition after the outage is posted
        office_pg.send("fail_scan", message="after the outage")
        hook.wait_for(lambda posts: (PRICES, "error") in [(p["agent_id"], p["state"])
                                                          for p in posts], timeout=30)
    finally:
        serve.close()
    assert _states(hook) == [(PRICES, "error")], serve.log


def test_an_agent_failing_every_run_is_never_recovered_by_its_next_run(
    office_pg: Office, hook: Receiver,
) -> None:
    office_pg.worker(concurrency=1)
    office_pg.wait_for(lambda rows: AGENTS <= set(rows), what="registration")
    serve = _serve(office_pg, hook, office_pg.env)
    try:
        time.sleep(1.0)
        for n in range(3):
            office_pg.send("fail_scan", message=f"failure {n}", duration=1.5)
            office_pg.wait_for(lambda rows, n=n: rows[PRICES].task == "Ошибка: ScanError: "
                               f"failure {n}", timeout=30, what=f"failure {n}")
        office_pg.send("scan_prices")  # a successful end: the one recovery
        office_pg.wait_for(lambda rows: rows[PRICES].status.value == "ok"
                           and rows[PRICES].task is None, timeout=30, what="the success")
        office_pg.send("fail_scan", message="the end")  # a last error marks the end
        hook.wait_for(lambda posts: any("the end" in (p["task"] or "") for p in posts),
                      timeout=30)
    finally:
        serve.close()
    assert _states(hook) == [(PRICES, "error"), (PRICES, "ok"), (PRICES, "error")], serve.log
