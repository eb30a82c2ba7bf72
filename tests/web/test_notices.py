"""Claims of transitions in ``office_agent_notice``: one winner per transition, on PostgreSQL
and SQLite, with threads racing and with a replica whose look is stale (ABA)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine

from celery_office import OfficeReporter, create_office_engine
from celery_office.db.notices import Notice, claim, read_notices, record_first_seen


@pytest.fixture
def engine(db_url: str) -> Engine:
    engine = create_office_engine(db_url)
    OfficeReporter("watcher_price_monitor", "watcher", "Мониторинг цен", engine=engine).report_idle()
    yield engine
    engine.dispose()


def test_first_seen_is_recorded_once(engine: Engine) -> None:
    with engine.begin() as conn:
        record_first_seen(conn, {"watcher_price_monitor": "ok"})
    with engine.begin() as conn:  # another replica that saw it first as an error
        record_first_seen(conn, {"watcher_price_monitor": "error"})
        assert read_notices(conn) == {"watcher_price_monitor": Notice("ok", 0)}


def test_a_claim_moves_the_version_and_a_second_claim_of_it_loses(engine: Engine) -> None:
    with engine.begin() as conn:
        record_first_seen(conn, {"watcher_price_monitor": "ok"})
        seen = read_notices(conn)["watcher_price_monitor"]
    with engine.begin() as conn:
        assert claim(conn, "watcher_price_monitor", seen=seen, state="error")
    with engine.begin() as conn:
        assert not claim(conn, "watcher_price_monitor", seen=seen, state="error")
        assert read_notices(conn) == {"watcher_price_monitor": Notice("error", 1)}


def test_a_stale_look_cannot_announce_a_state_older_than_the_announced_one(engine: Engine) -> None:
    """ABA: error, then ok again; a replica that read 'ok' before both claims must not win
    with its stale 'error' although the state reads 'ok' again."""
    with engine.begin() as conn:
        record_first_seen(conn, {"watcher_price_monitor": "ok"})
        stale = read_notices(conn)["watcher_price_monitor"]
    with engine.begin() as conn:
        assert claim(conn, "watcher_price_monitor", seen=stale, state="error")
    with engine.begin() as conn:
        now = read_notices(conn)["watcher_price_monitor"]
        assert claim(conn, "watcher_price_monitor", seen=now, state="ok")
    with engine.begin() as conn:
        assert read_notices(conn)["watcher_price_monitor"] == Notice("ok", 2)
        assert not claim(conn, "watcher_price_monitor", seen=stale, state="error")


def test_racing_claims_have_exactly_one_winner(engine: Engine) -> None:
    with engine.begin() as conn:
        record_first_seen(conn, {"watcher_price_monitor": "ok"})
        seen = read_notices(conn)["watcher_price_monitor"]
    engines = [create_office_engine(engine.url) for _ in range(6)]
    start = threading.Barrier(len(engines))
    won: list[bool] = []

    def race(own: Engine) -> None:
        start.wait()
        with own.begin() as conn:
            won.append(claim(conn, "watcher_price_monitor", seen=seen, state="error"))

    threads = [threading.Thread(target=race, args=(own,)) for own in engines]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        for own in engines:
            own.dispose()
    assert sorted(won) == [False] * 5 + [True]


def test_the_notice_goes_with_the_agents_row(engine: Engine) -> None:
    """On PostgreSQL (SQLite enforces foreign keys only when asked, per connection)."""
    from sqlalchemy import text

    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite enforces ON DELETE CASCADE only with PRAGMA foreign_keys=ON")
    with engine.begin() as conn:
        record_first_seen(conn, {"watcher_price_monitor": "ok"})
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM office_agent_status"))
    with engine.begin() as conn:
        assert read_notices(conn) == {}
