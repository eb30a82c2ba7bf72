"""The timeline the triggers on office_agent_status record (PostgreSQL and SQLite), read back,
served at /api/agents/{id}/timeline, and forgotten past office_timeline_days."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

import pytest
from sqlalchemy import Engine, text

from celery_office import AgentStatus, OfficeReporter, OfficeSettings, create_office_engine
from celery_office.core.changes import Batch, Outcome
from celery_office.core.errors import OfficeConfigError
from celery_office.db.batches import apply_batch
from celery_office.db.schema import migrate
from celery_office.db.timeline import forget_periods_before, read_timeline
from celery_office.db.workers import register_worker
from celery_office.web import create_app

from .test_adoption import spec_url  # noqa: F401 (the fixture: the spec's table, with rows)
from .test_store import Agent

EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = create_office_engine(db_url)
    yield engine
    engine.dispose()


def agent(engine: Engine) -> OfficeReporter:
    return OfficeReporter("reputation_wb", "reputation", "WB отзывы", engine=engine)


def test_every_writer_s_change_is_a_period(engine: Engine) -> None:
    agent(engine).report_idle()
    agent(engine).report_working("Обработка отзывов")  # a run: ok, not after a success
    agent(engine).report_working("Обработка отзывов 2")  # the same period
    agent(engine).report_error("API timeout")
    agent(engine).report_idle()  # ok again
    with engine.begin() as conn:  # the host's own code on the table: recorded too
        conn.execute(text("UPDATE office_agent_status SET status = 'offline', task = NULL"))
    periods = read_timeline(engine, "reputation_wb", since=EPOCH)
    assert [(p.status, p.last_run_ok) for p in periods] == [
        ("ok", True), ("ok", False), ("error", False), ("ok", True), ("offline", False)]
    assert periods[2].task == "Ошибка: API timeout"
    assert all(p.until == q.since for p, q in zip(periods, periods[1:], strict=False))
    assert periods[-1].until is None


def test_retention_forgets_ended_periods_only(engine: Engine) -> None:
    agent(engine).report_error("API timeout")
    agent(engine).report_idle()
    with engine.begin() as conn:  # the error ended two days ago
        conn.execute(text("UPDATE office_agent_timeline SET until = :old WHERE until IS NOT NULL"),
                     {"old": (datetime.now(timezone.utc) - timedelta(days=2)).isoformat()})
        forget_periods_before(conn, keep_days=1)
    assert [p.status for p in read_timeline(engine, "reputation_wb", since=EPOCH)] == ["ok"]


def test_the_endpoint_serves_today_by_default_and_since(db_url: str, engine: Engine) -> None:
    agent(engine).report_error("API timeout")
    agent(engine).report_idle()
    app = create_app(db_url)

    async def get(path: str, query: str = "") -> tuple[int, object]:
        sent: list[dict[str, object]] = []
        scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(),
                 "query_string": query.encode(), "headers": [(b"host", b"127.0.0.1")],
                 "root_path": ""}

        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": b""}

        async def send(message: dict[str, object]) -> None:
            sent.append(message)

        await app(scope, receive, send)
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return int(sent[0]["status"]), json.loads(body)

    status, periods = asyncio.run(get("/api/agents/reputation_wb/timeline"))
    assert status == 200 and [p["status"] for p in periods] == ["error", "ok"]  # type: ignore
    later = urlencode({"since": (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()})
    status, periods = asyncio.run(get("/api/agents/reputation_wb/timeline", later))
    assert status == 200 and [p["status"] for p in periods] == ["ok"]  # type: ignore
    status, _ = asyncio.run(get("/api/agents/reputation_wb/timeline", "since=yesterday"))
    assert status == 400


def test_a_negative_timeline_days_is_one_line_naming_it() -> None:
    with pytest.raises(OfficeConfigError, match="office_timeline_days") as caught:
        OfficeSettings(timeline_days=-1)
    assert "\n" not in str(caught.value)


def test_an_adopted_table_records_the_workers_changes_too(
    spec_url: str,  # noqa: F811 (the fixture imported above)
) -> None:
    """The dashboard's own table, adopted, gets the triggers: a worker's batch (PostgreSQL's
    function, SQLite's Python) and registration write periods, as the spec's reporter did."""
    migrate(spec_url)
    engine = create_office_engine(spec_url)
    try:
        agents = {"watcher_night_agent": Agent("watcher_night_agent", name="Ночной агент")}
        with engine.begin() as conn:
            register_worker(conn, node_name="w@h", hostname="h", pid=1,
                            agents=list(agents.values()), since=time.time() - 1)
        for status in (AgentStatus.error, AgentStatus.ok):
            batch = Batch()
            batch.outcomes["watcher_night_agent"] = Outcome(status, None, time.time())
            batch.touched.update(agents)
            with engine.begin() as conn:
                apply_batch(conn, batch, agents, "w@h")
        night = read_timeline(engine, "watcher_night_agent", since=EPOCH)
        seeded = read_timeline(engine, "reputation_wb", since=EPOCH)
    finally:
        engine.dispose()
    assert [(p.status, p.last_run_ok) for p in night] == [
        ("ok", True), ("error", False), ("ok", True)]
    assert [(p.status, p.task) for p in seeded] == [("error", "Ошибка: API timeout")]
