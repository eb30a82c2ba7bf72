"""One target's deliveries from the outbox on a real PostgreSQL: a slow receiver is retried
with backoff, failures and the recovery are said once each and without the URL's secrets,
a refused message is dropped, and the target's scheme and host are all a log line names."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from celery_office import OfficeReporter, create_office_engine
from celery_office.web.notifier import Notifier
from celery_office.web.targets import check_targets, scrub, where

from .receiver import receiving

TOKEN = "xoxb-SECRET-TOKEN-42"


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    engine = create_office_engine(pg_url)
    yield engine
    engine.dispose()


def agent(engine: Engine) -> OfficeReporter:
    return OfficeReporter("reputation_wb", "reputation", "WB отзывы", engine=engine)


def test_a_slow_receiver_gets_each_event_a_few_times_with_backoff(
    engine: Engine, caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 30.7: a receiver answering after the timeout got each post up to 8 times."""
    caplog.set_level(logging.INFO)
    agent(engine).report_idle()
    with receiving(f"/hooks/{TOKEN}") as hook:
        hook.delay = 1.5  # answers after the 0.5 s timeout
        watch = Notifier(engine, check_targets([hook.url]), offline_after=300, interval=0.2,
                         timeout=0.5, backoff=0.2)
        watch.look()
        watch.start()
        try:
            agent(engine).report_error("API timeout")
            agent(engine).report_idle()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                time.sleep(0.2)
            with hook.lock:
                tries = [event_id for event_id, _ in hook.arrivals]
            hook.delay = 0.0  # the receiver is quick again: every event arrives
            deadline = time.monotonic() + 40
            while _done(engine) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            watch.stop()
    assert _done(engine) == 2
    assert set(tries) and all(tries.count(key) <= 3 for key in set(tries)), tries
    failing = [r for r in caplog.records if "fail (timeout" in r.getMessage()
               or "fail (TimeoutError" in r.getMessage() or "fail (URLError" in r.getMessage()]
    assert len(failing) == 1, caplog.text
    assert len([r for r in caplog.records if "delivered again" in r.getMessage()]) == 1
    assert TOKEN not in caplog.text


def _done(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(text(
            "SELECT count(*) FROM office_notify_delivery WHERE state = 'done'")))


def test_a_refused_message_is_dropped_not_retried(engine: Engine) -> None:
    agent(engine).report_idle()
    with receiving() as hook:
        hook.statuses = [400]
        watch = Notifier(engine, check_targets([hook.url]), offline_after=300, interval=0.2)
        watch.look()
        agent(engine).report_error("API timeout")
        watch.look()
        courier = watch.couriers[0]
        assert courier.deliver_one() is True
        assert courier.deliver_one() is False  # nothing left to send
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT state FROM office_notify_delivery")) == "dropped"


def test_log_lines_name_scheme_and_host_only() -> None:
    url = f"https://user:pw@hooks.slack.com/services/T000/B000/{TOKEN}?x=1"
    assert where(url) == "https://hooks.slack.com/…"
    assert TOKEN not in scrub(f"HTTP Error 404 for {url}: /services/T000/B000/{TOKEN}", url)
    assert check_targets([url, url])[0].where == "https://hooks.slack.com/…"  # once
    tgram = check_targets(["tgram://123456789:AAbbCCddEEff/4242"])[0]
    assert "AAbbCCddEEff" not in tgram.where and tgram.where.startswith("tgram://")
