"""Throughput, CPU, transactions and memory of a real prefork worker, with and without
instrumentation.

    python -m bench.overhead.throughput [--tasks 4000] [--runs 5] [--variants none,spec,office]

Each run: a fresh queue pre-filled with the tasks (16 agents, round robin), a `celery worker -P
prefork -c 2` on Redis started on it, the tasks timed from the end of a warm-up (``--warmup``
tasks: a worker runs for hours, so its steady state is what counts; the start-up and warm-up
CPU is shown apart) to the last, the worker stopped warmly. Variants alternate run by run, so
drift of the machine hits all alike; the medians are printed, each with its ratio to the
uninstrumented worker (``none``).

Measured: tasks per second; the worker's CPU time (user + system of the main process and its
pool processes, while the tasks ran) per task and its extra over ``none``; database
transactions per task (``pg_stat_database`` of the run's own database, read after the worker
exits so every backend has reported, start-up and shutdown included); the worker's peak
resident memory (main plus pool processes), as RSS and as PSS (shared pages counted once).
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psutil
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

HERE = Path(__file__).resolve().parent

PG_ADMIN = os.environ.get("OFFICE_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("OFFICE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass
class Run:
    variant: str
    tasks: int
    seconds: float
    cpu: float
    transactions: int
    peak_rss: int
    peak_pss: int  # at the end of the run; pages shared after fork() counted once
    startup_cpu: float  # CPU seconds from the worker's start to the end of the warm-up

    @property
    def rate(self) -> float:
        return self.tasks / self.seconds


def _tree(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _cpu(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def _rss(procs: list[psutil.Process]) -> int:
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def _pss(procs: list[psutil.Process]) -> int:
    total = 0
    for p in procs:
        try:
            total += p.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied, AttributeError):
            pass
    return total


def _xacts(admin, database: str) -> int:
    with admin.connect() as conn:
        return conn.execute(
            text("select xact_commit + xact_rollback from pg_stat_database where datname = :d"),
            {"d": database},
        ).scalar_one()


def one_run(variant: str, tasks: int, warmup: int, db_url: str, admin, log_dir: Path) -> Run:
    from .bench_app import enqueue, worker_env

    queue = f"bench-{uuid.uuid4().hex[:8]}"
    counter = f"bench:{queue}"
    client = redis.Redis.from_url(REDIS_URL)
    enqueue(tasks, queue=queue, broker_url=REDIS_URL)
    env = worker_env(variant, queue=queue, counter=counter, broker_url=REDIS_URL,
                     database_url=db_url)
    database = make_url(db_url).database
    xacts_before = _xacts(admin, database)
    log = open(log_dir / f"{variant}-{queue}.log", "wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "bench_app", "worker", "-P", "prefork", "-c", "2",
         "-Q", queue, "-l", "warning", "--without-mingle", "--without-gossip",
         "--without-heartbeat", "-n", f"{variant}@bench"],
        cwd=HERE, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    proc = psutil.Process(worker.pid)
    peak = peak_pss = 0
    start = None  # (time, CPU, tasks done) when the warm-up tasks were seen done
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        procs = _tree(proc)
        peak = max(peak, _rss(procs))
        done = int(client.get(counter) or 0)
        if start is None and done >= warmup:
            start = (time.monotonic(), _cpu(procs), done)
        if done >= tasks:
            end = (time.monotonic(), _cpu(procs))
            # PSS walks every mapping of each process under its memory lock, stalling it:
            # read once, after the timed window, not while the tasks run
            peak_pss = _pss(procs)
            break
        if worker.poll() is not None:
            raise RuntimeError(f"worker exited early; see {log.name}")
        time.sleep(0.005)
    else:
        raise RuntimeError(f"{variant}: {tasks} tasks not done in time; see {log.name}")
    worker.send_signal(signal.SIGTERM)
    worker.wait(60)
    log.close()
    time.sleep(0.7)  # the backends of the worker report their statistics when they exit
    xacts = _xacts(admin, database) - xacts_before
    client.delete(counter)
    # measured from the end of the warm-up to the last task: scaled to all tasks
    measured = max(tasks - start[2], 1)
    seconds = (end[0] - start[0]) * tasks / measured
    cpu = (end[1] - start[1]) * tasks / measured
    return Run(variant, tasks, seconds, cpu, xacts, peak, peak_pss, start[1])


def _make_database(admin) -> str:
    name = f"office_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    from celery_office import migrate

    migrate(url)
    return url


def _drop_database(admin, url: str) -> None:
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))


def report(runs: list[Run], tasks: int) -> str:
    by_variant: dict[str, list[Run]] = {}
    for run in runs:
        by_variant.setdefault(run.variant, []).append(run)
    base = by_variant.get("none")
    base_rate = statistics.median(r.rate for r in base) if base else None
    base_cpu = statistics.median(r.cpu / r.tasks for r in base) if base else None
    lines = [
        f"{tasks} no-op tasks of 16 agents, prefork -c 2, Redis broker, PostgreSQL; "
        f"median of {len(next(iter(by_variant.values())))} alternating runs; timed after a "
        f"warm-up (start-up CPU shown apart); transactions counted over the whole run",
        "",
        "| variant | tasks/s | vs none | worker CPU/task | extra CPU/task | DB transactions/task "
        "| peak RSS | PSS at the end | start-up + warm-up CPU |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for variant, rs in by_variant.items():
        rate = statistics.median(r.rate for r in rs)
        cpu = statistics.median(r.cpu / r.tasks for r in rs)
        xacts = statistics.median(r.transactions / r.tasks for r in rs)
        peak = max(r.peak_rss for r in rs)
        peak_pss = max(r.peak_pss for r in rs)
        startup = statistics.median(r.startup_cpu for r in rs)
        ratio = f"{rate / base_rate:.3f}x" if base_rate else "-"
        extra = f"{(cpu - base_cpu) * 1e6:+.0f} us" if base_cpu is not None else "-"
        lines.append(
            f"| {variant} | {rate:.0f} | {ratio} | {cpu * 1e6:.0f} us | {extra} | "
            f"{xacts:.4f} | {peak / 2**20:.0f} MiB | {peak_pss / 2**20:.0f} MiB | {startup:.2f} s |"
        )
    lines += ["", "runs (variant: tasks/s, CPU us/task, transactions):"]
    lines += [
        f"- {r.variant}: {r.rate:.0f}, {r.cpu / r.tasks * 1e6:.0f}, {r.transactions}" for r in runs
    ]
    return "\n".join(lines)


def machine() -> str:
    return (
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"{psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB; "
        f"PostgreSQL and Redis on the same machine"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=4000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=500,
                        help="tasks done before timing starts (start-up costs excluded)")
    parser.add_argument("--variants", default="none,spec,office")
    parser.add_argument("--logs", type=Path, default=HERE.parent / "out")
    args = parser.parse_args(argv)
    args.logs.mkdir(parents=True, exist_ok=True)
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    variants = args.variants.split(",")
    runs: list[Run] = []
    for i in range(args.runs):
        for variant in variants if i % 2 == 0 else reversed(variants):
            db_url = _make_database(admin)
            try:
                run = one_run(variant, args.tasks, args.warmup, db_url, admin, args.logs)
            finally:
                _drop_database(admin, db_url)
            runs.append(run)
            print(f"  run {i + 1} {variant}: {run.rate:.0f} tasks/s, "
                  f"{run.cpu / run.tasks * 1e6:.0f} us CPU/task, {run.transactions} transactions",
                  file=sys.stderr, flush=True)
    print(report(runs, args.tasks))
    print()
    print(f"machine: {machine()}")
    admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
