"""The ASGI app over HTTP (uvicorn on a loopback port): /api/agents is `status --json`,
/healthz tells whether the database answers, /metrics parses, the page is self-contained and
works under a host app's mount path."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from celery_office.web import create_app
from celery_office.web.prometheus import METRIC_NAMES

from .adolf_office import fill_adolf_office
from .receiver import receiving
from .server import served

SECRET = "s3cret-pw"
UNREACHABLE = f"postgresql+psycopg2://office:{SECRET}@127.0.0.1:1/adolf"
STATIC = Path(__file__).resolve().parents[2] / "celery_office" / "web" / "static"


def get(url: str, *, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@pytest.fixture
def office_url(db_url: str) -> str:
    fill_adolf_office(db_url)
    return db_url


@pytest.fixture
def base(office_url: str) -> Iterator[str]:
    with served(create_app(office_url)) as base:
        yield base


def status_json_of(url: str) -> dict[str, Any]:
    """What `celery office status --json` prints for the database at ``url``."""
    result = subprocess.run(
        [sys.executable, "-m", "celery", "office", "status", "--json", "--database-url", url],
        capture_output=True, text=True, encoding="utf-8", timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_api_agents_is_the_status_json(base: str, office_url: str) -> None:
    status, headers, body = get(base + "/api/agents")
    assert status == 200 and headers["content-type"].startswith("application/json")
    served_json = json.loads(body)
    assert served_json.pop("stale") is None  # the API's own: the database answered
    printed = status_json_of(office_url)
    for document in (served_json, printed):
        del document["summary"]["generated_at"]
        for agent in document["agents"]:  # seconds since the last activity move on
            del agent["silent_for"]
    # the API's own additions: the page's texts ("shown"), the query answered; and its order
    assert served_json["summary"].pop("shown") and served_json["summary"].pop("query")
    for agent in served_json["agents"]:
        assert agent.pop("shown")["status"]
    served_json["agents"].sort(key=lambda agent: (agent["department"], agent["agent_id"]))
    for served_agent, printed_agent in zip(served_json["agents"], printed["agents"], strict=True):
        # read from the timeline by serve only; status --json leaves them as the row says
        assert served_agent.pop("since") is not None
        assert printed_agent.pop("since") is None or printed_agent["agent_id"] == "lex_monitor"
        assert served_agent.pop("last_error") == printed_agent.pop("last_error")
    assert served_json == printed
    assert served_json["summary"]["counts"] == {"ok": 9, "warning": 3, "error": 1, "offline": 1}


def assert_nothing_of_the_database(body: bytes) -> None:
    """An answer to whoever asks names no part of the database's URL: no password, user,
    host, port or database name (the log does, without the password)."""
    for secret in (SECRET, "office", "127.0.0.1", ":1", "port 1", "adolf"):
        assert secret not in body.decode(), (secret, body)


def test_healthz_and_livez(base: str) -> None:
    status, _, body = get(base + "/healthz")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    assert get(base + "/livez")[::2] == (200, b'{"status":"alive"}')
    with served(create_app(UNREACHABLE)) as down:
        status, _, body = get(down + "/healthz")
        assert get(down + "/livez")[0] == 200  # the process is up: nothing more
    answer = json.loads(body)
    assert status == 503 and answer["status"] == "unavailable"
    assert "connection refused" in answer["reason"]
    assert_nothing_of_the_database(body)


def test_api_agents_without_a_database_is_503_and_names_nothing_of_it() -> None:
    with served(create_app(UNREACHABLE)) as down:
        status, _, body = get(down + "/api/agents")
        metrics_status, _, metrics = get(down + "/metrics")
    assert status == 503 and "connection refused" in json.loads(body)["error"]
    assert_nothing_of_the_database(body)
    assert metrics_status == 200
    families = {f.name: f for f in text_string_to_metric_families(metrics.decode())}
    assert [s.value for s in families["celery_office_up"].samples] == [0]


def test_metrics_parse_and_say_each_agents_status(base: str) -> None:
    status, headers, body = get(base + "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    parsed = list(text_string_to_metric_families(body.decode()))
    # the parser names a counter's family without _total; its samples carry the whole name
    families = {(f.samples[0].name if f.type == "counter" else f.name): f for f in parsed}
    assert set(families) == set(METRIC_NAMES)
    counters = {name for name, f in families.items() if f.type == "counter"}
    assert counters == {name for name in METRIC_NAMES if name.endswith("_total")}
    assert all(f.type == "gauge" for name, f in families.items() if name not in counters)
    states = {(s.labels["agent_id"], s.labels["status"]): s.value
              for s in families["celery_office_agent_status"].samples}
    assert states[("watcher_competitor_scan", "error")] == 1
    assert states[("watcher_competitor_scan", "ok")] == 0
    assert states[("lex_monitor", "offline")] == 1
    assert sum(v for (agent, _), v in states.items() if agent == "cfo_report") == 1
    sample = next(s for s in families["celery_office_agent_status"].samples
                  if s.labels["agent_id"] == "content_descriptions")
    assert sample.labels["department"] == "content_factory"
    assert "brand" not in sample.labels  # an empty label is left out, not brand=""

    def per_agent(name: str) -> dict[str, float]:
        return {s.labels["agent_id"]: s.value for s in families[name].samples}

    assert per_agent("celery_office_agent_runs_today")["watcher_competitor_scan"] == 12
    assert per_agent("celery_office_agent_failures_today")["watcher_competitor_scan"] == 3
    runtime_today = per_agent("celery_office_agent_runtime_today_seconds")
    assert runtime_today["watcher_competitor_scan"] == 905.5
    assert 540 < per_agent("celery_office_agent_last_activity_age_seconds")["lex_monitor"] < 900
    assert [s.value for s in families["celery_office_up"].samples] == [1]
    assert per_agent("celery_office_agent_runs_total")["watcher_competitor_scan"] == 12
    assert per_agent("celery_office_agent_failures_total")["watcher_competitor_scan"] == 3
    runtime_total = per_agent("celery_office_agent_runtime_seconds_total")
    assert runtime_total["watcher_competitor_scan"] == 905.5
    assert set(per_agent("celery_office_agent_busy").values()) == {0}  # no run in progress


def test_counters_never_go_down_across_midnight_and_retention(office_url: str) -> None:
    """Yesterday's numbers and those retention folded away still count in the _total
    series, while the _today gauges restart; a run in progress makes its agent busy."""
    from sqlalchemy import text

    from celery_office import create_office_engine
    from celery_office.core.days import today
    from celery_office.db.totals import forget_days_before

    engine = create_office_engine(office_url)
    with engine.begin() as conn:
        for days_ago, runs in ((1, 5), (200, 7)):
            conn.execute(text(
                "INSERT INTO office_agent_day (agent_id, day, runs, succeeded, failed, retried, "
                "revoked, runtime_s, max_runtime_s) VALUES ('watcher_competitor_scan', :day, "
                ":runs, 0, :runs, 2, 0, 10, 10)"), {"day": today("UTC") - timedelta(days=days_ago),
                                                   "runs": runs})
        conn.execute(text("INSERT INTO office_agent_run (task_id, agent_id, node_name, task, "
                          "started_at) VALUES ('t-1', 'cfo_report', 'w1@h', 'P&L', 1.0)"))
    with engine.begin() as conn:
        assert forget_days_before(conn, today=today("UTC"), keep_days=90) == 1
    engine.dispose()
    with served(create_app(office_url)) as base:
        _, _, body = get(base + "/metrics")
    samples = {(s.name, s.labels["agent_id"]): s.value
               for f in text_string_to_metric_families(body.decode()) for s in f.samples
               if "agent_id" in s.labels}
    agent = "watcher_competitor_scan"
    assert samples[("celery_office_agent_runs_today", agent)] == 12
    assert samples[("celery_office_agent_runs_total", agent)] == 12 + 5 + 7
    assert samples[("celery_office_agent_failures_total", agent)] == 3 + 5 + 7
    assert samples[("celery_office_agent_retries_total", agent)] == 2 + 2
    assert samples[("celery_office_agent_runtime_seconds_total", agent)] == 905.5 + 20
    assert samples[("celery_office_agent_busy", "cfo_report")] == 1
    assert samples[("celery_office_agent_busy", agent)] == 0


def test_active_alerts_are_metrics(office_url: str) -> None:
    from sqlalchemy import text

    from celery_office import create_office_engine

    engine = create_office_engine(office_url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO office_agent_alert (agent_id, kind, subject, task) "
                          "VALUES ('cfo_report', 'missed', 'adolf.tasks.cfo.*', 't')"))
    engine.dispose()
    with served(create_app(office_url)) as base:
        body = get(base + "/metrics")[2].decode()
    alerts = {(s.labels["agent_id"], s.labels["kind"]): s.value
              for f in text_string_to_metric_families(body) if f.name == "celery_office_agent_alert"
              for s in f.samples}
    assert alerts[("cfo_report", "missed")] == 1 and alerts[("cfo_report", "overlong")] == 0
    assert alerts[("scout_niche", "missed")] == 0


def test_the_page_needs_nothing_from_the_internet(base: str) -> None:
    status, headers, body = get(base + "/")
    page = body.decode()
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    for name in ("office.js", "office.css"):
        status, _, asset = get(f"{base}/static/{name}")
        assert status == 200 and asset == (STATIC / name).read_bytes()
    for text in (page, *(p.read_text(encoding="utf-8") for p in STATIC.iterdir())):
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text), "an outside URL"
        assert "innerHTML" not in text and "insertAdjacentHTML" not in text


def test_every_page_text_comes_from_the_texts_module(base: str) -> None:
    page = get(base + "/")[2].decode()
    for script in STATIC.glob("*.js"):
        assert not re.search(r"[А-Яа-яЁё]", script.read_text(encoding="utf-8")), (
            f"a Russian text in {script.name}, outside celery_office/web/texts.py")
    config = json.loads(re.search(r'id="office-config">(.*?)</script>', page, re.S).group(1))
    from celery_office.web.texts import PAGE

    assert config["texts"] == PAGE


def test_mounted_under_a_path_in_a_host_app(office_url: str) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    with receiving() as receiver:
        office = create_app(office_url, notify=[receiver.url], notify_interval=0.1)
        host = Starlette(routes=[Mount("/office", office)])
        with served(host) as base:
            status, headers, _ = get(base + "/office")
            assert status in (307, 308) and headers["location"].endswith("/office/")
            assert get(base + "/office/")[0] == 200
            assert get(base + "/office/static/office.js")[0] == 200
            assert json.loads(get(base + "/office/api/agents")[2])["summary"]["total"] == 14
            # Starlette runs no lifespan of a mounted app: the first request started the
            # notifications, which recorded every agent as first seen
            notifier = office.state.office.notifier
            try:
                assert notifier is not None and notifier._thread is not None
                assert notifier._thread.is_alive()
            finally:  # no lifespan of a mounted app stops it: the host would, at its own end
                if notifier is not None:
                    notifier.stop()


def test_tables_never_migrated_are_named_with_the_fix(fresh_pg_url: str) -> None:
    with served(create_app(fresh_pg_url)) as base:
        status, _, body = get(base + "/api/agents")
    error = json.loads(body)["error"]
    assert status == 503 and "office migrate" in error, error


def test_healthz_is_503_for_tables_of_a_newer_celery_office(office_url: str) -> None:
    from sqlalchemy import text

    from celery_office import create_office_engine

    with served(create_app(office_url)) as base:
        assert get(base + "/healthz")[0] == 200
        engine = create_office_engine(office_url)
        with engine.begin() as conn:
            conn.execute(text("UPDATE office_alembic_version SET version_num = '0099_future'"))
        engine.dispose()
        time.sleep(1.1)  # past the shared snapshot's second: the next request reads
        status, _, body = get(base + "/healthz")
        assert status == 503, body
        reason = json.loads(body)["reason"]
        assert "0099_future" in reason and "upgrade celery-office" in reason
        stale = json.loads(get(base + "/api/agents")[2])["stale"]
    assert stale["reason"] == reason  # the last good office, marked stale, says why


def test_one_read_in_flight_however_many_pollers(office_url: str) -> None:
    app = create_app(office_url)
    reader = app.state.office.reader
    read, reads = reader.read, []

    def counted() -> Any:
        reads.append(1)
        time.sleep(0.3)  # a read long enough for every poller to arrive during it
        return read()

    reader.read = counted
    with served(app) as base:
        with ThreadPoolExecutor(30) as pool:
            statuses = list(pool.map(lambda _: get(base + "/api/agents")[0], range(30)))
    assert statuses == [200] * 30 and len(reads) == 1


def test_a_bug_in_a_read_is_said_at_once_not_after_the_deadline(
    office_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(office_url, deadline=30.0)

    def broken() -> Any:
        raise RuntimeError("a bug")

    app.state.office.reader.read = broken
    with served(app) as base:
        status, _, body = get(base + "/healthz")  # urllib's 30 s timeout: not the deadline
    assert status == 503 and json.loads(body)["reason"] == (
        "unexpected error while reading: RuntimeError")
    assert any("a bug, please report it" in r.getMessage() for r in caplog.records)
