"""The flusher against real databases, at the moments only bad timing reaches: a run
that reports progress and ends while its start is being written, and a long outage."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import pytest
from sqlalchemy import event, select, text

from celery_office import AgentStatus, agent_statuses
from celery_office.db.models import OfficeAgentRun
from celery_office.settings import OfficeSettings
from celery_office.worker.flusher import Flusher

from ..db.test_store import AGENTS

RUN = OfficeAgentRun.__table__
AGENT = "watcher_price_monitor"


def _flusher(url: str, **settings: float) -> Flusher:
    values = {"flush_interval": 0.05, "shutdown_timeout": 5.0, "auto_migrate": False, **settings}
    return Flusher(OfficeSettings(database_url=url, **values), AGENTS, node_name="w1@host")


def _wait(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_run_that_progresses_and_ends_while_its_start_is_written_leaves_no_run(
    db_url: str,
) -> None:
    """The start is in flight when the task reports progress and ends: the end must be
    written after it, or the agent shows working forever."""
    flusher = _flusher(db_url)
    engine = flusher.db.engine
    in_flight = threading.Event()
    send = flusher.db.mark_sent

    def _race() -> None:  # the flusher thread, with the start's transaction on its way
        if not in_flight.is_set():
            in_flight.set()
            flusher.buffer.run_progress("t-1", AGENT, "Сканирование: 50%", {"done": 50})
            flusher.buffer.run_finished("t-1", AGENT, AgentStatus.ok)
        send()

    flusher.db.mark_sent = _race  # type: ignore[method-assign]

    flusher.buffer.run_started("t-1", AGENT, "Сканирование цен")
    _wait(in_flight.is_set)
    assert flusher.stop()
    with engine.connect() as conn:
        assert conn.execute(select(RUN.c.task_id)).all() == []
        row = {r.agent_id: r for r in agent_statuses(conn)}[AGENT]
    assert (row.status, row.task, row.metrics) == (AgentStatus.ok, None, {"done": 50})
    engine.dispose()


def test_a_long_outage_keeps_one_entry_per_agent_not_per_task() -> None:
    """Connections refused for the whole run: runs that start and end between two failed
    writes cost nothing, however many failures they span."""
    flusher = _flusher("postgresql://office@127.0.0.1:9/office", connect_timeout=1.0)
    for i in range(5):
        failures = flusher.db.failures
        flusher.buffer.run_started(f"t-{i}", AGENT, "Сканирование цен")
        # a write failed while the run was in it
        _wait(lambda failures=failures: flusher.db.failures > failures)
        flusher.buffer.run_finished(f"t-{i}", AGENT, AgentStatus.ok)
    assert flusher.buffer.pending() == 1  # the agent's newest outcome, no run
    assert not flusher.stop(timeout=0.5)


@pytest.fixture(params=["postgresql", "sqlite"])
def empty_db_url(request, tmp_path) -> str:
    """A database nobody migrated."""
    if request.param == "postgresql":
        return request.getfixturevalue("fresh_pg_url")
    return f"sqlite:///{tmp_path / 'empty.db'}"


def test_missing_tables_are_named_with_the_command_that_creates_them(
    empty_db_url: str, caplog
) -> None:
    """office_auto_migrate off and nobody migrated: waiting will not help, so the one warning
    says what to run."""
    flusher = _flusher(empty_db_url)
    flusher.buffer.run_started("t-1", AGENT, "Сканирование цен")
    _wait(lambda: flusher.db.failures > 0)
    assert not flusher.stop(timeout=0.5)
    warnings = [r.getMessage() for r in caplog.records if "celery-office" in r.getMessage()]
    assert "office migrate" in warnings[0], warnings


@pytest.mark.parametrize(
    "raise_", ["raise exception 'refused' using errcode = '22023'", "raise exception 'refused'"],
    ids=["sqlstate-22023", "plain-raise-P0001"],
)
def test_a_change_the_database_refuses_is_dropped_alone(pg_url: str, caplog, raise_) -> None:
    """A value the database refuses (here a trigger; in life a constraint a DBA added, a
    value no driver encodes) must not block every later write of the process: after two
    refusals the flusher writes agent by agent and drops only the refused part, loudly. A
    trigger's plain ``RAISE EXCEPTION`` (SQLSTATE P0001) is how most DBAs refuse a row."""
    flusher = _flusher(pg_url)
    engine = flusher.db.engine
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "create function office_refuse() returns trigger language plpgsql as $$ begin "
            f"if position('poison' in coalesce(new.task, '')) > 0 then {raise_}; "
            "end if; return new; end $$"
        )
        conn.exec_driver_sql(
            "create trigger office_refuse before insert or update on office_agent_status "
            "for each row execute function office_refuse()"
        )
    flusher.buffer.run_finished("t-0", "watcher_night_agent", AgentStatus.ok)  # its row, idle
    _wait(lambda: "watcher_night_agent" in _statuses(engine))
    flusher.buffer.run_started("t-1", AGENT, "Сканирование цен")
    flusher.buffer.run_started("t-2", "watcher_night_agent", "poison")
    _wait(lambda: AGENT in _statuses(engine) and _statuses(engine)[AGENT].task is not None)
    rows = _statuses(engine)
    assert rows[AGENT].task == "Сканирование цен"
    assert rows["watcher_night_agent"].task is None
    # the refused part is written after the others: its line follows the rows by a moment
    _wait(lambda: any(r.levelname == "ERROR" for r in caplog.records))
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "watcher_night_agent" in errors[0], errors
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    # a refusal is not an outage: the first line says what happens, not "when it is back"
    assert any("refused a status write" in w for w in warnings), warnings
    assert not any("when the database is back" in w for w in warnings), warnings
    # the process keeps writing, the refused agent included
    flusher.buffer.run_finished("t-2", "watcher_night_agent", AgentStatus.error,
                                text="Ошибка: Timeout")
    flusher.buffer.run_finished("t-1", AGENT, AgentStatus.ok)
    assert flusher.stop()
    rows = _statuses(engine)
    assert (rows[AGENT].status, rows[AGENT].task) == (AgentStatus.ok, None)
    assert rows["watcher_night_agent"].task == "Ошибка: Timeout"
    engine.dispose()


