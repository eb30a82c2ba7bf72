"""Issue 23's acceptance: two `celery office serve --notify` replicas watch one office while a
real worker fails a task, recovers and stops; a local webhook receiver gets exactly one post
per transition."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from ..web.receiver import Receiver, receiving
from ..web.serve_process import ServeProcess
from .conftest import HERE, Office

pytestmark = pytest.mark.e2e

AGENTS = {"watcher_price_monitor", "watcher_night_agent", "reputation_wb"}
LOOK = 0.1  # seconds between two looks of each replica: they race for every transition


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiving() as receiver:
        yield receiver


@pytest.fixture
def replicas(office_pg: Office, hook: Receiver) -> Iterator[list[ServeProcess]]:
    processes = [
        ServeProcess("office_app", cwd=HERE, env=office_pg.env,
                     log_path=office_pg.tmp_path / f"serve-{n}.log",
                     args=("--notify", hook.url, "--notify-interval", str(LOOK)))
        for n in (1, 2)
    ]
    try:
        yield [process.wait_ready() for process in processes]
    finally:
        for process in processes:
            process.close()


def _wait_for_claims_waiting(office: Office, count: int, timeout: float = 30.0) -> None:
    """Until ``count`` sessions wait on a lock to update office_agent_notice."""
    query = ("SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
             "AND query LIKE 'UPDATE office_agent_notice%'")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if office.sql(query)[0].n >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{count} replicas never claimed the same transition at once")


def _settled(hook: Receiver, count: int, what: str) -> list[tuple[str, str]]:
    """Wait for ``count`` posts, then for 30 more looks of each replica: no post may follow."""
    hook.wait_for(lambda posts: len(posts) >= count, what=what)
    time.sleep(30 * LOOK)
    return [(post["agent_id"], post["state"]) for post in hook.posts]


def test_each_transition_is_posted_once_by_two_replicas(
    office_pg: Office, replicas: list[ServeProcess], hook: Receiver
) -> None:
    worker = office_pg.worker()
    office_pg.wait_for(lambda rows: AGENTS <= set(rows), what="registration")
    def notices() -> set[str]:
        return {row.agent_id for row in office_pg.sql("select agent_id from office_agent_notice")}

    deadline = time.monotonic() + 20
    while notices() != AGENTS and time.monotonic() < deadline:
        time.sleep(0.05)
    assert notices() == AGENTS  # first seen, recorded, not posted
    assert hook.posts == []

    # Both replicas find the error at once: the test holds the notices' row locks until both
    # replicas' claims wait on them, then lets them race.
    with office_pg.engine.connect() as holder, holder.begin():
        holder.execute(text("SELECT agent_id FROM office_agent_notice FOR UPDATE"))
        office_pg.send("fail_scan", message="Wildberries API timeout <!channel>")
        _wait_for_claims_waiting(office_pg, 2)
    posts = _settled(hook, 1, "the error")
    assert posts == [("watcher_price_monitor", "error")]
    error = hook.posts[0]
    assert error["text"].startswith("🔴 Мониторинг цен (watcher_price_monitor, watcher): ошибка")
    assert "&lt;!channel&gt;" in error["text"] and "<!channel>" in error["task"]

    office_pg.send("scan_prices")
    posts = _settled(hook, 2, "the recovery")
    assert posts[1:] == [("watcher_price_monitor", "ok")]
    assert hook.posts[1]["event"] == "recovered"

    assert worker.stop() == 0  # warm shutdown: every agent offline
    posts = _settled(hook, 2 + len(AGENTS), "the offline agents")
    assert sorted(posts[2:]) == sorted((agent, "offline") for agent in AGENTS)
    assert len(posts) == 2 + len(AGENTS)  # exactly one post per transition

    assert all(process.proc.poll() is None for process in replicas)  # both watched throughout
    versions = {r.agent_id: r.version
                for r in office_pg.sql("select agent_id, version from office_agent_notice")}
    assert versions == {"watcher_price_monitor": 3, "watcher_night_agent": 1, "reputation_wb": 1}
