"""The simulated workers of ``bench/fleet``: a worker's main process and its pool processes.

A worker's main process is a real process that does what celery-office's bootstep does in a
prefork worker: it builds the process's writer with worker duties (``StatusWriter`` in the flat
package, ``worker.flusher.Flusher`` since the package is grouped by side; both are supported),
calls ``prepare()`` (the engine, the hand-over socket pair, the migration check), installs it
as the process's own (so celery-office's at-fork hook resets it in the pool), forks its pool,
then ``start()``s (the writer thread, which registers, writes and beats, and the thread that
receives the hand-overs). At the end it waits for its pool to exit, lets one flush go by, waits
for the benchmark to check the rows, and stops with ``retire=True`` as at a warm shutdown.

Its pool is ``hosts`` real forked processes. Each hosts one or more *simulated pool processes*:
the first is the writer the fork left (reset by celery-office's own ``register_at_fork`` hook, as
in a real pool process), the others are copies of it reset the same way
(``after_fork_in_child``): each with its own lock, coalescing buffer and hand-over thread, all
sharing the worker's hand-over socket, as a real pool's processes share its sending end. With
one simulated process per host, the pool is real processes only. A driver thread per host plays
the tasks: for each simulated process, one run after another, calling ``run_started`` and
``run_finished`` (on the writer, or on the flusher's buffer) as the signal handlers do (no
Celery task objects, no broker).
"""

from __future__ import annotations

import copy
import heapq
import json
import os
import random
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from celery_office.settings import OfficeSettings

try:  # the package by the sides of Celery it serves: a flusher per process, with its buffer
    from celery_office.core.statuses import AgentStatus
    from celery_office.worker.flusher import Flusher as StatusWriter
    from celery_office.worker.runtime import Runtime, activate

    def configure_writer(writer: Any) -> None:
        activate(Runtime({}, writer))  # celery-office's at-fork hook resets it in the pool

    def recorder(writer: Any) -> Any:
        return writer.buffer  # what the signal handlers call
except ImportError:  # the flat package: one StatusWriter per process
    from celery_office.models import AgentStatus  # type: ignore[no-redef]
    from celery_office.writer import StatusWriter, configure_writer  # type: ignore[no-redef]

    def recorder(writer: Any) -> Any:
        return writer

POPULAR = 2  # agents 0 and 1 get half of all runs between them
WORKING_TEXT = "Работает"


@dataclass(frozen=True)
class Plan:
    """One measurement's load, shared by every simulated worker (times are epoch seconds)."""

    database_url: str
    pool: int  # simulated pool processes per worker
    hosts: int  # real forked processes per worker that host them
    flush_interval: float
    heartbeat_interval: float
    load_until: float  # no run starts after this
    run_seconds: tuple[float, float]  # a run lasts between these
    gap_seconds: float  # a simulated process idles up to this between two runs
    error_share: float  # share of runs that fail
    out_dir: str  # where each host writes its runs (JSON)
    seed: int


def pick_agent(rng: random.Random, agent_ids: list[str]) -> str:
    """Half of the runs go to the two popular agents, the other half to the 14 others."""
    if rng.random() < 0.5:
        return agent_ids[rng.randrange(POPULAR)]
    return agent_ids[POPULAR + rng.randrange(len(agent_ids) - POPULAR)]


def worker_main(
    plan: Plan, index: int, agents: Mapping[str, Any], ready: Any, checked: Any
) -> None:
    """A worker's main process (target of a forked ``multiprocessing.Process``)."""
    settings = OfficeSettings(
        database_url=plan.database_url,
        flush_interval=plan.flush_interval,
        heartbeat_interval=plan.heartbeat_interval,
    )
    writer = StatusWriter(settings, agents, node_name=f"fleet{index}@bench", worker_duties=True)
    writer.prepare()
    configure_writer(writer)
    shares = [plan.pool // plan.hosts + (h < plan.pool % plan.hosts) for h in range(plan.hosts)]
    children = []
    for host, count in enumerate(shares):
        if not count:
            continue
        pid = os.fork()
        if pid == 0:  # a pool process
            code = 1
            try:
                _pool_host(plan, index, host, count, writer, agents)
                code = 0
            finally:
                os._exit(code)
        children.append(pid)
    writer.start()
    for pid in children:
        os.waitpid(pid, 0)
    time.sleep(2 * plan.flush_interval)  # the last hand-overs absorbed and written
    ready.set()
    checked.wait(120)
    writer.stop(retire=True)


def _pool_host(
    plan: Plan, worker: int, host: int, count: int, writer: Any, agents: Mapping[str, Any]
) -> None:
    """One real pool process hosting ``count`` simulated ones; writes its runs to a file."""
    writers = [writer] + [copy.copy(writer) for _ in range(count - 1)]
    for extra in writers[1:]:
        extra.after_fork_in_child()  # own lock, buffer and thread; the shared hand-over socket
    assert all(getattr(w, "role", w).forwards for w in writers)  # or an older tree's
    handlers = [recorder(w) for w in writers]
    rng = random.Random(plan.seed * 1_000_003 + worker * 1009 + host)
    agent_ids = sorted(agents)
    low, high = plan.run_seconds
    now = time.time()
    # (when, slot, task_id or None for "start next"): the starts spread over a first run's length
    events: list[tuple[float, int, str | None]] = [
        (now + rng.uniform(0, high), slot, None) for slot in range(count)
    ]
    heapq.heapify(events)
    active: dict[str, list[Any]] = {}
    runs: list[list[Any]] = []
    lateness: list[float] = []
    while events:
        when, slot, task_id = events[0]
        delay = when - time.time()
        if delay > 0:
            time.sleep(min(delay, 0.2))
            continue
        heapq.heappop(events)
        lateness.append(-delay)
        if task_id is None:
            if when >= plan.load_until:
                continue  # this simulated process is done
            agent_id = pick_agent(rng, agent_ids)
            task_id = str(uuid.uuid4())
            started = time.time()
            handlers[slot].run_started(task_id, agent_id, WORKING_TEXT)
            active[task_id] = [task_id, agent_id, started]
            heapq.heappush(events, (started + rng.uniform(low, high), slot, task_id))
            continue
        record = active.pop(task_id)
        failed = rng.random() < plan.error_share
        text = f"Ошибка: RuntimeError: run {task_id} failed" if failed else None
        before = time.time()
        handlers[slot].run_finished(
            task_id, record[1], AgentStatus.error if failed else AgentStatus.ok, text=text
        )
        after = time.time()
        runs.append(record + [before, after, text])
        heapq.heappush(events, (after + rng.uniform(0, plan.gap_seconds), slot, None))
    stoppers = [threading.Thread(target=w.stop) for w in writers]  # hand over what is left
    for thread in stoppers:
        thread.start()
    for thread in stoppers:
        thread.join()
    lateness.sort()
    path = Path(plan.out_dir) / f"runs-{worker}-{host}.json"
    path.write_text(json.dumps({
        "runs": runs,
        "late_p99": lateness[int(0.99 * (len(lateness) - 1))] if lateness else 0.0,
    }))
