"""``OFFICE_LANGUAGE=en`` with an ASCII registry: a real prefork worker writes its failures and
retries in English, and neither the table nor the page nor ``/api/agents`` shows a Cyrillic
letter (issue 28). The Russian texts of the default are held by ``test_worker.py``."""

from __future__ import annotations

import re
import urllib.request

import pytest

from celery_office import AgentStatus
from celery_office.settings import OfficeSettings
from celery_office.web import create_app

from ..web.server import served
from .conftest import HERE

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

CYRILLIC = re.compile("[\u0400-\u04ff]")
ENGLISH = {"OFFICE_LANGUAGE": "en", "OFFICE_AGENTS_FILE": str(HERE / "agents_en.yaml")}


def test_an_english_office_writes_and_shows_no_cyrillic(office_pg):
    office_pg.worker(env=ENGLISH)
    office_pg.send("fail_scan")
    office_pg.send("flaky_reviews", hold=3.0)
    rows = office_pg.wait_for(
        lambda rows: rows.get("watcher_price_monitor") is not None
        and rows["watcher_price_monitor"].status is AgentStatus.error
        and rows.get("reputation_wb") is not None
        and rows["reputation_wb"].status is AgentStatus.warning,
        what="an error and a retry")
    assert rows["watcher_price_monitor"].task == (
        "Error: ScanError: Wildberries API timeout after 30s")
    assert rows["reputation_wb"].task == (
        "Retry: Processing Wildberries reviews — ScanError: rate limit 429 (next try in 3 s)")
    table = office_pg.sql("select agent_id, name, department, brand, status, task, "
                          "cast(metrics as text) from office_agent_status")
    assert not [row for row in table if CYRILLIC.search(" ".join(map(str, row)))], table

    settings = OfficeSettings(database_url=office_pg.db_url, language="en", title="Acme Office",
                              currency="$")
    with served(create_app(settings=settings)) as base:
        page = _get(base + "/")
        agents = _get(base + "/api/agents")
    assert "<title>Acme Office</title>" in page and 'lang="en"' in page
    assert not CYRILLIC.findall(page), CYRILLIC.findall(page)[:10]
    assert not CYRILLIC.findall(agents), agents
    assert "$/month" in agents and "working on a task" in page


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.read().decode("utf-8")
