"""Memory of a real prefork worker after its tasks: PSS of the main and each pool process, and
which of SQLAlchemy, psycopg2 and Alembic each one holds.

    python -m bench.overhead.memory [--tasks 1000] [--runs 1] [--variants none,office,disabled]

Each run: a fresh queue pre-filled with ``--tasks`` no-op tasks (16 agents), a `celery worker
-P prefork -c 2` on Redis (PostgreSQL for the plugin, a database of its own) started on it,
left a second after the last task, then read: ``Pss``, ``Rss`` and the private pages from
``/proc/<pid>/smaps_rollup`` of the main process and each pool process, and ``sys.modules`` of
each (pool processes through a probe task, the main process through a remote control
command). Variants: ``none`` (no plugin), ``office`` (``celery_office.install``) and
``disabled`` (installed, ``OFFICE_ENABLED=false``).

PSS counts a page shared by n processes as 1/n in each, so the sum over a worker's processes
counts the pages they share after ``fork()`` once; RSS counts them in each.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import redis
from sqlalchemy import create_engine

from .throughput import PG_ADMIN, REDIS_URL, _drop_database, _make_database, machine

HERE = Path(__file__).resolve().parent


@dataclass
class Proc:
    role: str  # main, pool
    pid: int
    pss: int  # kB
    rss: int  # kB
    uss: int  # kB: private pages, in no other process
    modules: list[str] | None = None  # None: the probe got no answer


@dataclass
class Run:
    variant: str
    procs: list[Proc] = field(default_factory=list)

    @property
    def pss(self) -> int:
        return sum(p.pss for p in self.procs)


def rollup(pid: int) -> dict[str, int]:
    """The kB figures of ``/proc/<pid>/smaps_rollup`` (Linux 4.14+)."""
    figures = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                figures[parts[0].rstrip(":")] = int(parts[1])
    return figures


def _wait_done(client, counter: str, tasks: int, worker, log_name: str) -> None:
    deadline = time.monotonic() + 180
    while int(client.get(counter) or 0) < tasks:
        if worker.poll() is not None:
            raise RuntimeError(f"worker exited early; see {log_name}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{tasks} tasks not done in time; see {log_name}")
        time.sleep(0.02)


def _probe(app, client, node: str, pool: list[Proc], main: Proc) -> None:
    """Ask each process which heavy packages it holds."""
    key = f"bench:loaded:{uuid.uuid4().hex[:8]}"
    deadline = time.monotonic() + 10
    while client.hlen(key) < len(pool) and time.monotonic() < deadline:
        for _ in range(4):
            app.send_task("bench_app.loaded", args=[key], queue=app.conf.task_default_queue)
        time.sleep(0.3)
    answers = {int(pid): json.loads(mods) for pid, mods in client.hgetall(key).items()}
    client.delete(key)
    for proc in pool:
        proc.modules = answers.get(proc.pid)
    replies = app.control.broadcast("bench_loaded", reply=True, destination=[node], timeout=3)
    for reply in replies:
        for answer in reply.values():
            if answer.get("pid") == main.pid:
                main.modules = answer["modules"]


def one_run(variant: str, tasks: int, db_url: str, log_dir: Path) -> Run:
    from .bench_app import app, enqueue, worker_env

    queue = f"bench-{uuid.uuid4().hex[:8]}"
    counter = f"bench:{queue}"
    client = redis.Redis.from_url(REDIS_URL)
    enqueue(tasks, queue=queue, broker_url=REDIS_URL)
    env = worker_env("none" if variant == "none" else "office", queue=queue, counter=counter,
                     broker_url=REDIS_URL, database_url=db_url)
    if variant == "disabled":
        env["OFFICE_ENABLED"] = "false"
    node = f"{variant}@bench-{queue}"
    log_path = log_dir / f"memory-{variant}-{queue}.log"
    with open(log_path, "wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "bench_app", "worker", "-P", "prefork",
             "-c", "2", "-Q", queue, "-l", "warning", "--without-mingle", "--without-gossip",
             "--without-heartbeat", "-n", node],
            cwd=HERE, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            _wait_done(client, counter, tasks, worker, log_path.name)
            time.sleep(1.0)  # the last hand-overs and flush, as in a worker that goes on
            main_proc = psutil.Process(worker.pid)
            procs = [("main", main_proc), *(("pool", c) for c in main_proc.children())]
            run = Run(variant)
            for role, p in procs:
                figures = rollup(p.pid)
                uss = figures["Private_Clean"] + figures["Private_Dirty"]
                run.procs.append(Proc(role, p.pid, figures["Pss"], figures["Rss"], uss))
            app.conf.task_default_queue = queue
            _probe(app, client, node, run.procs[1:], run.procs[0])
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(60)
            client.delete(counter)
    return run


def report(runs: list[Run], tasks: int) -> str:
    by_variant: dict[str, list[Run]] = {}
    for run in runs:
        by_variant.setdefault(run.variant, []).append(run)
    base = statistics.median(r.pss for r in by_variant["none"]) if "none" in by_variant else None
    lines = [
        f"PSS after {tasks} no-op tasks, prefork -c 2, Redis broker, PostgreSQL; "
        f"median of {len(next(iter(by_variant.values())))} run(s) a variant",
        "",
        "| variant | PSS main + pool | vs none | main | pool processes | heavy packages "
        "(main / pool) |",
        "|---|---|---|---|---|---|",
    ]
    for variant, rs in by_variant.items():
        rs = sorted(rs, key=lambda r: r.pss)
        run = rs[len(rs) // 2]
        main, pool = run.procs[0], run.procs[1:]
        total = statistics.median(r.pss for r in rs)
        extra = f"{(total - base) / 1024:+.1f} MiB" if base is not None else "-"
        lines.append(
            f"| {variant} | {total / 1024:.1f} MiB | {extra} | {main.pss / 1024:.1f} MiB | "
            + ", ".join(f"{p.pss / 1024:.1f}" for p in pool)
            + f" MiB | {_names(main.modules)} / {_names(_union(pool))} |"
        )
    lines += ["", "runs (variant: process pid PSS/RSS/private MiB [heavy packages]):"]
    for run in runs:
        lines.append(f"- {run.variant}: " + "; ".join(
            f"{p.role} {p.pid} {p.pss / 1024:.1f}/{p.rss / 1024:.1f}/{p.uss / 1024:.1f} "
            f"[{_names(p.modules)}]"
            for p in run.procs
        ))
    return "\n".join(lines)


def _union(procs: list[Proc]) -> list[str] | None:
    if any(p.modules is None for p in procs):
        return None
    return sorted({m for p in procs for m in p.modules or ()})


def _names(modules: list[str] | None) -> str:
    if modules is None:
        return "?"
    return ", ".join(modules) or "none"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--variants", default="none,office,disabled")
    parser.add_argument("--logs", type=Path, default=HERE.parent / "out")
    args = parser.parse_args(argv)
    args.logs.mkdir(parents=True, exist_ok=True)
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    runs: list[Run] = []
    for _ in range(args.runs):
        for variant in args.variants.split(","):
            db_url = _make_database(admin)
            try:
                run = one_run(variant, args.tasks, db_url, args.logs)
            finally:
                _drop_database(admin, db_url)
            runs.append(run)
            print(f"  {variant}: {run.pss / 1024:.1f} MiB PSS", file=sys.stderr, flush=True)
    print(report(runs, args.tasks))
    print()
    print(f"machine: {machine()}")
    admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
