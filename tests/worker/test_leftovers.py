"""A worker stopped while the database cannot take its last write keeps what it could not write,
and its next start writes it first, exactly once: the rows show the last runs, not the ones
before, once the database is back (the twenty-minute chaos run found a warm restart during a
lock on office_agent_outcome losing the flapping agent's last ends for good)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from celery_office import AgentStatus, agent_statuses
from celery_office.settings import OfficeSettings
from celery_office.worker.flusher import Flusher
from celery_office.worker.leftovers import Leftovers, Unwritten

from ..db.test_store import AGENTS

AGENT = "watcher_price_monitor"


def _main(url: str, state_dir: Path) -> Flusher:
    """A worker's main process (registers, beats, retires), as the bootstep makes it."""
    settings = OfficeSettings(database_url=url, flush_interval=0.05, shutdown_timeout=0.5,
                              statement_timeout=30.0, auto_migrate=False,
                              state_dir=str(state_dir))
    flusher = Flusher(settings, AGENTS, node_name="w1@host", worker_duties=True)
    flusher.prepare()
    flusher.start()
    return flusher


def _wait(check, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _row(url: str):
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {r.agent_id: r for r in agent_statuses(conn)}.get(AGENT)
    finally:
        engine.dispose()


def _failed_today(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(
                "select coalesce(sum(failed), 0) from office_agent_day where agent_id = :a"
            ), {"a": AGENT}).scalar_one())
    finally:
        engine.dispose()


def _run(flusher: Flusher, task_id: str, outcome: AgentStatus, text_: str | None) -> None:
    flusher.buffer.run_started(task_id, AGENT, "Сканирование цен")
    flusher.buffer.run_finished(task_id, AGENT, outcome, text=text_)


def _first_life(url: str, state_dir: Path, ready: int, go: int) -> int:
    """A worker's first life, in a child process: a run lands, then (the table locked by the
    parent) a failed run's write hangs and a warm shutdown cannot wait for it; the process
    exits as a worker's does. Its exit code: 0 when the stop said it kept them."""
    first = _main(url, state_dir)
    _run(first, "t-1", AgentStatus.ok, None)
    _wait(lambda: getattr(_row(url), "status", None) == AgentStatus.ok
          and first.buffer.pending() == 0)
    os.write(ready, b"1")
    os.read(go, 1)  # the parent holds the lock now
    _run(first, "t-2", AgentStatus.error, "Ошибка: ValueError: нет цен")
    _wait(lambda: first.writer.in_flight is not None)  # the write waits on the lock
    return 0 if not first.stop(retire=True) else 3


@pytest.mark.postgres
@pytest.mark.parametrize("the_stuck_write", ["dies with the process", "lands late"])
def test_a_stop_during_a_lock_keeps_the_last_ends_for_the_next_start(
    pg_url: str, tmp_path: Path, the_stuck_write: str
) -> None:
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child: a worker's main process
        code = 2
        try:
            code = _first_life(pg_url, tmp_path, ready_w, go_r)
        finally:
            os._exit(code)
    assert os.read(ready_r, 1) == b"1"
    locker = create_engine(pg_url).connect()
    held = locker.begin()
    locker.execute(text("lock table office_agent_outcome in access exclusive mode"))
    os.write(go_w, b"1")
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0  # the stop returned False, unwritten
    kept = list(tmp_path.glob("*.unwritten"))
    assert len(kept) == 1, kept
    if the_stuck_write == "dies with the process":
        locker.execute(text(
            "select pg_terminate_backend(pid) from pg_stat_activity where datname = "
            "current_database() and pid <> pg_backend_pid() and wait_event_type = 'Lock'"))
    held.commit()
    locker.close()
    if the_stuck_write == "lands late":  # its statement commits once the lock goes
        _wait(lambda: _failed_today(pg_url) == 1)
    else:
        time.sleep(0.5)
        assert _row(pg_url).status == AgentStatus.ok  # without the file: lost for good
        assert _failed_today(pg_url) == 0

    second = _main(pg_url, tmp_path)
    try:
        _wait(lambda: _row(pg_url).status == AgentStatus.error)
        assert _row(pg_url).task == "Ошибка: ValueError: нет цен"
        _wait(lambda: second.buffer.pending() == 0 and not second.writer.in_doubt)
        assert _failed_today(pg_url) == 1  # exactly once, whether the stuck flush landed or not
        assert not kept[0].exists()  # read once
    finally:
        assert second.stop(retire=True)


def test_a_file_another_user_could_write_is_refused(tmp_path: Path, caplog) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    os.chmod(shared, 0o777)
    leftovers = Leftovers(node_name="w1@host", database_url="sqlite:///x.db",
                          state_dir=str(shared))
    from celery_office.core.changes import Batch

    assert leftovers.keep([Unwritten(Batch(touched={AGENT}))]) is None
    assert "another user" in caplog.text
    assert not list(shared.iterdir())


