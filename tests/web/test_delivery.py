"""Delivery through the public API (``create_app(notify=...)``) on a real database: each
target on its own, the event id in body and header, Apprise URLs, the URL check of the CLI."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine

from celery_office import OfficeReporter, create_office_engine
from celery_office.core.errors import OfficeConfigError
from celery_office.web import create_app

from .receiver import receiving
from .serve_process import free_port


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    engine = create_office_engine(pg_url)
    yield engine
    engine.dispose()


@contextmanager
def serving(url: str, notify: list[str], *, interval: float = 0.2) -> Iterator[Any]:
    """The app's notifications running, as ``serve`` runs them (its lifespan)."""
    office = create_app(url, notify=notify, notify_interval=interval).state.office
    office.ensure_started()
    try:
        yield office
    finally:
        office.close()


def agent(engine: Engine, agent_id: str = "reputation_wb") -> OfficeReporter:
    return OfficeReporter(agent_id, "reputation", "WB отзывы", engine=engine)


def _settle(engine: Engine) -> None:
    """The first sight of the agent, before the notifications start."""
    agent(engine).report_idle()


def test_a_hung_and_a_closed_target_never_delay_a_good_one(pg_url: str, engine: Engine) -> None:
    """Issue 27: one sender posted in turn; the good target got the 7th transition 60 s late."""
    _settle(engine)
    closed = f"http://127.0.0.1:{free_port()}/hook"
    with receiving() as hung, receiving() as good:
        hung.hold = threading.Event()  # never answers while the test runs
        with serving(pg_url, [hung.url, closed, good.url]):
            time.sleep(0.5)
            for n in range(7):
                if n % 2 == 0:
                    agent(engine).report_error(f"failure {n}")
                else:
                    agent(engine).report_idle()
                time.sleep(0.5)
            posts = good.wait_for(lambda posts: len(posts) >= 7, timeout=15,
                                  what="7 transitions at the good target within 15 s")
    assert [p["state"] for p in posts] == ["error", "ok"] * 3 + ["error"]


def test_the_event_id_is_in_the_body_and_the_header(pg_url: str, engine: Engine) -> None:
    _settle(engine)
    with receiving() as hook, serving(pg_url, [hook.url]):
        time.sleep(0.5)
        agent(engine).report_error("API timeout")
        hook.wait_for(lambda posts: len(posts) == 1)
    header, body = hook.arrivals[0]
    assert header and body["event_id"] == header


def test_states_between_two_looks_are_all_posted(pg_url: str, engine: Engine) -> None:
    """Issue 30.6: a look every 5 s saw 8 of 42 changes; an error shorter than it, none."""
    _settle(engine)
    with receiving() as hook, serving(pg_url, [hook.url], interval=2.0):
        time.sleep(2.5)
        for _ in range(3):
            agent(engine).report_error("brief failure")
            agent(engine).report_idle()
        posts = hook.wait_for(lambda posts: len(posts) >= 6, timeout=15)
    assert [p["state"] for p in posts] == ["error", "ok"] * 3
    assert len({p["event_id"] for p in posts}) == 6


def test_a_new_agents_first_error_is_announced(pg_url: str, engine: Engine) -> None:
    """Issue 27: its notice stayed at version 0, never posted."""
    _settle(engine)
    with receiving() as hook, serving(pg_url, [hook.url]):
        time.sleep(0.5)
        agent(engine, "scout_niche").report_error("down from the start")
        posts = hook.wait_for(lambda posts: len(posts) == 1, timeout=10)
    assert (posts[0]["agent_id"], posts[0]["state"]) == ("scout_niche", "error")


def test_an_apprise_url_is_a_target(pg_url: str, engine: Engine) -> None:
    _settle(engine)
    with receiving("/apprise") as hook:
        port = hook.url.split(":")[2].split("/")[0]
        with serving(pg_url, [f"json://127.0.0.1:{port}/apprise"]):
            time.sleep(0.5)
            agent(engine).report_error("API timeout")
            posts = hook.wait_for(lambda posts: len(posts) == 1, timeout=15)
    assert "WB отзывы (reputation_wb, reputation): ошибка" in posts[0]["message"]
    assert "API timeout" in posts[0]["message"]
    assert hook.arrivals[0][0]  # the event id as a header too


@pytest.mark.parametrize("url, named", [
    ("file:///etc/passwd", "file://…"),
    ("ftp://x", "ftp://…"),
    ("https:///no-host", "https://?/…"),
    ("tgram://", "tgram://…"),
])
def test_python_checks_urls_as_the_cli_does(pg_url: str, url: str, named: str) -> None:
    with pytest.raises(OfficeConfigError) as caught:
        create_app(pg_url, notify=[url])
    message = str(caught.value)
    assert named in message and "\n" not in message


def test_an_apprise_url_without_apprise_names_the_extra(
    pg_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "apprise" else real(name, *a))
    with pytest.raises(OfficeConfigError,
                       match=r"tgram://… needs Apprise.*celery-office\[notify\]"):
        create_app(pg_url, notify=["tgram://123456789:SECRET/42"])
