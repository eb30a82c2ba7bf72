"""The office page with 1,000 agents in Debian's headless Chromium: a filtered view as a link,
compact rows in natural order, chips that set the URL, and updates in place (a selection
survives them)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from celery_office import OfficeReporter, create_office_engine
from celery_office.web import create_app

from .adolf_office import fill_adolf_office
from .browser import chromium, require_chromium
from .fleet_office import fill_fleet
from .server import served


@pytest.fixture
def browser() -> Iterator[Any]:
    require_chromium()
    with chromium() as browser:
        yield browser


def shown_ids(page: Any) -> list[str]:
    return page.eval_on_selector_all(
        "#office [data-agent-id]", "ns => ns.map(n => n.dataset.agentId)"
    )


def test_a_filtered_link_shows_exactly_the_agents_in_error(pg_url: str, browser: Any) -> None:
    fill_fleet(pg_url, 1000)
    with served(create_app(pg_url, refresh=0.5)) as base:
        page = browser.new_page(bypass_csp=True)  # for wait_for_function only
        page.goto(base + "/?status=error")
        page.wait_for_selector('#chips [data-status="error"]')
        page.wait_for_selector("#office [data-agent-id]")
        assert shown_ids(page) == ["bulk_17", "bulk_512", "bulk_901"]
        assert page.locator('#chips [data-status="error"]').get_attribute("aria-pressed") == "true"
        assert page.locator('#chips [data-status="error"]').inner_text().strip() == "3 ошибки"
        page.click('#chips [data-status="error"]')  # off again: the whole office, as rows
        page.wait_for_function(
            "document.querySelectorAll('#office tr[data-agent-id]').length == 1000"
        )
        assert page.evaluate("location.search") == ""
        ids = shown_ids(page)
        assert ids[:3] == ["bulk_17", "bulk_512", "bulk_901"]
        assert ids.index("bulk_73") < ids.index("bulk_713")
        page.click('#chips [data-status="warning"]')
        page.wait_for_function("location.search === '?status=warning'")
        page.wait_for_function("document.querySelectorAll('#office [data-agent-id]').length < 20")
        assert {n.split("_")[1] for n in shown_ids(page)} == {
            str(n) for n in range(1000) if n % 97 == 5 and n not in (17, 512, 901)}
        page.fill("#search", "page 901")
        page.wait_for_function("new URLSearchParams(location.search).get('q') === 'page 901'")
        page.wait_for_function("document.querySelectorAll('#office [data-agent-id]').length == 0")
        assert page.locator("#office .empty").count() == 1  # a warning filter and an error's text


def test_a_selection_survives_an_update(pg_url: str, browser: Any) -> None:
    fill_adolf_office(pg_url)
    engine = create_office_engine(pg_url)
    with served(create_app(pg_url, refresh=0.3)) as base:
        page = browser.new_page(bypass_csp=True)
        page.goto(base + "/")
        task = page.locator('.desk[data-agent-id="watcher_competitor_scan"] .task')
        task.wait_for()
        text = task.inner_text()
        page.evaluate("""() => {
            const node = document.querySelector('[data-agent-id="watcher_competitor_scan"] .task');
            window.__task = node.firstChild;
            const range = document.createRange();
            range.selectNodeContents(node);
            getSelection().removeAllRanges();
            getSelection().addRange(range);
        }""")
        OfficeReporter("reputation_wb", "reputation", "Отзывы WB", brand="ohana_market",
                       engine=engine).report_working("Обработка отзывов Wildberries: 41 из 120")
        page.wait_for_function("""() => [...document.querySelectorAll('.desk .task')]
            .some(n => n.textContent.includes('41 из 120'))""", timeout=15000)
        assert page.evaluate("getSelection().toString()") == text
        assert page.evaluate("""() => window.__task === document.querySelector(
            '[data-agent-id="watcher_competitor_scan"] .task').firstChild""")
    engine.dispose()


def test_the_readme_screenshots(tmp_path: Any) -> None:
    """docs/office.png and docs/office-1000.png, as this run draws them (into
    ``OFFICE_SCREENSHOTS`` when set, e.g. ``docs``)."""
    import os
    import struct
    from pathlib import Path

    from .screenshot import take_all

    require_chromium()
    folder = Path(os.environ.get("OFFICE_SCREENSHOTS") or tmp_path)
    office, fleet = take_all(folder)
    for path, tall in ((office, True), (fleet, False)):
        head = path.read_bytes()[:24]
        assert head[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", head[16:24])
        assert width == 1280 and (height > 900 if tall else height == 900), (path, height)
