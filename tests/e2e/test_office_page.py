"""Issue 23's acceptance: a real worker fails a task; the office page open in Debian's
headless Chromium shows it without a reload, its markup as text; ``/metrics`` (parsed by
prometheus_client) and ``/api/agents`` of a real `celery office serve` say so too."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ..web.browser import chromium, require_chromium
from ..web.serve_process import ServeProcess
from .conftest import HERE, Office

pytestmark = pytest.mark.e2e

MARKUP = ('Wildberries said <script>window.__injected = 1</script><b id="bold">жирный</b> '
          '& <img src=x onerror="window.__injected = 2">')


@pytest.fixture
def serve(office_pg: Office) -> Iterator[ServeProcess]:
    process = ServeProcess("office_app", cwd=HERE, env=office_pg.env,
                           log_path=office_pg.tmp_path / "serve.log")
    try:
        yield process.wait_ready()
    finally:
        process.close()


def test_a_failure_shows_on_the_open_page_in_metrics_and_in_the_api(
    office_pg: Office, serve: ServeProcess
) -> None:
    require_chromium()
    office_pg.worker()
    office_pg.wait_for(lambda rows: "watcher_price_monitor" in rows, what="registration")
    with chromium() as browser:
        page = browser.new_page()
        page.goto(serve.base + "/")
        desk = page.locator('.desk[data-agent-id="watcher_price_monitor"]')
        desk.wait_for()
        assert desk.get_attribute("data-status") == "ok"
        page.evaluate("window.__same_document = true")

        office_pg.send("fail_scan", message=MARKUP)
        page.wait_for_selector(
            '.desk[data-agent-id="watcher_price_monitor"][data-status="error"]', timeout=30000)

        assert page.evaluate("window.__same_document") is True  # no reload
        row = office_pg.row("watcher_price_monitor")
        assert row.task == f"Ошибка: ScanError: {MARKUP}"
        assert desk.locator(".task").inner_text() == row.task  # shown as text, whole
        assert page.locator("#bold, .desk script, .desk img, .desk b").count() == 0
        assert page.evaluate("window.__injected") is None

    status, body = serve.get("/metrics")
    assert status == 200
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    values = {
        (s.labels["agent_id"], s.labels["status"]): (s.value, s.labels)
        for s in families["celery_office_agent_status"].samples
    }
    value, labels = values[("watcher_price_monitor", "error")]
    assert value == 1 and labels["department"] == "watcher" and labels["brand"] == "ohana_market"
    assert values[("watcher_price_monitor", "ok")][0] == 0
    failures = {s.labels["agent_id"]: s.value
                for s in families["celery_office_agent_failures_today"].samples}
    assert failures["watcher_price_monitor"] == 1

    agent = serve.agents()["watcher_price_monitor"]
    assert agent["effective_status"] == "error" and agent["task"] == row.task
    assert agent["today"]["failed"] == 1