def _statuses(engine):
    with engine.connect() as conn:
        return {row.agent_id: row for row in agent_statuses(conn)}


def test_runs_that_end_during_failed_writes_leave_nothing_behind() -> None:
    """Each run ends while a write that will fail holds its start: once the write fails
    before COMMIT, neither its start nor its end is kept, however long the outage."""
    flusher = _flusher("postgresql://office@127.0.0.1:9/office", connect_timeout=1.0)
    engine = flusher.db.engine
    ending: list[str] = []

    @event.listens_for(engine, "do_connect")
    def _end_in_flight(*args):  # the flusher thread, its batch taken, about to fail
        while ending:
            flusher.buffer.run_finished(ending.pop(), AGENT, AgentStatus.ok)

    for i in range(5):
        failures = flusher.db.failures
        ending.append(f"t-{i}")
        flusher.buffer.run_started(f"t-{i}", AGENT, "Сканирование цен")
        _wait(lambda failures=failures: flusher.db.failures > failures and not ending)
    _wait(lambda: flusher.buffer.pending() == 1)  # the agent's newest outcome, no run
    assert not flusher.stop(timeout=0.5)


class Unprintable(RuntimeError):
    """An exception as a buggy library writes it: its ``__str__`` itself raises."""

    def __str__(self) -> str:
        return self.missing  # type: ignore[attr-defined]


@pytest.mark.parametrize("where", ["inside the write", "outside the write"])
def test_the_writer_thread_survives_a_bug_in_one_cycle(db_url: str, where: str) -> None:
    """An unexpected exception in one flush (here an unprintable one in the database call, or
    one in the bookkeeping around it) is logged and the thread goes on: the process keeps
    reporting afterwards instead of freezing its rows while heartbeats make them look live."""
    flusher = _flusher(db_url)
    engine = flusher.db.engine
    failed = threading.Event()
    if where == "inside the write":
        import celery_office.worker.writer as writer_module

        original = writer_module.write_batch

        def write_batch_once(*args, **kwargs):
            if not failed.is_set():
                failed.set()
                raise Unprintable()
            return original(*args, **kwargs)

        writer_module.write_batch, restore = write_batch_once, original
    else:
        original_take = flusher.buffer.take

        def take_once():
            if not failed.is_set():
                failed.set()
                raise Unprintable()
            return original_take()

        flusher.buffer.take = take_once  # type: ignore[method-assign]
        restore = None
    try:
        flusher.buffer.run_started("t-1", AGENT, "Сканирование цен")
        _wait(failed.is_set)
        flusher.buffer.run_started("t-2", AGENT, "Сканирование цен")
        _wait(lambda: AGENT in _statuses(engine) and _statuses(engine)[AGENT].task is not None)
        assert flusher.loop.thread is not None and flusher.loop.thread.is_alive()
        assert flusher.stop()
    finally:
        if restore is not None:
            writer_module.write_batch = restore
    engine.dispose()


def test_a_refused_flush_is_said_once_and_written_under_a_new_writer_number(
    db_url: str, caplog
) -> None:
    """The writers' ledger changed under a running process (its number pushed ahead, as a
    clock ahead did to 0.2.0's numbers): its next flush is refused, not skipped in silence.
    One line names the node and the reason; the process takes a new writer number and writes
    the same changes, counted once, without a restart."""
    flusher = _flusher(db_url)
    engine = flusher.db.engine
    flusher.buffer.run_started("t-1", AGENT, "Сканирование цен")
    _wait(lambda: AGENT in _statuses(engine) and _statuses(engine)[AGENT].task is not None)
    first = flusher.registration.writer
    with engine.begin() as conn:
        conn.execute(text("update office_writer set flush_seq = flush_seq + 600000000000"))
    flusher.buffer.run_finished("t-1", AGENT, AgentStatus.error, text="Ошибка: Timeout")
    _wait(lambda: _statuses(engine)[AGENT].task == "Ошибка: Timeout")
    assert flusher.registration.writer not in (None, first)
    assert flusher.stop()
    lines = [r.getMessage() for r in caplog.records if "celery-office" in r.getMessage()]
    refused = [line for line in lines if "refused a status write" in line]
    assert len(refused) == 1 and "w1@host" in refused[0], lines
    assert lines == refused, lines  # no outage said, nor its end
    with engine.connect() as conn:
        today = {row.agent_id: row.today for row in agent_statuses(
            conn, day=datetime.now(timezone.utc).date())}
    assert (today[AGENT].runs, today[AGENT].failed) == (1, 1)
    engine.dispose()
