"""How long after a run's end a SIGKILL can still take it along: the window of a pool process
and of a worker's main process, measured on a real prefork worker.

    python -m bench.crash [--delays 0,2,5,10,20,50,100,200,500,1000,1500] [--tries 3]
                          [--targets pool,main] [--loads idle,busy] [--flush-interval 1]

Each trial: a ``celery worker -P prefork -c 1`` (Redis, PostgreSQL, celery-office installed)
runs a task that fails and has its pool process (``pool``) or the worker's main process
(``main``) SIGKILLed ``delay`` ms after its end, armed by the task itself. ``idle``: the task
runs alone; ``busy``: right after 300 no-ops of the same agent in the same process, so the
process's hand-overs and the main process's writes are as frequent as they get. A trial
survives when the agent's last outcome is the trial's error and its day counts the failure: read
once the main process had the time to write it (``pool``), or once it is dead (``main``).
Prints survived/tries by delay, and the smallest delay from which every trial survived.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from ..overhead.throughput import PG_ADMIN, REDIS_URL, _drop_database, _make_database

HERE = Path(__file__).resolve().parent
AGENT = "crash_agent"
BUSY_NOOPS = 300


class Worker:
    """One ``celery -A crash_app worker -c 1`` and its log."""

    def __init__(self, database_url: str, flush_interval: float, log_dir: Path) -> None:
        self.queue = f"crash-{uuid.uuid4().hex[:8]}"
        self.log_path = log_dir / f"{self.queue}.log"
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
            "BENCH_QUEUE": self.queue, "CELERY_BROKER_URL": REDIS_URL,
            "OFFICE_DATABASE_URL": database_url, "OFFICE_AGENTS_FILE": str(HERE / "agents.yaml"),
            "OFFICE_FLUSH_INTERVAL": str(flush_interval),
        }
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "crash_app", "worker", "-P", "prefork",
             "-c", "1", "-Q", self.queue, "-l", "info", "--without-mingle", "--without-gossip",
             "--without-heartbeat", "-n", f"{self.queue}@bench"],
            cwd=HERE, env=env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self.wait_log("ready.", 60)
            self.wait_log(" registered in ", 60)  # the writer's first turn: the agent has a row
        except Exception:
            self.close()
            raise

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_log(self, needle: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.log:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"{needle!r} not in {self.log_path}")
            time.sleep(0.02)

    def close(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)
        self._log.close()


def _state(engine) -> tuple[str | None, int]:
    """The agent's last outcome and its failures, all days summed. The outcome, not the
    row: the row of an agent reads working while a killed worker's runs are in progress
    (a main process killed among the busy trials' no-ops), until it counts as offline."""
    with engine.connect() as conn:
        task = conn.execute(text("select task from office_agent_outcome where agent_id = :a"),
                            {"a": AGENT}).scalar()
        failed = conn.execute(text("select coalesce(sum(failed), 0) from office_agent_day "
                                   "where agent_id = :a"), {"a": AGENT}).scalar_one()
    return task, int(failed)


def trial(worker: Worker, engine, *, delay_ms: int, target: str, load: str,
          flush_interval: float) -> bool:
    """One failing run whose ``target`` process is SIGKILLed ``delay_ms`` after its end."""
    from .crash_app import app

    app.conf.broker_url = REDIS_URL
    name = f"trial-{uuid.uuid4().hex[:8]}"
    _, failed_before = _state(engine)
    seen = len(worker.log)  # only what the worker logs from now on tells of this trial
    with app.producer_or_acquire() as producer:
        for _ in range(BUSY_NOOPS if load == "busy" else 0):
            app.send_task("crash_app.noop", queue=worker.queue, producer=producer)
        app.send_task("crash_app.fail_then_kill", args=(name, delay_ms / 1000, target),
                      queue=worker.queue, producer=producer)
    if target == "main":
        worker.proc.wait(60)  # killed by the task's timer; its pool process goes with it
        time.sleep(0.3)  # the database ends the killed process's open transaction
    else:
        deadline = time.monotonic() + 60
        while not any(mark in worker.log[seen:] for mark in (name, "WorkerLostError")):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} never ran; see {worker.log_path}")
            time.sleep(0.02)
        time.sleep(delay_ms / 1000 + 3 * flush_interval + 0.5)  # the main process writes it
    task, failed = _state(engine)
    return task == f"Ошибка: CrashError: {name}" and failed == failed_before + 1


@contextmanager
def _database() -> Iterator[str]:
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    url = _make_database(admin)
    try:
        yield url
    finally:
        _drop_database(admin, url)
        admin.dispose()


def sweep(args: argparse.Namespace, url: str, log_dir: Path) -> list[str]:
    engine = create_engine(url)
    lines = []
    for target in args.targets.split(","):
        for load in args.loads.split(","):
            worker = None
            results = []
            for delay in [int(d) for d in args.delays.split(",")]:
                survived = 0
                for _ in range(args.tries):
                    if worker is None:
                        worker = Worker(url, args.flush_interval, log_dir)
                    survived += trial(worker, engine, delay_ms=delay, target=target, load=load,
                                      flush_interval=args.flush_interval)
                    if target == "main":
                        worker.close()
                        worker = None
                results.append((delay, survived))
                print(f"{target} {load} {delay} ms: {survived}/{args.tries}", flush=True)
            if worker is not None:
                worker.close()
            lines.append(_row(target, load, results, args.tries))
    engine.dispose()
    return lines


def _row(target: str, load: str, results: list[tuple[int, int]], tries: int) -> str:
    safe = None  # the smallest delay from which every trial survived
    for delay, survived in reversed(results):
        if survived < tries:
            break
        safe = delay
    cells = " | ".join(f"{s}/{tries}" for _, s in results)
    return f"| {target} | {load} | {cells} | {'-' if safe is None else f'{safe} ms'} |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delays", default="0,2,5,10,20,50,100,200,500,1000,1500")
    parser.add_argument("--tries", type=int, default=3)
    parser.add_argument("--targets", default="pool,main")
    parser.add_argument("--loads", default="idle,busy")
    parser.add_argument("--flush-interval", type=float, default=1.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as logs, _database() as url:
        lines = sweep(args, url, Path(logs))
    delays = args.delays.split(",")
    print(f"\nsurvived / tries, by delay after the run's end (ms); office_flush_interval "
          f"{args.flush_interval:g} s\n")
    print("| killed | load | " + " | ".join(delays) + " | every trial from |")
    print("|---|---|" + "---|" * len(delays) + "---|")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