def test_a_damaged_file_is_said_and_never_stops_a_start(tmp_path: Path, caplog) -> None:
    leftovers = Leftovers(node_name="w1@host", database_url="sqlite:///x.db",
                          state_dir=str(tmp_path))
    Path(leftovers.path).write_bytes(b"not a pickle")
    assert leftovers.take() == []
    assert "could not be read" in caplog.text
    assert not Path(leftovers.path).exists()


def test_runs_in_progress_at_the_stop_are_not_kept(tmp_path: Path) -> None:
    """The next start ends its former self's runs: a kept start would show one forever."""
    from celery_office.core.changes import Batch, RunChange

    leftovers = Leftovers(node_name="w1@host", database_url="sqlite:///x.db",
                          state_dir=str(tmp_path))
    batch = Batch(runs={"a": RunChange(AGENT, "Сканирование", 1.0),
                        "b": RunChange(AGENT, None, 2.0, ended=True)}, touched={AGENT})
    assert leftovers.keep([Unwritten(batch)]) == leftovers.path
    (kept,) = leftovers.take()
    assert set(kept.batch.runs) == {"b"}


def test_two_namesakes_stopping_keep_both_and_the_next_start_takes_both(tmp_path: Path) -> None:
    """Two live workers under one ``-n`` (a twin) both stop during an outage: each keeps its
    own file (the second overwrote the first's, and the seeded chaos run lost the twin's last
    end), and the next start takes both, oldest first."""
    from celery_office.core.changes import Batch, Outcome

    def kept(text: str, at: float) -> Batch:
        return Batch(outcomes={AGENT: Outcome(AgentStatus.ok, text, at)}, touched={AGENT})

    leftovers = Leftovers(node_name="w1@host", database_url="sqlite:///x.db",
                          state_dir=str(tmp_path))
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the twin
        os._exit(0 if leftovers.keep([Unwritten(kept("twin", 1.0))]) else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert leftovers.keep([Unwritten(kept("first", 2.0))]) == leftovers.path
    assert len(list(tmp_path.glob("*.unwritten"))) == 2
    taken = leftovers.take()
    assert sorted(u.batch.outcomes[AGENT].task or "" for u in taken) == ["first", "twin"]
    assert not list(tmp_path.glob("*.unwritten"))


@pytest.mark.postgres
def test_a_stop_right_after_an_outage_does_not_take_the_others_silence_for_death(
    pg_url: str, tmp_path: Path
) -> None:
    """Another worker serving the agent could not beat while the database was away: its
    ``last_seen`` is older than ``office_offline_after`` when the database comes back. A warm
    stop then must not mark the shared agent offline (the twenty-minute chaos run posted a
    false offline for six agents so). A stop without an outage still does: tests/e2e."""
    from sqlalchemy import update

    from celery_office.db.models import OfficeWorker
    from celery_office.db.workers import register_worker

    from ..faultproxy import FaultProxy

    worker_table = OfficeWorker.__table__
    proxy = FaultProxy()
    try:
        settings = OfficeSettings(database_url=proxy.url(pg_url), flush_interval=0.05,
                                  heartbeat_interval=1.0, offline_after=2.0,
                                  shutdown_timeout=5.0, connect_timeout=2.0,
                                  auto_migrate=False, state_dir=str(tmp_path))
        first = Flusher(settings, AGENTS, node_name="w1@host", worker_duties=True)
        first.prepare()
        first.start()
        _run(first, "t-1", AgentStatus.ok, None)
        _wait(lambda: getattr(_row(pg_url), "status", None) == AgentStatus.ok
              and first.buffer.pending() == 0)
        engine = create_engine(pg_url)
        with engine.begin() as conn:  # the other worker serving the same agents
            register_worker(conn, node_name="w2@host", hostname="host", pid=2,
                            agents=list(AGENTS.values()))
        proxy.set_mode("refuse")  # an outage: nobody beats
        _run(first, "t-2", AgentStatus.ok, None)
        _wait(lambda: first.db.failing)
        time.sleep(2.5)  # longer than office_offline_after
        with engine.begin() as conn:  # w2's last beat, from before the outage
            conn.execute(update(worker_table).where(worker_table.c.node_name == "w2@host")
                         .values(last_seen=text("now() - interval '3 seconds'")))
        proxy.set_mode("forward")
        assert first.stop(retire=True)
        assert _row(pg_url).status == AgentStatus.ok  # left to w2, still alive
        engine.dispose()
    finally:
        proxy.close()
