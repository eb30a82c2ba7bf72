"""Counters that never go down: an agent's totals are its kept days plus what retention
folded away, on PostgreSQL and SQLite."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from sqlalchemy import Engine, select

from celery_office import create_office_engine
from celery_office.core.changes import Batch, DayCount
from celery_office.db.batches import apply_batch
from celery_office.db.daily import DAY
from celery_office.db.totals import Totals, agent_totals, forget_days_before

from .test_store import AGENTS

AGENT = "watcher_price_monitor"
OTHER = "watcher_night_agent"
TODAY = date(2026, 6, 30)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = create_office_engine(db_url)
    yield engine
    engine.dispose()


def _add(engine: Engine, agent: str, age: int, **numbers: float) -> None:
    counts = {(agent, TODAY - timedelta(days=age)): DayCount(**numbers)}  # type: ignore[arg-type]
    with engine.begin() as conn:
        apply_batch(conn, Batch(counts=counts, touched={agent}), AGENTS, "w1@host")


def _totals(engine: Engine) -> dict[str, Totals]:
    with engine.connect() as conn:
        return agent_totals(conn)


def test_totals_sum_every_kept_day(engine: Engine) -> None:
    _add(engine, AGENT, 0, runs=3, succeeded=2, failed=1, runtime_s=1.5)
    _add(engine, AGENT, 1, runs=2, retried=1, revoked=1, runtime_s=0.5)  # yesterday: midnight
    _add(engine, OTHER, 0, runs=1, succeeded=1)
    assert _totals(engine) == {
        AGENT: Totals(runs=5, succeeded=2, failed=1, retried=1, revoked=1, runtime_s=2.0),
        OTHER: Totals(runs=1, succeeded=1),
    }


def test_retention_folds_the_days_it_deletes_so_totals_never_go_down(engine: Engine) -> None:
    for age in (0, 89, 90, 91, 400):
        _add(engine, AGENT, age, runs=1, failed=1, runtime_s=2.0)
    before = _totals(engine)
    with engine.begin() as conn:
        assert forget_days_before(conn, today=TODAY, keep_days=90) == 2
    with engine.connect() as conn:
        kept = sorted((TODAY - day).days for day in conn.execute(select(DAY.c.day)).scalars())
    assert kept == [0, 89, 90]  # the days went
    assert _totals(engine) == before == {AGENT: Totals(runs=5, failed=5, runtime_s=10.0)}
    # a second retention (another worker, the next hour) folds nothing twice
    _add(engine, AGENT, 95, runs=1)  # a late flush of an old day
    with engine.begin() as conn:
        assert forget_days_before(conn, today=TODAY, keep_days=90) == 1
        assert forget_days_before(conn, today=TODAY, keep_days=90) == 0
    assert _totals(engine)[AGENT] == Totals(runs=6, failed=5, runtime_s=10.0)


def test_two_retentions_at_once_fold_each_day_once(pg_url: str) -> None:
    """Two workers' hourly retention at the same moment: the second waits on the first's
    deleted rows and then finds them gone (read committed would let a fold that selected
    before it deleted count them twice)."""
    engine = create_office_engine(pg_url)
    try:
        for age in range(100, 130):
            _add(engine, AGENT, age, runs=1)
        _add(engine, AGENT, 0, runs=1)
        first = engine.connect()
        first.begin()
        assert forget_days_before(first, today=TODAY, keep_days=90) == 30  # holds the locks
        folded: list[int] = []

        def second() -> None:
            with engine.begin() as conn:
                folded.append(forget_days_before(conn, today=TODAY, keep_days=90))

        thread = threading.Thread(target=second)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive(), "the second retention did not wait for the first's rows"
        first.commit()
        first.close()
        thread.join(20)
        assert folded == [0]
        assert _totals(engine)[AGENT] == Totals(runs=31)
    finally:
        engine.dispose()
