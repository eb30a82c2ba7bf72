"""The buffer alone: no thread, no database. What it keeps, cancels and hands back decides
whether a run's end is ever lost or a start left behind, so each moment is pinned here."""

from __future__ import annotations

import time
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from celery_office.core.changes import Batch, DayCount, Outcome, RunChange
from celery_office.core.days import DayClock
from celery_office.core.statuses import AgentStatus
from celery_office.worker import buffer as buffer_module
from celery_office.worker.buffer import StatusBuffer

AGENT = "watcher_price_monitor"


def test_a_run_that_starts_and_ends_between_two_takes_costs_no_row() -> None:
    buffer = StatusBuffer()
    buffer.run_started("t-1", AGENT, "Сканирование")
    buffer.run_finished("t-1", AGENT, AgentStatus.ok, metrics={"n": 1})
    batch, first_out = buffer.take()
    assert batch.runs == {} and first_out == set()
    assert batch.outcomes[AGENT].status is AgentStatus.ok
    assert batch.metrics[AGENT][0] == {"n": 1}


def test_a_run_whose_start_went_out_gets_its_end() -> None:
    buffer = StatusBuffer()
    buffer.run_started("t-1", AGENT, "Сканирование")
    batch, first_out = buffer.take()
    assert first_out == {"t-1"}
    buffer.run_finished("t-1", AGENT, AgentStatus.error, text="Ошибка: Timeout")  # in flight
    buffer.settle(batch, first_out, ok=True)
    ends, _ = buffer.take()
    assert ends.runs["t-1"].ended
    assert ends.outcomes[AGENT].task == "Ошибка: Timeout"


def test_a_failed_write_that_never_reached_commit_forgets_a_run_ended_meanwhile() -> None:
    buffer = StatusBuffer()
    buffer.run_started("t-1", AGENT, "Сканирование")
    batch, first_out = buffer.take()
    buffer.run_finished("t-1", AGENT, AgentStatus.ok)
    buffer.settle(batch, first_out, ok=False)
    buffer.put_back(batch)
    again, _ = buffer.take()
    assert again.runs == {}  # neither start nor end: nothing of it landed
    assert again.outcomes[AGENT].status is AgentStatus.ok


def test_memory_stays_one_entry_per_agent_however_many_runs_fail_to_write() -> None:
    buffer = StatusBuffer()
    for i in range(1000):
        buffer.run_started(f"t-{i}", AGENT, "Сканирование")
        batch, first_out = buffer.take()
        buffer.run_finished(f"t-{i}", AGENT, AgentStatus.ok)
        buffer.settle(batch, first_out, ok=False)
        buffer.put_back(batch)
    assert buffer.pending() == 1


def test_postrun_after_a_failure_does_not_overwrite_the_error() -> None:
    buffer = StatusBuffer()
    buffer.run_started("t-1", AGENT, "Сканирование")
    buffer.run_finished("t-1", AGENT, AgentStatus.error, text="Ошибка: X")
    buffer.run_finished("t-1", AGENT, AgentStatus.ok, only_if_active=True)  # task_postrun
    batch, _ = buffer.take()
    assert batch.outcomes[AGENT].status is AgentStatus.error


def _handed(*runs: tuple[str, RunChange], outcome: Outcome | None = None) -> Batch:
    batch = Batch(runs=dict(runs), touched={AGENT})
    if outcome is not None:
        batch.outcomes[AGENT] = outcome
    return batch


def test_absorbed_start_and_end_before_a_write_cancel_out() -> None:
    main = StatusBuffer(remember_own_ends=True)
    main.absorb(_handed(("t-1", RunChange(AGENT, "Сканирование", 100.0))))
    main.absorb(_handed(("t-1", RunChange(AGENT, None, 101.0, ended=True)),
                        outcome=Outcome(AgentStatus.ok, None, 101.0)))
    batch, _ = main.take()
    assert batch.runs == {} and batch.outcomes[AGENT].status is AgentStatus.ok


def test_an_absorbed_end_after_its_start_was_taken_is_written() -> None:
    main = StatusBuffer(remember_own_ends=True)
    main.absorb(_handed(("t-1", RunChange(AGENT, "Сканирование", 100.0))))
    batch, first_out = main.take()
    main.settle(batch, first_out, ok=True)
    main.absorb(_handed(("t-1", RunChange(AGENT, None, 101.0, ended=True))))
    ends, _ = main.take()
    assert ends.runs["t-1"].ended


