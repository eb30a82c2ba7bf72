"""A burst of 10,000 tasks of 16 agents on a real prefork worker: a bounded number of database
transactions, flat memory, and the right table at the end."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from celery_office import AgentStatus, agent_statuses

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

BENCH = Path(__file__).resolve().parents[2] / "bench" / "overhead"  # where bench_app lives
TASKS = 10_000


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def _transactions(url: str) -> int:
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        count = conn.execute(
            text("select xact_commit + xact_rollback from pg_stat_database where datname = :d"),
            {"d": make_url(url).database},
        ).scalar_one()
    admin.dispose()
    return count


def test_burst_of_ten_thousand_tasks(pg_url, redis_url, tmp_path):
    sys.path.insert(0, str(BENCH))
    try:
        from bench_app import enqueue, worker_env
    finally:
        sys.path.remove(str(BENCH))
    queue = f"burst-{uuid.uuid4().hex[:8]}"
    counter = f"burst:{queue}"
    enqueue(TASKS, queue=queue, broker_url=redis_url)
    env = worker_env("office", queue=queue, counter=counter, broker_url=redis_url,
                     database_url=pg_url)
    before = _transactions(pg_url)
    log = open(tmp_path / "worker.log", "wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "bench_app", "worker", "-P", "prefork", "-c", "2",
         "-Q", queue, "-l", "warning", "--without-mingle", "--without-gossip", "-n", "burst@%h"],
        cwd=BENCH, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    client = redis.Redis.from_url(redis_url)
    proc = psutil.Process(worker.pid)
    samples: dict[int, int] = {}
    try:
        deadline = time.monotonic() + 240
        while (done := int(client.get(counter) or 0)) < TASKS:
            assert time.monotonic() < deadline, f"only {done} of {TASKS} tasks done"
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            for mark in (2_500, 5_000, 7_500):
                if done >= mark and mark not in samples:
                    samples[mark] = _tree_rss(proc)
            time.sleep(0.02)
        samples[TASKS] = _tree_rss(proc)
        engine = create_engine(pg_url)
        deadline = time.monotonic() + 10
        while True:
            with engine.connect() as conn:
                rows = agent_statuses(conn)
            if len(rows) == 16 and all(r.task is None for r in rows) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        engine.dispose()
        assert len(rows) == 16
        assert {(r.status, r.task) for r in rows} == {(AgentStatus.ok, None)}
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
        log.close()
        client.delete(counter)
    time.sleep(0.7)  # exiting backends report their statistics
    transactions = _transactions(pg_url) - before
    # start-up (migration check, registration), shutdown and every flush included
    assert transactions <= 0.01 * TASKS, f"{transactions} transactions for {TASKS} tasks"
    growth = samples[TASKS] - samples[2_500]
    assert growth < 12 * 2**20, f"memory grew {growth / 2**20:.1f} MiB: {samples}"
