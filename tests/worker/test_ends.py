"""A run's end moves on at once, in batches: a pool process hands it over as it ends (a process
SIGKILLed a moment later does not take it along), the main process writes it as it arrives,
and a flood of short tasks still costs a hand-over per ``END_HANDOVER_GAP`` and a write per
flush interval, not one per task."""

from __future__ import annotations

import os
import signal
import time
from datetime import date

from celery_office import AgentStatus, agent_statuses
from celery_office.core.changes import Batch, DayCount, RunChange
from celery_office.settings import OfficeSettings
from celery_office.worker.buffer import StatusBuffer
from celery_office.worker.flusher import Flusher
from celery_office.worker.forwarder import END_HANDOVER_GAP

from ..db.test_store import AGENTS

AGENT = "watcher_price_monitor"


def _flusher(url: str, *, worker_duties: bool = False, **settings: float) -> Flusher:
    values = {"shutdown_timeout": 5.0, "auto_migrate": False, **settings}
    return Flusher(OfficeSettings(database_url=url, **values), AGENTS, node_name="w1@host",
                   worker_duties=worker_duties)


def _wait(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _in_child(work) -> float:
    """Run ``work`` in a forked child (a pool process) that never returns into pytest; wait
    for it. Returns the seconds the child lived."""
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            work()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    return time.monotonic() - started


def test_the_first_end_since_a_take_wakes_the_flusher_once() -> None:
    buffer = StatusBuffer(remember_own_ends=True)
    woken: list[int] = []
    buffer.on_end = lambda: woken.append(1)
    buffer.run_started("t-1", AGENT, "Сканирование")
    assert woken == []  # a start waits for the turn
    buffer.run_finished("t-1", AGENT, AgentStatus.error, text="Ошибка: Timeout")
    buffer.run_started("t-2", AGENT, "Сканирование")
    buffer.run_finished("t-2", AGENT, AgentStatus.ok)
    assert woken == [1]  # once until the flusher takes: the next ends go with it
    buffer.take()
    buffer.absorb(Batch(runs={"t-3": RunChange(AGENT, "Сканирование", time.time())},
                        touched={AGENT}))
    assert woken == [1]
    handed = Batch(touched={AGENT})  # a run that started and failed between two hand-overs
    handed.counts[(AGENT, date.today())] = DayCount(runs=1, failed=1)
    buffer.absorb(handed)
    assert woken == [1, 1]


def test_a_pool_process_killed_right_after_a_run_ended_has_handed_it_over(sqlite_url) -> None:
    """The flush interval is long (a hand-over every 5 s): the end goes as it happens, so the
    main process has it although the pool process is SIGKILLed 0.2 s later."""
    flusher = _flusher(sqlite_url, worker_duties=True, flush_interval=10.0)
    flusher.prepare()
    assert flusher.handover is not None

    def run_fails_then_killed() -> None:
        flusher.after_fork_in_child()
        flusher.buffer.run_started("t-1", AGENT, "Сканирование")
        flusher.buffer.run_finished("t-1", AGENT, AgentStatus.error, text="Ошибка: Timeout")
        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGKILL)

    _in_child(run_fails_then_killed)
    flusher.handover.drain(flusher.buffer.absorb)
    batch, _ = flusher.buffer.take()
    assert batch.outcomes[AGENT].task == "Ошибка: Timeout"
    assert [(c.runs, c.failed) for c in batch.counts.values()] == [(1, 1)]


def test_a_flood_of_ends_is_handed_over_in_batches(sqlite_url) -> None:
    flusher = _flusher(sqlite_url, worker_duties=True, flush_interval=10.0)
    flusher.prepare()
    assert flusher.handover is not None
    runs = 2000

    def flood() -> None:
        flusher.after_fork_in_child()
        for i in range(runs):
            flusher.buffer.run_started(f"t-{i}", AGENT, "Сканирование")
            flusher.buffer.run_finished(f"t-{i}", AGENT, AgentStatus.ok)
            time.sleep(0.0005)
        time.sleep(0.3)  # the last end's hand-over; no exit hand-over (os._exit)

    lived = _in_child(flood)
    parts = flusher.handover.drain(flusher.buffer.absorb)
    batch, _ = flusher.buffer.take()
    assert sum(c.succeeded for c in batch.counts.values()) == runs  # every end came over
    assert parts <= lived / END_HANDOVER_GAP + 2, (parts, lived)  # not one per end


def test_the_main_process_writes_an_end_as_it_arrives(sqlite_url) -> None:
    """With a 30 s flush interval, an end is in the table at once: a main process SIGKILLed
    a moment later has written it."""
    flusher = _flusher(sqlite_url, flush_interval=30.0)
    engine = flusher.db.engine
    flusher.buffer.run_started("t-1", AGENT, "Сканирование")
    flusher.buffer.run_finished("t-1", AGENT, AgentStatus.error, text="Ошибка: Timeout")

    def shown() -> bool:
        with engine.connect() as conn:
            row = {r.agent_id: r for r in agent_statuses(conn)}.get(AGENT)
        return row is not None and row.status is AgentStatus.error

    _wait(shown, timeout=15.0)
    assert flusher.stop()
    engine.dispose()


def test_a_flood_of_ends_is_written_once_a_flush_interval(sqlite_url) -> None:
    flusher = _flusher(sqlite_url, flush_interval=0.5)
    writes: list[float] = []
    write = flusher.writer.write

    def counted(batch: Batch, first_out: set[str]) -> bool:
        writes.append(time.monotonic())
        return write(batch, first_out)

    flusher.writer.write = counted  # type: ignore[method-assign]
    started = time.monotonic()
    for i in range(2000):
        flusher.buffer.run_started(f"t-{i}", AGENT, "Сканирование")
        flusher.buffer.run_finished(f"t-{i}", AGENT, AgentStatus.ok)
        time.sleep(0.0005)
    lived = time.monotonic() - started
    assert flusher.stop()
    assert 1 <= len(writes) <= lived / 0.5 + 2, (len(writes), lived)