def test_a_start_handed_over_after_the_main_process_ended_the_run_is_stale() -> None:
    """The pool process was lost (WorkerLostError, seen by the main process) just after it
    handed the start over: the late start must not bring the run back."""
    main = StatusBuffer(remember_own_ends=True)
    main.run_finished("t-1", AGENT, AgentStatus.error, text="Ошибка: WorkerLostError")
    main.absorb(_handed(("t-1", RunChange(AGENT, "Сканирование", 0.0))))
    batch, _ = main.take()
    assert batch.runs["t-1"].ended


def test_the_newer_outcome_wins_whichever_arrives_last() -> None:
    main = StatusBuffer(remember_own_ends=True)
    main.absorb(_handed(outcome=Outcome(AgentStatus.error, "Ошибка: new", 200.0)))
    main.absorb(_handed(outcome=Outcome(AgentStatus.ok, None, 100.0)))
    batch, _ = main.take()
    assert batch.outcomes[AGENT].task == "Ошибка: new"


def test_the_first_change_starts_the_flusher_once() -> None:
    buffer = StatusBuffer()
    started: list[int] = []

    def start() -> None:
        started.append(1)
        buffer.on_first_change = None

    buffer.on_first_change = start
    buffer.run_started("t-1", AGENT, None)
    buffer.run_finished("t-1", AGENT, AgentStatus.ok)
    assert started == [1]


# ---------------------------------------------------------------------- the day in numbers

DAY = date(2026, 3, 1)


def _counts(batch: Batch) -> dict[tuple[str, date], tuple[int, int, int, int, int]]:
    """(runs, succeeded, failed, retried, revoked) per (agent, day)."""
    return {key: (c.runs, c.succeeded, c.failed, c.retried, c.revoked)
            for key, c in batch.counts.items()}


def _today() -> date:
    return datetime.now(timezone.utc).date()


def test_every_run_is_counted_even_those_that_cost_no_row() -> None:
    buffer = StatusBuffer()
    outcomes = [AgentStatus.ok, AgentStatus.error, AgentStatus.warning, None]
    for i, outcome in enumerate(outcomes):
        buffer.run_started(f"t-{i}", AGENT, "Сканирование")
        buffer.run_finished(f"t-{i}", AGENT, outcome)
        buffer.run_finished(f"t-{i}", AGENT, AgentStatus.ok, only_if_active=True)  # postrun
    batch, _ = buffer.take()
    assert batch.runs == {}  # no row for any of them ...
    assert _counts(batch) == {(AGENT, _today()): (4, 1, 1, 1, 1)}  # ... and every one counted
    count = batch.counts[(AGENT, _today())]
    assert 0 < count.max_runtime_s <= count.runtime_s < 1.0
    assert count.last_success_at is not None and count.last_failure_at is not None
    assert not buffer.take()[0]  # taken once: the next batch starts from zero


def test_the_same_end_signalled_twice_in_the_main_process_counts_once() -> None:
    """A hard time limit sends task_failure twice in the main process."""
    main = StatusBuffer(remember_own_ends=True)
    main.absorb(_handed(("t-1", RunChange(AGENT, "Сканирование", time.time() - 2.0))))
    for _ in range(2):
        main.run_finished("t-1", AGENT, AgentStatus.error, text="Ошибка: TimeLimitExceeded")
    batch, _ = main.take()
    assert _counts(batch) == {(AGENT, _today()): (0, 0, 1, 0, 0)}  # the start is the pool's
    assert 1.9 < batch.counts[(AGENT, _today())].runtime_s < 3.0  # its start came over


def test_a_lost_run_whose_start_never_came_over_counts_without_runtime() -> None:
    main = StatusBuffer(remember_own_ends=True)
    main.run_finished("t-1", AGENT, AgentStatus.error, text="Ошибка: WorkerLostError")
    count = main.take()[0].counts[(AGENT, _today())]
    assert (count.failed, count.runtime_s, count.max_runtime_s) == (1, 0.0, 0.0)


def test_handed_over_counts_add_up_with_the_main_processes_own() -> None:
    pool_a, pool_b = StatusBuffer(), StatusBuffer()
    main = StatusBuffer(remember_own_ends=True)
    for pool, outcome in ((pool_a, AgentStatus.ok), (pool_b, AgentStatus.error)):
        pool.run_started("t-" + outcome.value, AGENT, None)
        pool.run_finished("t-" + outcome.value, AGENT, outcome)
        main.absorb(pool.take()[0])
    main.run_finished("t-revoked", AGENT, None)  # a revoke seen by the main process
    batch, _ = main.take()
    assert _counts(batch) == {(AGENT, _today()): (2, 1, 1, 0, 1)}


