"""The watchdog that cuts a hung database call: one thread per process, whatever the number
of writes, still cutting a write that hangs, and a forked child's own."""

from __future__ import annotations

import logging
import os
import threading

import pytest
from sqlalchemy import text

from celery_office.settings import OfficeSettings
from celery_office.worker.guard import GuardedDatabase
from celery_office.worker.watchdog import THREAD_NAME, call_after

from ..faultproxy import FaultProxy


def _select_one(conn) -> None:
    conn.execute(text("select 1"))


def test_many_writes_start_no_thread_each(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 29.3: each write armed a ``threading.Timer``, a thread of its own: 200 writes
    started 200 threads. Now the process's one watchdog thread serves them all."""
    db = GuardedDatabase(OfficeSettings(database_url=pg_url))
    started: list[str] = []
    start = threading.Thread.start

    def counted(thread: threading.Thread) -> None:
        started.append(thread.name)
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", counted)
    for _ in range(200):
        assert db.run("heartbeat", _select_one)
    assert len(started) <= 1, f"{len(started)} threads started by 200 writes: {started[:3]}"
    assert [t.name for t in threading.enumerate()].count(THREAD_NAME) == 1
    db.engine.dispose()


def test_a_write_that_hangs_is_cut_and_said_once(pg_url: str, caplog) -> None:
    """The database stops answering mid-session: nothing on the client ends the wait but the
    watchdog, which cuts the socket after connect + statement timeouts; the next write, once
    the database answers again, goes through on a fresh connection."""
    proxy = FaultProxy()
    db = GuardedDatabase(OfficeSettings(database_url=proxy.url(pg_url), connect_timeout=2.0,
                                        statement_timeout=2.0))
    try:
        assert db.run("heartbeat", _select_one)  # a pooled connection, open when it hangs
        proxy.set_mode("hang")
        outcome: list[bool] = []
        caplog.set_level(logging.WARNING, logger="celery_office")
        writer = threading.Thread(target=lambda: outcome.append(db.run("heartbeat", _select_one)),
                                  daemon=True)
        writer.start()
        writer.join(timeout=30)
        assert outcome == [False], "the hung write was not cut"
        cut = [r for r in caplog.records if "stopped answering" in r.getMessage()]
        assert len(cut) == 1
        proxy.set_mode("forward")
        assert db.run("heartbeat", _select_one)
    finally:
        db.engine.dispose()
        proxy.close()


def test_a_forked_child_runs_its_own_deadlines_not_its_parents() -> None:
    """The child of a fork has no watchdog thread and must not act on the parent's deadline
    (cutting the parent's write would shut the sockets both processes share): its own
    deadline, later than the parent's, starts a thread there and is the only one kept."""
    ran: list[str] = []
    parent_done = threading.Event()
    call_after(0.3, lambda: (ran.append("parent"), parent_done.set()))
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what ran here, then leave without pytest's teardown
        try:
            child_done = threading.Event()
            call_after(0.6, lambda: (ran.append("child"), child_done.set()))
            child_done.wait(10)
            os.write(write_end, ",".join(ran).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        in_child = pipe.read().decode()
    os.waitpid(pid, 0)
    assert in_child == "child"
    assert parent_done.wait(10) and ran == ["parent"]


def test_a_failing_action_leaves_the_watchdog_running(caplog) -> None:
    def broken() -> None:
        raise RuntimeError("boom")

    done = threading.Event()
    call_after(0.0, broken)
    call_after(0.05, done.set)
    assert done.wait(10)
    assert any("watchdog's action failed" in r.getMessage() for r in caplog.records)
