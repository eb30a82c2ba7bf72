"""Many workers of many pool processes against one real PostgreSQL: connections, transactions,
database CPU, how soon a run shows in the table, lock waits, and the rows at the end.

    python -m bench.fleet [--sizes 8,64,256,512] [--seconds 40] [--pgbouncer both|off|only]
                          [--workers N] [--hosts 8] [--plot] [--json FILE] [--from-json FILE]

For each total of P pool processes, W workers (``--workers``, default max(1, P // 64): a
worker of 64 processes, so 1, 1, 4 and 8 workers) share the load, and run directly against
PostgreSQL and then through a real PgBouncer (transaction pooling, ``tests/pgbouncer.py``).

What is real: celery-office's own code from the signal handlers' calls on. Each worker's main
process is a real process with the real ``StatusWriter`` (worker duties: migration check,
registration, the hand-over receiver, one transaction per ``office_flush_interval``, heartbeat,
retirement), its own engine and the real hand-over socket pair made before it forks its pool.
Pool processes are real forked processes; past ``--hosts`` of them per worker (8 by default:
two cores cannot run 512 Python processes' worth of threads plus the database without the
machine, not the plugin, being measured), each forked process hosts several simulated pool
processes: each a ``StatusWriter`` of its own in forwarding mode (own lock, coalescing and
hand-over thread) sharing the worker's hand-over socket, as a pool's processes share it.
What is simulated: Celery itself. There is no broker and no task object; a driver thread calls
``run_started`` and ``run_finished`` as the signal handlers do. 16 agents, the two popular ones
get half of the runs; a run lasts 2 to 6 s, a process idles 0 to 1 s between runs, 10 % of runs
fail. The heartbeat's lost-run check sees no Celery requests in these main processes; with runs
of at most 6 s and heartbeats 60 s apart it ends none.

Measured over a window of ``--seconds`` after a warm-up (see ``bench/fleet/observer.py``): the
plugin's server connections (``pg_stat_activity``, max) and each main process's client
connections (its TCP sockets), commits per second of the benchmark database, the CPU of its
backends, of the main processes and of the pool processes (in cores), lock waits, a main
process's RSS, and p50/p99 of the time from ``run_started`` (``run_finished``) to the run's
row appearing (disappearing) in ``office_agent_run`` for an observer polling every 50 ms with
the database clock. At the end, once every run has ended and one flush gone by, every agent's
row is checked against the runs: error with the failed run's text if its last-ended run failed,
else ok, and no task; after the warm shutdown, every agent offline.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from celery_office import migrate
from celery_office.registry import load_registry

from .observer import observe, sample
from .plots import plot, plot_bend
from .workers import Plan, worker_main

HERE = Path(__file__).resolve().parent
PG_ADMIN = os.environ.get("OFFICE_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
DATABASE = "office_bench_fleet"
STARTUP = 3.0  # seconds for the workers to fork, check the migration and register
RUN_SECONDS = (2.0, 6.0)


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def _fresh_database(admin: Any) -> str:
    with admin.connect() as conn:
        conn.execute(text(f"drop database if exists {DATABASE} with (force)"))
        conn.execute(text(f"create database {DATABASE}"))
    url = make_url(PG_ADMIN).set(database=DATABASE).render_as_string(hide_password=False)
    migrate(url)
    return url


def measure(processes: int, bouncer: bool, args: argparse.Namespace, admin: Any,
            workers: int = 0) -> dict[str, Any]:
    workers = workers or max(1, processes // 64)
    load = os.getloadavg()[0]  # the machine may be shared: said beside each figure
    url = _fresh_database(admin)
    admin.dispose()  # no socket of this process's own inherited by the forked workers
    proxy = None
    if bouncer:
        from tests.pgbouncer import PgBouncer

        proxy = PgBouncer(PG_ADMIN).start()
    plugin_url = proxy.url(url) if proxy else url
    ctx = multiprocessing.get_context("fork")
    out_dir = tempfile.mkdtemp(prefix="office-fleet-")
    stop_observer, stop_sampler, checked = ctx.Event(), ctx.Event(), ctx.Event()
    observed, sampled = ctx.Queue(), ctx.Queue()
    observer = ctx.Process(target=observe, args=(url, stop_observer, observed))
    observer.start()
    observer_pid = observed.get(timeout=30)
    w0 = time.time() + STARTUP + args.warmup
    w1 = w0 + args.seconds
    plan = Plan(
        database_url=plugin_url, pool=-(-processes // workers), hosts=min(args.hosts, processes),
        flush_interval=args.flush_interval, heartbeat_interval=args.heartbeat, load_until=w1,
        run_seconds=RUN_SECONDS, gap_seconds=1.0, error_share=0.1, out_dir=out_dir,
        seed=processes,
    )
    agents = dict(load_registry(HERE.parent / "agents.yaml").agents)
    readies = [ctx.Event() for _ in range(workers)]
    mains = [ctx.Process(target=worker_main, args=(plan, i, agents, readies[i], checked))
             for i in range(workers)]
    for main in mains:
        main.start()
    port = proxy.port if proxy else (make_url(url).port or 5432)
    sampler = ctx.Process(target=sample, args=(
        PG_ADMIN, DATABASE, (w0, w1), [m.pid for m in mains], port, [observer_pid],
        stop_sampler, sampled))
    sampler.start()
    deadline = w1 + RUN_SECONDS[1] + 60
    for ready in readies:
        ready.wait(max(1.0, deadline - time.time()))
    stop_sampler.set()
    stop_observer.set()
    figures = sampled.get(timeout=60)
    seen = observed.get(timeout=60)
    runs = [run for path in Path(out_dir).glob("runs-*.json")
            for run in json.loads(path.read_text())["runs"]]
    late = max((json.loads(p.read_text())["late_p99"] for p in Path(out_dir).glob("runs-*.json")),
               default=0.0)
    rows = _rows(url)  # read before the shutdown
    mismatches, ambiguous = _check(rows, runs, agents)
    checked.set()
    for main in mains:
        main.join(60)
    offline = sum(status == "offline" for status, _ in _rows(url).values())
    observer.join(10)
    sampler.join(10)
    if proxy:
        proxy.stop()
    window = [r for r in runs if w0 <= r[2] <= w1]
    start_vis = [seen["first_seen"][r[0]] - r[2] for r in window if r[0] in seen["first_seen"]]
    end_vis = [seen["gone_at"][r[0]] - r[3] for r in window if r[0] in seen["gone_at"]]
    return {
        "processes": processes, "workers": workers, "via": "pgbouncer" if bouncer else "direct",
        "hosts": plan.hosts * workers, "runs": len(window), "runs_all": len(runs),
        "start_p50": _pct(start_vis, 0.5), "start_p99": _pct(start_vis, 0.99),
        "end_p50": _pct(end_vis, 0.5), "end_p99": _pct(end_vis, 0.99),
        "unseen": len(window) - len(start_vis), "never_gone": len(window) - len(end_vis),
        "left_in_table": len(seen["left"]), "observer_gap": seen["worst_gap"],
        "driver_late_p99": late, "mismatches": mismatches, "ambiguous": ambiguous,
        "offline_after_stop": offline, "agents": len(agents), "load": load, **figures,
    }


def _rows(url: str) -> dict[str, tuple[str, str | None]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {a: (s, t) for a, s, t in conn.execute(
                text("select agent_id, status::text, task from office_agent_status"))}
    finally:
        engine.dispose()


def _check(rows: dict[str, tuple[str, str | None]], runs: list[list[Any]],
           agents: dict[str, Any]) -> tuple[list[str], int]:
    """Each agent's row against its last-ended run (``[id, agent, start, before, after, text]``).

    Two runs of one agent whose ``run_finished`` calls overlap in time (on two processes) have
    no defined order: such an agent is counted as ambiguous, not as a mismatch."""
    mismatches, ambiguous = [], 0
    for agent_id in sorted(agents):
        ended = sorted((r for r in runs if r[1] == agent_id), key=lambda r: r[3])
        expected = ("ok", None)
        if ended:
            last = ended[-1]
            expected = ("error", last[5]) if last[5] else ("ok", None)
            rivals = [r for r in ended[:-1] if r[4] >= last[3] and r[5] != last[5]]
            if rivals:
                ambiguous += 1
                if rows.get(agent_id) in {expected, *(("error", r[5]) if r[5] else ("ok", None)
                                                      for r in rivals)}:
                    continue
        got = rows.get(agent_id)
        if got != expected:
            detail = f"last run {ended[-1][0]} ended at {ended[-1][3]:.3f}" if ended else "no run"
            mismatches.append(f"{agent_id}: expected {expected}, got {got} ({detail})")
    return mismatches, ambiguous


HEADER = ("| P | via | workers | real pool procs | runs | server conns | client conns/worker "
          "| commits/s | DB CPU | main CPU (mean/max) | pool CPU | start p50/p99 | end p50/p99 "
          "| lock waits (status rows) / max | mismatches | main RSS |")


def row(r: dict[str, Any]) -> str:
    return (
        f"| {r['processes']} | {r['via']} | {r['workers']} | {r['hosts']} | {r['runs']} "
        f"| {r['server_conns']} | {r['client_conns_max']} | {r['tps']:.1f} "
        f"| {r['db_cpu']:.1%} | {r['main_cpu_mean']:.1%}/{r['main_cpu_max']:.1%} "
        f"| {r['pool_cpu']:.0%} | {r['start_p50']:.2f}/{r['start_p99']:.2f} s "
        f"| {r['end_p50']:.2f}/{r['end_p99']:.2f} s "
        f"| {r['lock_waits']} ({r['lock_waits_status']}) / {r['lock_wait_max'] * 1000:.0f} ms "
        f"| {len(r['mismatches'])} | {r['main_rss'] / 2**20:.0f} MiB |"
    )


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="8,64,256,512", help="total pool processes")
    parser.add_argument("--seconds", type=float, default=40.0, help="measured window")
    parser.add_argument("--warmup", type=float, default=8.0)
    parser.add_argument("--pgbouncer", choices=("both", "off", "only"), default="both")
    parser.add_argument("--workers", default="0",
                        help="workers per size, or several (16,32,64: the bend, plotted by "
                             "workers); default: max(1, P // 64)")
    parser.add_argument("--hosts", type=int, default=8, help="real pool processes per worker")
    parser.add_argument("--flush-interval", type=float, default=1.0)
    parser.add_argument("--heartbeat", type=float, default=60.0)
    parser.add_argument("--plot", action="store_true", help="write bench/fleet/fleet.png")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--from-json", help="plot and print these results, measure nothing")
    args = parser.parse_args()
    if args.from_json:
        results = json.loads(Path(args.from_json).read_text())
    else:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        vias = {"both": (False, True), "off": (False,), "only": (True,)}[args.pgbouncer]
        results = []
        for processes in [int(s) for s in args.sizes.split(",")]:
            for workers, bouncer in itertools.product(_ints(args.workers), vias):
                r = measure(processes, bouncer, args, admin, workers)
                results.append(r)
                print(row(r), flush=True)
                for line in r["mismatches"]:
                    print("  MISMATCH", line, flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1))
    mem = psutil.virtual_memory().total / 2**30
    print(f"\nmachine: {platform.system()} {platform.release()}, "
          f"Python {platform.python_version()}, "
          f"{os.cpu_count()} cores, {mem:.0f} GiB; load average at the end "
          f"{os.getloadavg()[0]:.2f}; flush interval {args.flush_interval:g} s\n")
    print(HEADER)
    print("|" + "---|" * (HEADER.count("|") - 1))
    for r in results:
        print(row(r))
    for r in results:
        print(f"- P={r['processes']} {r['via']}: {r['runs_all']} runs in all; unseen starts "
              f"{r['unseen']}, ends never seen {r['never_gone']}, left in the table "
              f"{r['left_in_table']}; server connections in a transaction when sampled (max) "
              f"{r.get('busy_conns', '?')}; ambiguous last ends {r['ambiguous']}; "
              f"offline after the shutdown {r['offline_after_stop']}/{r['agents']}; "
              f"lock wait kinds {r['lock_wait_kinds']}, time with a waiter "
              f"{r['lock_busy_share']:.1%} of {r.get('lock_samples', 0)} samples, most "
              f"waiters at once {r['lock_max_waiters']}; pool TCP connections {r['pool_conns']}; "
              f"driver lateness p99 {r['driver_late_p99'] * 1000:.0f} ms; observer's worst gap "
              f"{r['observer_gap'] * 1000:.0f} ms; load average before {r['load']:.2f}")
    if args.plot and len({r["workers"] for r in results}) > len({r["processes"] for r in results}):
        plot_bend(results, HERE / "bend.png", args.flush_interval)
        print(f"\nwrote {HERE.name}/bend.png")
    elif args.plot:
        plot(results, HERE / "fleet.png", args.flush_interval)
        print(f"\nwrote {HERE.name}/fleet.png")


if __name__ == "__main__":
    main()
