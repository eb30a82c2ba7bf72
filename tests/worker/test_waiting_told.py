"""Liveness follows status writes between two heartbeats too: a worker whose status write fails
(a table it writes is locked) records at once which agents wait in it, so another worker that
serves them does not keep them alive with its heartbeat until the first one's next beat (the
twenty-minute chaos run: a lock on office_agent_start, and another worker's beat 4 s later)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text

from celery_office import AgentStatus
from celery_office.settings import OfficeSettings
from celery_office.worker.flusher import Flusher

from ..db.test_store import AGENTS
from .test_leftovers import _wait

AGENT = "watcher_price_monitor"


def _worker(url: str, node: str, state_dir: Path) -> Flusher:
    """A worker's main process whose heartbeat is not due for a minute."""
    settings = OfficeSettings(database_url=url, flush_interval=0.05, heartbeat_interval=60.0,
                              statement_timeout=1.0, shutdown_timeout=0.5, auto_migrate=False,
                              state_dir=str(state_dir))
    flusher = Flusher(settings, AGENTS, node_name=node, worker_duties=True)
    flusher.prepare()
    return flusher


def test_agents_whose_write_failed_are_told_at_once_and_not_kept_alive(pg_url, tmp_path):
    engine = create_engine(pg_url)

    def one(query: str, **params):
        with engine.connect() as conn:
            return conn.execute(text(query), params).scalar_one_or_none()

    stuck = _worker(pg_url, "wa@host", tmp_path)
    stuck.start()
    _wait(lambda: stuck.registration.registered)
    other = _worker(pg_url, "wb@host", tmp_path)  # beats by hand below: no thread
    assert other.registration.ensure()
    locker = engine.connect()
    try:
        locker.begin()
        locker.execute(text("LOCK TABLE office_agent_start IN ACCESS EXCLUSIVE MODE"))
        stuck.buffer.run_started("t-1", AGENT, "Сканирование цен")
        stuck.buffer.run_finished("t-1", AGENT, AgentStatus.error, text="Ошибка: нет цен")
        # its write waits on the lock, fails at the statement timeout, and it says so now
        _wait(lambda: AGENT in (one("select waiting::text from office_writer "
                                    "where node_name = 'wa@host'") or ""), timeout=10.0)
        before = one("select last_activity from office_agent_status where agent_id = :a",
                     a=AGENT)
        assert other.registration.beat()  # the other worker, serving the agent too
        after = one("select last_activity from office_agent_status where agent_id = :a",
                    a=AGENT)
        assert after == before  # not kept alive while its error waits to be written
    finally:
        locker.rollback()
        locker.close()
    _wait(lambda: one("select status::text from office_agent_status where agent_id = :a",
                      a=AGENT) == "error")  # and written once the lock is gone
    assert stuck.stop(retire=True)
    engine.dispose()
