"""The agent's day in numbers on real databases: added by every batch in its own transaction,
read back per day in the app's timezone, cleaned after the retention, shown by the view."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from celery_office import AgentStatus, agent_statuses, create_office_engine
from celery_office.core.changes import DAY_FIELDS, DAY_LARGEST, DAY_SUMS, Batch, DayCount
from celery_office.db.batches import apply_batch
from celery_office.db.daily import DAY, DayNumbers, day_numbers
from celery_office.db.models import DAY_VIEW
from celery_office.db.totals import forget_days_before
from celery_office.settings import OfficeSettings
from celery_office.worker import buffer as buffer_module
from celery_office.worker.flusher import Flusher

from .test_store import AGENTS

AGENT = "watcher_price_monitor"
OTHER = "watcher_night_agent"
DAY1 = date(2026, 3, 1)
T0 = datetime(2026, 3, 1, 12, tzinfo=timezone.utc).timestamp()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = create_office_engine(db_url)
    yield engine
    engine.dispose()


def _apply(engine: Engine, counts: dict[tuple[str, date], DayCount]) -> None:
    batch = Batch(counts=counts, touched={agent for agent, _ in counts})
    with engine.begin() as conn:
        apply_batch(conn, batch, AGENTS, "w1@host")


def _numbers(engine: Engine, day: date = DAY1) -> dict[str, DayNumbers]:
    with engine.connect() as conn:
        return day_numbers(conn, day)


def test_batches_add_their_numbers_to_the_day(engine: Engine) -> None:
    _apply(engine, {(AGENT, DAY1): DayCount(runs=3, succeeded=2, failed=1, runtime_s=4.5,
                                            max_runtime_s=3.0, last_success_at=T0 + 10,
                                            last_failure_at=T0 + 5)})
    # another process's batch: fewer seconds, an older success, a newer failure, a retry
    _apply(engine, {(AGENT, DAY1): DayCount(runs=2, failed=1, retried=1, revoked=1,
                                            runtime_s=1.5, max_runtime_s=1.0,
                                            last_failure_at=T0 + 20),
                    (OTHER, DAY1): DayCount(runs=1)})
    numbers = _numbers(engine)
    assert numbers[AGENT] == DayNumbers(
        runs=5, succeeded=2, failed=2, retried=1, revoked=1, runtime_s=6.0, max_runtime_s=3.0,
        last_success_at=datetime.fromtimestamp(T0 + 10, timezone.utc),  # a NULL never wins
        last_failure_at=datetime.fromtimestamp(T0 + 20, timezone.utc),
    )
    assert numbers[OTHER] == DayNumbers(runs=1)
    assert _numbers(engine, DAY1 + timedelta(days=1)) == {}


def test_the_counts_are_written_in_the_batchs_own_transaction(engine: Engine) -> None:
    """No transaction of their own (the benchmark's transactions per task stay), and a batch
    that fails leaves no count behind."""
    commits: list[int] = []
    event.listen(engine, "commit", lambda conn: commits.append(1))
    _apply(engine, {(AGENT, DAY1): DayCount(runs=1, succeeded=1)})
    assert len(commits) == 1
    with pytest.raises(RuntimeError):
        with engine.begin() as conn:
            apply_batch(conn, Batch(counts={(AGENT, DAY1): DayCount(runs=7)}, touched={AGENT}),
                        AGENTS, "w1@host")
            raise RuntimeError("the rest of the batch failed")
    assert _numbers(engine)[AGENT].runs == 1


def test_agent_statuses_reads_the_days_numbers_with_zeros_for_an_idle_agent(
    engine: Engine,
) -> None:
    _apply(engine, {(AGENT, DAY1): DayCount(runs=2, succeeded=2, runtime_s=1.0,
                                            max_runtime_s=0.75)})
    _apply(engine, {(OTHER, DAY1 - timedelta(days=1)): DayCount(runs=9)})
    with engine.connect() as conn:
        rows = {row.agent_id: row for row in agent_statuses(conn, day=DAY1)}
        plain = {row.agent_id: row for row in agent_statuses(conn)}
    assert rows[AGENT].today == DayNumbers(runs=2, succeeded=2, runtime_s=1.0, max_runtime_s=0.75)
    assert rows[OTHER].today == DayNumbers()  # yesterday's runs are not today's
    assert plain[AGENT].today is None  # not asked: not read


def test_the_view_gives_the_numbers_with_department_name_and_brand(engine: Engine) -> None:
    _apply(engine, {(AGENT, DAY1): DayCount(runs=4, failed=1, last_failure_at=T0)})
    with engine.connect() as conn:
        rows = conn.execute(text(
            f"SELECT agent_id, department, name, brand, day, runs, failed, last_failure_at "
            f"FROM {DAY_VIEW}"
        )).all()
    assert len(rows) == 1
    row = rows[0]
    agent = AGENTS[AGENT]
    assert (row.agent_id, row.department, row.name, row.brand) == (
        AGENT, agent.department, agent.name, agent.brand
    )
    assert (str(row.day), row.runs, row.failed) == ("2026-03-01", 4, 1)
    assert row.last_failure_at is not None


def test_days_past_the_retention_are_deleted(engine: Engine) -> None:
    today = date(2026, 6, 30)
    for age in (0, 89, 90, 91, 400):
        _apply(engine, {(AGENT, today - timedelta(days=age)): DayCount(runs=1)})
    with engine.begin() as conn:
        assert forget_days_before(conn, today=today, keep_days=90) == 2
    with engine.connect() as conn:
        days = sorted(conn.execute(select(DAY.c.day)).scalars())
    assert [(today - day).days for day in days] == [90, 89, 0]


def test_a_run_across_midnight_in_the_apps_timezone_counts_on_both_days(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Europe/Moscow (UTC+3): a run starting at 23:59:58 there and ending at 00:00:01 is
    started on March 1st and succeeds on March 2nd; in UTC both are on March 1st."""
    clock = [datetime(2026, 3, 1, 20, 59, 58, tzinfo=timezone.utc).timestamp()]
    monkeypatch.setattr(buffer_module.time, "time", lambda: clock[0])
    for zone in ("Europe/Moscow", "UTC"):
        buffer = buffer_module.StatusBuffer(timezone=zone)
        buffer.run_started(f"t-{zone}", AGENT, None)
        clock[0] += 3.0
        buffer.run_finished(f"t-{zone}", AGENT, AgentStatus.ok)
        clock[0] -= 3.0
        batch, _ = buffer.take()
        with engine.begin() as conn:
            apply_batch(conn, batch, AGENTS, "w1@host")
    march_1, march_2 = _numbers(engine), _numbers(engine, date(2026, 3, 2))
    assert (march_1[AGENT].runs, march_1[AGENT].succeeded) == (2, 1)  # Moscow's start, UTC's run
    assert (march_2[AGENT].runs, march_2[AGENT].succeeded) == (0, 1)  # Moscow's end
    assert march_2[AGENT].runtime_s == 3.0


class _LandedThenLost:
    """``GuardedDatabase.attempt`` whose first try commits and then reports the connection
    lost, as a server dying right after COMMIT does: the write landed, the writer cannot know."""

    def __init__(self, flusher: Flusher, *, invalidated: bool) -> None:
        self.real = flusher.db.attempt
        self.db = flusher.db
        self.invalidated = invalidated
        self.tries = 0

    def __call__(self, work: Any, *, transaction: bool = True) -> None:
        self.tries += 1
        self.real(work, transaction=transaction)
        if self.tries == 1:
            self.db.commit_sent = True
            raise DBAPIError("COMMIT", {}, Exception("server closed the connection"),
                             connection_invalidated=self.invalidated)


@pytest.mark.parametrize("invalidated", [False, True], ids=["put-back", "retried-at-once"])
def test_a_write_that_landed_unknown_to_the_writer_is_not_counted_twice(
    db_url: str, invalidated: bool
) -> None:
    """The rule: at most once. A write that failed at COMMIT may have landed; its counts are
    not written again, whether the batch waits for the next write or the writer retries on a
    fresh connection at once. (Here it did land: counting it again would say 2 runs.)"""
    flusher = Flusher(
        OfficeSettings(database_url=db_url, flush_interval=0.05, auto_migrate=False), AGENTS,
        node_name="w1@host",
    )
    fault = _LandedThenLost(flusher, invalidated=invalidated)
    flusher.db.attempt = fault  # type: ignore[method-assign]
    flusher.buffer.run_started("t-1", AGENT, None)
    flusher.buffer.run_finished("t-1", AGENT, AgentStatus.ok)
    flusher.role.cycle()
    flusher.buffer.run_started("t-2", AGENT, None)
    flusher.role.cycle()
    assert fault.tries >= 2
    engine = flusher.db.engine
    with engine.connect() as conn:
        today = {row.agent_id: row.today for row in agent_statuses(
            conn, day=datetime.now(timezone.utc).date())}
    assert (today[AGENT].runs, today[AGENT].succeeded) == (2, 1)
    engine.dispose()


@pytest.mark.parametrize("delivered", [True, False], ids=["landed", "never-arrived"])
def test_a_flush_whose_commit_outcome_is_lost_counts_exactly_once(
    pg_url: str, delivered: bool
) -> None:
    """The connection dies after the flush (and its COMMIT) was sent: the writer cannot tell
    whether it landed. It sends the same flush again, with the same number: if it had landed
    nothing changes, if not it lands now. Once, such a flush's counts were dropped ("at most
    once"): a lost COMMIT cost one flush's numbers."""
    from ..faultproxy import FaultProxy

    proxy = FaultProxy("127.0.0.1", make_url(pg_url).port or 5432)
    flusher = Flusher(
        OfficeSettings(database_url=proxy.url(pg_url), flush_interval=0.05, auto_migrate=False),
        AGENTS, node_name="w1@host",
    )
    try:
        flusher.buffer.run_started("t-1", AGENT, None)
        flusher.buffer.run_finished("t-1", AGENT, AgentStatus.ok)
        proxy.cut_after(b"office_apply_batch", delivered=delivered, then_refuse=True)
        flusher.role.cycle()
        assert proxy.cuts == 1 and flusher.writer.in_doubt  # sent, outcome unknown, database away
        proxy.set_mode("forward")
        flusher.role.cycle()  # sent again first, same number
        assert not flusher.writer.in_doubt
        flusher.buffer.run_started("t-2", AGENT, None)
        flusher.role.cycle()
        engine = create_office_engine(pg_url)
        with engine.connect() as conn:
            today = {row.agent_id: row.today for row in agent_statuses(
                conn, day=datetime.now(timezone.utc).date())}
        engine.dispose()
        assert (today[AGENT].runs, today[AGENT].succeeded) == (2, 1)  # not 3, not 1
    finally:
        flusher.db.engine.dispose()
        proxy.close()


def test_the_day_fields_are_declared_once_and_everything_follows_them() -> None:
    """core.changes.DAY_FIELDS is the one declaration: the counter a process keeps, the numbers
    read back, the table's columns and the batch's JSON all have exactly those fields."""
    assert [f.name for f in dataclasses.fields(DayCount)] == list(DAY_FIELDS)
    assert [f.name for f in dataclasses.fields(DayNumbers)] == list(DAY_FIELDS)
    assert set(DAY.c.keys()) - {"agent_id", "day"} == set(DAY_FIELDS)
    assert set(DAY_SUMS).isdisjoint(DAY_LARGEST)
    count = DayCount(runs=2, succeeded=1, runtime_s=3.0, max_runtime_s=2.0, last_success_at=5.0)
    count.add(DayCount(runs=1, failed=1, runtime_s=1.0, max_runtime_s=4.0, last_failure_at=6.0,
                       last_success_at=4.0))
    assert count.as_dict() == {"runs": 3, "succeeded": 1, "failed": 1, "retried": 0,
                               "revoked": 0, "runtime_s": 4.0, "max_runtime_s": 4.0,
                               "last_success_at": 5.0, "last_failure_at": 6.0}
