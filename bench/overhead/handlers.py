"""CPU that celery-office adds to one task, measured in one process, free of the run-to-run noise
of a whole worker.

    python -m bench.overhead.handlers [--tasks 20000] [--rate 250] [--database-url URL]

Drives a real Celery task object through the signals a pool process sends for every task
(``task_prerun``, ``task_success``, ``task_postrun``), with celery-office's handlers and its
writer thread flushing to a real database, and the same loop with no receivers. The CPU time of
the whole process (every thread, the writer's included) is compared:

- the handlers' own cost per task: the process CPU of the loop, as fast as it goes, with and
  without them (alternating rounds, medians);
- the writer's cost per task at ``--rate`` tasks per second (a busy pool process): the CPU
  time of the writer thread's own writes, after a warm-up (the first connection and first
  compile of each statement are paid once per process, not per task), over the tasks sent.

A paced loop's total process CPU is not used: sleeping and waking cost more, and vary more,
than what is measured.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

from celery import Celery, signals

import celery_office
from celery_office.registry import load_registry
from celery_office.settings import OfficeSettings
from celery_office.worker import runtime
from celery_office.worker.flusher import Flusher
from celery_office.worker.signals import OfficeSignals

AGENTS = 16
BENCH = Path(__file__).resolve().parents[1]


def noop() -> None:
    """The task body; never called: only its signals are sent."""


def _app() -> tuple[Celery, list]:
    app = Celery("bench_app", broker="memory://")
    for i in range(AGENTS):
        app.task(name=f"bench_app.noop_{i}")(noop)
    app.finalize()
    # the task objects themselves, as a worker's signals send them (not the lazy proxies)
    return app, [app.tasks[f"bench_app.noop_{i}"] for i in range(AGENTS)]


def _lifecycles(tasks: list, n: int, rate: float | None) -> float:
    """Send n task life cycles; return the process CPU seconds they took."""
    ids = [str(uuid.uuid4()) for _ in range(n)]
    interval = 1.0 / rate if rate else 0.0
    cpu0 = time.process_time()
    next_at = time.monotonic()
    for i, task_id in enumerate(ids):
        task = tasks[i % AGENTS]
        task.push_request(id=task_id)
        signals.task_prerun.send(sender=task, task_id=task_id, task=task, args=(), kwargs={})
        signals.task_success.send(sender=task, result=None)
        signals.task_postrun.send(
            sender=task, task_id=task_id, task=task, args=(), kwargs={}, retval=None,
            state="SUCCESS",
        )
        task.pop_request()
        if interval:
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    return time.process_time() - cpu0


def _instrument(app: Celery, database_url: str) -> tuple[Flusher, list[float]]:
    """Install celery-office's handlers and a flusher whose writes record their thread CPU."""
    settings = OfficeSettings(database_url=database_url, agents_file=str(BENCH / "agents.yaml"))
    routes = load_registry(settings.agents_file).resolve(app.tasks.keys())
    writer = Flusher(settings, {r.agent.agent_id: r.agent for r in routes.values()})
    writes: list[float] = []  # CPU seconds of each write, in the writer thread
    original = writer.role.cycle

    def timed_cycle() -> None:
        pending = writer.buffer.pending()
        cpu0 = time.thread_time()
        original()
        if pending:
            writes.append(time.thread_time() - cpu0)

    writer.role.cycle = timed_cycle  # type: ignore[method-assign]
    runtime.activate(runtime.Runtime(routes, writer))
    OfficeSignals.connect()
    return writer, writes


def _uninstrument(writer: Flusher) -> None:
    writer.stop()
    OfficeSignals.disconnect()


def handler_cost(n: int, rounds: int, database_url: str) -> tuple[float, float]:
    """Median CPU per task of the signal sends, without and with celery-office (alternating)."""
    app, tasks = _app()
    base, inst = [], []
    for _ in range(rounds):
        OfficeSignals.disconnect()
        _lifecycles(tasks, n // 10, None)
        base.append(_lifecycles(tasks, n, None) / n)
        writer, _ = _instrument(app, database_url)
        try:
            _lifecycles(tasks, n // 10, None)
            inst.append(_lifecycles(tasks, n, None) / n)
        finally:
            _uninstrument(writer)
    return statistics.median(base), statistics.median(inst)


def writer_cost(rate: float, seconds: float, database_url: str) -> tuple[int, list[float]]:
    """Tasks sent and the CPU of each write, at ``rate`` tasks per second after a warm-up."""
    app, tasks = _app()
    writer, writes = _instrument(app, database_url)
    try:
        # warm-up: the first connection and first compile of each statement are paid once
        _lifecycles(tasks, int(rate * 2), rate)
        time.sleep(writer.settings.flush_interval * 2)
        writes.clear()
        n = int(rate * seconds)
        _lifecycles(tasks, n, rate)
        time.sleep(writer.settings.flush_interval * 1.5)
        return n, list(writes)
    finally:
        _uninstrument(writer)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20000)
    parser.add_argument("--rate", type=float, default=250.0)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("OFFICE_BENCH_DATABASE_URL", "sqlite:///bench-office.db"),
    )
    args = parser.parse_args(argv)
    celery_office.migrate(args.database_url)
    base, inst = handler_cost(args.tasks, 3, args.database_url)
    n, writes = writer_cost(args.rate, 12.0, args.database_url)
    per_write = statistics.median(writes) if writes else 0.0
    writer_per_task = sum(writes) / n
    print(f"signal handlers, per task (median of 3, {args.tasks} tasks each): "
          f"{base * 1e6:.1f} us without, {inst * 1e6:.1f} us with: {(inst - base) * 1e6:+.1f} us")
    print(f"writer at {args.rate:g} tasks/s: {len(writes)} writes for {n} tasks "
          f"({len(writes) / n:.4f} transactions/task), {per_write * 1e3:.2f} ms CPU per write: "
          f"{writer_per_task * 1e6:.1f} us/task")
    print(f"extra CPU per task: {(inst - base + writer_per_task) * 1e6:.1f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
