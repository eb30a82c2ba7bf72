"""The buffer alone: no thread, no database. What it keeps, cancels and hands back decides
whether a run's end is ever lost or a start left behind, so each moment is pinned here."""

from __future__ import annotations

from celery_office.changes import Batch, Outcome, RunChange
from celery_office.db.models import AgentStatus
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


def test_a_failure_at_commit_keeps_the_end_since_the_start_may_have_landed() -> None:
    buffer = StatusBuffer()
    buffer.run_started("t-1", AGENT, "Сканирование")
    batch, first_out = buffer.take()
    buffer.run_finished("t-1", AGENT, AgentStatus.ok)
    buffer.settle(batch, first_out, ok=False, may_have_landed=True)
    buffer.put_back(batch)
    again, _ = buffer.take()
    assert again.runs["t-1"].ended


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