def test_a_batch_put_back_after_a_failed_write_is_counted_once() -> None:
    buffer = StatusBuffer()
    buffer.run_started("t-1", AGENT, None)
    buffer.run_finished("t-1", AGENT, AgentStatus.ok)
    batch, first_out = buffer.take()
    buffer.run_started("t-2", AGENT, None)  # meanwhile
    buffer.settle(batch, first_out, ok=False)  # nothing landed
    buffer.put_back(batch)
    again, _ = buffer.take()
    assert _counts(again) == {(AGENT, _today()): (2, 1, 0, 0, 0)}  # not 3 runs, not 0


def test_merged_batches_add_counts_and_never_share_a_counter() -> None:
    older = Batch(counts={(AGENT, DAY): DayCount(runs=2, succeeded=1, runtime_s=1.0,
                                                 max_runtime_s=1.0, last_success_at=10.0)})
    newer = Batch(counts={(AGENT, DAY): DayCount(runs=1, failed=1, runtime_s=3.0,
                                                 max_runtime_s=3.0, last_failure_at=20.0),
                          ("other", DAY): DayCount(runs=5)})
    merged = Batch()
    merged.merge_older(older)
    merged.merge_older(newer)
    assert merged.counts[(AGENT, DAY)] == DayCount(
        runs=3, succeeded=1, failed=1, runtime_s=4.0, max_runtime_s=3.0,
        last_success_at=10.0, last_failure_at=20.0,
    )
    merged.counts[(AGENT, DAY)].runs += 100
    assert older.counts[(AGENT, DAY)].runs == 2 and newer.counts[(AGENT, DAY)].runs == 1
    parts = merged.by_agent()  # the hand-over and the refused-write split keep them
    assert parts["other"].counts == {("other", DAY): DayCount(runs=5)}
    assert "other" in parts["other"].touched
    assert Batch(counts={(AGENT, DAY): DayCount(runs=1)})  # counts alone are something to write


def test_a_run_is_counted_on_the_day_of_the_app_timezone(monkeypatch) -> None:
    """Europe/Moscow is UTC+3: 20:59:59 UTC is 23:59:59 there, the last second of March 1st.
    A run that starts then and ends two seconds later starts on the 1st and ends on the 2nd."""
    clock = [datetime(2026, 3, 1, 20, 59, 59, tzinfo=timezone.utc).timestamp()]
    monkeypatch.setattr(buffer_module.time, "time", lambda: clock[0])
    buffer = StatusBuffer(timezone="Europe/Moscow")
    buffer.run_started("t-1", AGENT, None)
    clock[0] += 2.0
    buffer.run_finished("t-1", AGENT, AgentStatus.ok)
    batch, _ = buffer.take()
    assert _counts(batch) == {(AGENT, date(2026, 3, 1)): (1, 0, 0, 0, 0),
                              (AGENT, date(2026, 3, 2)): (0, 1, 0, 0, 0)}
    assert batch.counts[(AGENT, date(2026, 3, 2))].runtime_s == 2.0
    utc = StatusBuffer()  # the same moments in UTC are both on March 1st
    clock[0] -= 2.0
    utc.run_started("t-1", AGENT, None)
    clock[0] += 2.0
    utc.run_finished("t-1", AGENT, AgentStatus.ok)
    assert _counts(utc.take()[0]) == {(AGENT, date(2026, 3, 1)): (1, 1, 0, 0, 0)}


def test_the_day_clock_follows_summer_time() -> None:
    """Europe/Berlin's day of the switch to summer time has 23 hours: the cached bounds of a
    day are converted from its own midnights, not counted as 24 hours."""
    clock = DayClock("Europe/Berlin")
    berlin = ZoneInfo("Europe/Berlin")
    last_second = datetime(2026, 3, 29, 23, 59, 59, tzinfo=berlin).timestamp()
    first_second = datetime(2026, 3, 29, 0, 0, 1, tzinfo=berlin).timestamp()
    assert clock.day_of(first_second) == date(2026, 3, 29)
    assert clock.day_of(last_second) == date(2026, 3, 29)
    assert clock.day_of(last_second + 1.0) == date(2026, 3, 30)


def test_a_terminated_run_is_counted_revoked_once_by_the_main_process() -> None:
    """``revoke(terminate=True)``: the main process sends task_revoked, and the pool process,
    stopped by the signal, may still send task_postrun without a verdict. One revoke."""
    pool, main = StatusBuffer(), StatusBuffer(remember_own_ends=True)
    pool.run_started("t-1", AGENT, None)
    main.absorb(pool.take()[0])
    main.run_finished("t-1", AGENT, None)  # task_revoked, in the main process
    pool.run_finished("t-1", AGENT, None, only_if_active=True)  # task_postrun, state None
    main.absorb(pool.take()[0])
    assert _counts(main.take()[0]) == {(AGENT, _today()): (1, 0, 0, 0, 1)}
