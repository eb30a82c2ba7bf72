"""The office page in Debian's headless Chromium: rooms and desks, live without a reload,
every text escaped, nothing fetched from outside, readable on a phone."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from celery_office import OfficeReporter, create_office_engine
from celery_office.web import create_app
from celery_office.web.texts import PAGE

from .adolf_office import fill_adolf_office
from .browser import chromium, require_chromium
from .server import served

MARKUP = ('ScanError: <script>window.__injected = 1</script><b id="bold">жирный</b> & '
          '<img src=x onerror="window.__injected = 2">')


@pytest.fixture
def browser() -> Iterator[Any]:
    require_chromium()
    with chromium() as browser:
        yield browser


@pytest.fixture
def office(pg_url: str) -> str:
    fill_adolf_office(pg_url)
    return pg_url


def reporter(url: str, agent_id: str = "watcher_price_monitor") -> OfficeReporter:
    return OfficeReporter(agent_id, "watcher", "Мониторинг цен", brand="ohana_market",
                          engine=create_office_engine(url))


def test_rooms_desks_and_the_office_totals(office: str, browser: Any) -> None:
    with served(create_app(office)) as base:
        page = browser.new_page()
        page.goto(base + "/")
        page.wait_for_selector(".desk")
        rooms = page.eval_on_selector_all(".room", "rs => rs.map(r => r.dataset.department)")
        # the room with an error first, then those with a warning, then by the agents' ids
        assert rooms == ["watcher", "cfo", "marketing", "scout", "content_factory", "knowledge",
                         "lex", "reputation"]
        assert page.locator(".desk").count() == 14
        scan = page.locator('.desk[data-agent-id="watcher_competitor_scan"]')
        assert scan.get_attribute("class") == "desk status-error"
        assert PAGE["status"]["error"] in scan.inner_text()
        assert "MarketplaceAPIError" in scan.locator(".task").inner_text()
        assert "12" in scan.locator(".today").inner_text()  # today's runs
        lex = page.locator('.desk[data-agent-id="lex_monitor"]')
        assert lex.get_attribute("data-status") == "offline"  # silent 10 minutes
        assert "10 мин" in lex.locator(".seen").inner_text()
        # since when: silent for ten minutes, offline since its last activity
        assert lex.locator(".since").inner_text().endswith("(10 мин)")
        badges = page.eval_on_selector_all(
            ".badge:not([hidden])",
            "bs => bs.map(b => [b.closest('.desk').dataset.agentId, b.textContent])",
        )
        assert sorted(badges) == [["cfo_report", PAGE["badges"]["missed"]],
                                  ["marketing_ozon", PAGE["badges"]["retry"]],
                                  ["scout_niche", PAGE["badges"]["overlong"]]]
        # salary x FTE of the watcher room: 60 000 + 70 000 + 45 000 x 0.5, none offline
        watcher = page.locator('.room[data-department="watcher"] .room-salary').inner_text()
        assert "152\u2009500" in watcher
        assert "920\u2009000" in page.locator("#summary .total").inner_text()


def test_a_change_appears_without_a_reload_and_markup_stays_text(office: str, browser: Any) -> None:
    with served(create_app(office, refresh=0.3)) as base:
        page = browser.new_page()
        page.goto(base + "/")
        desk = page.locator('.desk[data-agent-id="watcher_price_monitor"]')
        desk.wait_for()
        page.evaluate("window.__same_document = true")
        reporter(office).report_error(MARKUP)
        page.wait_for_selector('.desk[data-agent-id="watcher_price_monitor"][data-status="error"]',
                               timeout=15000)
        assert page.evaluate("window.__same_document") is True  # no reload happened
        assert desk.locator(".task").inner_text() == f"Ошибка: {MARKUP}"
        assert page.locator("#bold, .desk script, .desk img, .desk b").count() == 0
        assert page.evaluate("window.__injected") is None
        reporter(office).report_idle()
        page.wait_for_selector('.desk[data-agent-id="watcher_price_monitor"][data-status="ok"]',
                               timeout=15000)
        assert page.evaluate("window.__same_document") is True


def test_the_page_asks_only_its_own_server(office: str, browser: Any) -> None:
    with served(create_app(office, refresh=0.3)) as base:
        page = browser.new_page()
        asked: list[str] = []
        page.on("request", lambda request: asked.append(request.url))
        page.goto(base + "/")
        page.wait_for_selector(".desk")
        page.wait_for_timeout(800)  # a few polls
    assert asked and all(url.startswith(base + "/") for url in asked), asked
    assert any(url.endswith("/api/agents") for url in asked)


def test_the_page_reads_on_a_phone(office: str, browser: Any) -> None:
    with served(create_app(office)) as base:
        page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True,
                                has_touch=True, device_scale_factor=2)
        page.goto(base + "/")
        page.wait_for_selector(".desk")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
        lefts = page.eval_on_selector_all(
            ".room", "rs => rs.map(r => r.getBoundingClientRect().left)"
        )
        assert len(set(lefts)) == 1  # the rooms in one column
        widths = page.eval_on_selector_all(
            ".desk", "ds => ds.map(d => d.getBoundingClientRect().width)"
        )
        assert min(widths) > 300  # every desk takes the phone's width


def test_a_lost_database_is_said_and_the_last_office_stays(office: str, browser: Any) -> None:
    from ..faultproxy import FaultProxy

    proxy = FaultProxy()
    try:
        with served(create_app(proxy.url(office), refresh=0.3)) as base:
            page = browser.new_page()
            page.goto(base + "/")
            page.wait_for_selector(".desk")
            proxy.set_mode("refuse")
            page.wait_for_selector("#banner:not([hidden])", timeout=15000)
            banner = page.locator("#banner").inner_text()
            assert banner.startswith(PAGE["stale"].split("(")[0]), banner
            assert page.locator(".desk").count() == 14
            proxy.set_mode("forward")
            page.wait_for_selector("#banner[hidden]", state="attached", timeout=15000)
    finally:
        proxy.close()


def test_the_last_error_stays_while_the_agent_is_offline(office: str, browser: Any) -> None:
    from .adolf_office import _silence

    engine = create_office_engine(office)
    _silence(engine, "watcher_competitor_scan", minutes=10)  # in error, then silent
    engine.dispose()
    with served(create_app(office)) as base:
        page = browser.new_page()
        page.goto(base + "/")
        desk = page.locator('.desk[data-agent-id="watcher_competitor_scan"]')
        desk.wait_for()
        assert desk.get_attribute("data-status") == "offline"
        assert desk.locator(".task-label").inner_text() == PAGE["last_error"]
        assert desk.locator(".task").inner_text().startswith("Ошибка: MarketplaceAPIError")
        assert desk.locator(".since").inner_text().endswith("(10 мин)")
