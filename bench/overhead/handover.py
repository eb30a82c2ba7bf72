"""CPU that a pool process's hand-overs cost a task, and how many there are, in one process.

    python -m bench.overhead.handover [--rate 250] [--seconds 12]

A pool process's flusher (the forwarder role: every half ``office_flush_interval``, and as soon
as a run ends, at most every ``END_HANDOVER_GAP``) driven by Celery's signals for a real task
object, handing over through the real socket to a receiving thread that absorbs into a main
process's buffer, as a worker's main process does. Measured, after a warm-up: hand-overs per
second and per task, the forwarder thread's CPU and the receiving side's (``absorb``) CPU per
task, at ``--rate`` tasks per second and as fast as the loop goes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from celery_office.registry import load_registry
from celery_office.settings import OfficeSettings
from celery_office.worker import runtime
from celery_office.worker.buffer import StatusBuffer
from celery_office.worker.flusher import Flusher
from celery_office.worker.signals import OfficeSignals

from .handlers import BENCH, _app, _lifecycles


def _instrument(app, tasks) -> tuple[Flusher, StatusBuffer, list[float], list[float]]:
    """A flusher in the pool-process role (its hand-overs timed) and a main process's buffer
    fed by the receiving thread (its absorbs timed)."""
    database = Path(tempfile.mkdtemp()) / "unused.db"  # a pool process never writes
    settings = OfficeSettings(database_url=f"sqlite:///{database}",
                              agents_file=str(BENCH / "agents.yaml"), auto_migrate=False)
    routes = load_registry(settings.agents_file).resolve(app.tasks.keys())
    flusher = Flusher(settings, {r.agent.agent_id: r.agent for r in routes.values()},
                      worker_duties=True)
    flusher.prepare()
    flusher.role = flusher.role.child()  # this process plays a pool process: it forwards
    main = StatusBuffer(remember_own_ends=True)
    handovers: list[float] = []
    absorbs: list[float] = []
    cycle = flusher.role.cycle

    def timed_cycle() -> None:
        pending = flusher.buffer.pending()
        cpu0 = time.thread_time()
        cycle()
        if pending:
            handovers.append(time.thread_time() - cpu0)

    def timed_absorb(batch) -> None:
        cpu0 = time.thread_time()
        main.absorb(batch)
        main.take()  # the writer's part is measured by bench.overhead.handlers
        absorbs.append(time.thread_time() - cpu0)

    flusher.role.cycle = timed_cycle  # type: ignore[method-assign]
    assert flusher.handover is not None
    flusher.handover.start_receiving(timed_absorb)
    runtime.activate(runtime.Runtime(routes, flusher))
    OfficeSignals.connect()
    return flusher, main, handovers, absorbs


def measure(rate: float | None, seconds: float) -> str:
    app, tasks = _app()
    flusher, _, handovers, absorbs = _instrument(app, tasks)
    try:
        _lifecycles(tasks, 500, rate)  # warm-up
        time.sleep(1.0)
        handovers.clear()
        absorbs.clear()
        started = time.monotonic()
        n = int((rate or 20000) * seconds) if rate else 20000
        _lifecycles(tasks, n, rate)
        elapsed = time.monotonic() - started
        time.sleep(flusher.settings.flush_interval)
        turns = len(handovers)
        return (f"{'as fast as it goes' if rate is None else f'{rate:g} tasks/s'}: {n} tasks in "
                f"{elapsed:.1f} s, {turns} hand-overs ({turns / elapsed:.1f}/s, "
                f"{turns / n:.4f} a task), {len(absorbs)} messages absorbed; CPU a task: "
                f"forwarder {sum(handovers) / n * 1e6:.1f} us, absorb "
                f"{sum(absorbs) / n * 1e6:.1f} us")
    finally:
        flusher.stop(timeout=2.0)
        OfficeSignals.disconnect()
        if flusher.handover is not None:
            flusher.handover.stop_receiving()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=250.0)
    parser.add_argument("--seconds", type=float, default=12.0)
    args = parser.parse_args(argv)
    print(measure(args.rate, args.seconds))
    print(measure(None, args.seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
