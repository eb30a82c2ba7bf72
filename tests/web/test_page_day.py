"""An agent's day on the office page, from its timeline (``office_agent_timeline``), in
Debian's headless Chromium: since when its status holds, the strip of a failed-then-recovered
agent's periods, the last error of an agent that went offline from it."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from sqlalchemy import text

from celery_office import OfficeReporter, create_office_engine
from celery_office.web import create_app
from celery_office.web.texts import PAGE

from .adolf_office import fill_adolf_office
from .browser import chromium, require_chromium
from .server import served

FAILURE = "ScanError: Wildberries catalog timed out"


@pytest.fixture
def browser() -> Iterator[Any]:
    require_chromium()
    with chromium() as browser:
        yield browser


def timeline(base: str, agent_id: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{base}/api/agents/{agent_id}/timeline", timeout=30) as answer:
        return json.loads(answer.read())


def test_the_desk_says_since_when_and_the_strip_shows_the_day(pg_url: str, browser: Any) -> None:
    fill_adolf_office(pg_url)
    engine = create_office_engine(pg_url)
    monitor = OfficeReporter("watcher_price_monitor", "watcher", "Мониторинг цен",
                             brand="ohana_market", engine=engine)
    monitor.report_error(FAILURE)
    monitor.report_idle()  # failed, then recovered
    with served(create_app(pg_url)) as base:
        page = browser.new_page()
        page.goto(base + "/")
        scan = page.locator('.desk[data-agent-id="watcher_competitor_scan"]')
        scan.wait_for()
        began = datetime.fromisoformat(timeline(base, "watcher_competitor_scan")[-1]["since"])
        clock = began.astimezone(timezone.utc).strftime("%H:%M")  # the app's zone: UTC
        assert scan.locator(".since").inner_text().startswith(f"с {clock} (")

        page.locator('.desk[data-agent-id="watcher_price_monitor"] .name').click()
        page.wait_for_selector("#day:not([hidden]) .segment")
        periods = timeline(base, "watcher_price_monitor")
        assert [p["status"] for p in periods][-2:] == ["error", "ok"]
        strip = page.eval_on_selector_all(
            "#day-strip .segment", "s => s.map(x => x.dataset.status)"
        )
        assert strip == [p["status"] for p in periods]
        listed = page.locator('#day-periods .period[data-status="error"]')
        assert listed.count() == 1 and listed.locator(".task").inner_text() == f"Ошибка: {FAILURE}"
    engine.dispose()


def test_the_last_error_stays_when_going_offline_cleared_it(pg_url: str, browser: Any) -> None:
    fill_adolf_office(pg_url)
    engine = create_office_engine(pg_url)
    with engine.begin() as conn:  # as a worker's warm shutdown retires its agents
        conn.execute(text("UPDATE office_agent_status SET status = 'offline', task = NULL "
                          "WHERE agent_id = 'watcher_competitor_scan'"))
    engine.dispose()
    with served(create_app(pg_url)) as base:
        page = browser.new_page()
        page.goto(base + "/")
        desk = page.locator('.desk[data-agent-id="watcher_competitor_scan"]')
        desk.wait_for()
        assert desk.get_attribute("data-status") == "offline"
        assert desk.locator(".task-label").inner_text() == PAGE["last_error"]
        assert desk.locator(".task").inner_text().startswith("Ошибка: MarketplaceAPIError")
