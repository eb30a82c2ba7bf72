"""One chaos run: its servers, workers, load, faults and the verdict at the end."""

from __future__ import annotations

import argparse
import atexit
import json
import os
import random
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from tests.faultproxy import FaultProxy

from .checks import issue30
from .cluster import Servers
from .counts import compare_counts, count_bounds, read_counts
from .faults import TRIGGER_AGENT, Faults, plan
from .load import Load
from .locks import tables
from .notify import Notifications
from .oracle import RETRY_MAX, Oracle, read_records
from .records import RecordTail
from .report import print_verdict
from .verdict import (
    compare,
    log_report,
    memory,
    oracle_tail,
    read_rows,
    tally,
    task_times,
    watch_late,
)
from .workers import Worker, office_lines

HERE = Path(__file__).resolve().parent

DATABASE = "chaos"
MISSING_BINARIES = 3  # the exit code when initdb, postgres or redis-server is not found
SETTINGS = {
    "OFFICE_FLUSH_INTERVAL": "0.2",
    "OFFICE_HEARTBEAT_INTERVAL": "1",
    "OFFICE_OFFLINE_AFTER": "10",
    "OFFICE_CONNECT_TIMEOUT": "2",
    "OFFICE_STATEMENT_TIMEOUT": "2",
    "OFFICE_SHUTDOWN_TIMEOUT": "2",
}
HEARTBEAT = float(SETTINGS["OFFICE_HEARTBEAT_INTERVAL"])
FLUSH = float(SETTINGS["OFFICE_FLUSH_INTERVAL"])
SOLO = "w3"
OFFLINE_AFTER = float(SETTINGS["OFFICE_OFFLINE_AFTER"])



class Run:
    """One chaos run: servers, proxy, workers, load and faults, torn down whatever happens."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
        self.root = Path(tempfile.mkdtemp(prefix="office-chaos-"))
        self.records_dir = self.root / "records"
        self.logs_dir = self.root / "logs"
        self.records_dir.mkdir()
        self.logs_dir.mkdir()
        self.servers = Servers(self.root)
        self.proxy: Any = None
        self.workers: dict[str, Worker] = {}
        self.tail = RecordTail(self.records_dir)
        self.faults: Faults | None = None
        self.notifications: Notifications | None = None
        self.solo_stopped = False
        self._closed = False
        atexit.register(self.close)

    # ------------------------------------------------------------------ set-up

    def setup(self) -> None:
        self.servers.init_pg()
        self.servers.start_pg()
        self.servers.start_redis()
        self.servers.sql(f"create database {DATABASE}")
        self.proxy = FaultProxy("127.0.0.1", self.servers.pg_port)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
            "CELERY_BROKER_URL": self.servers.redis_url(),
            "CHAOS_RECORDS": str(self.records_dir),
            "OFFICE_DATABASE_URL": self.servers.pg_url(DATABASE, port=self.proxy.port),
            "OFFICE_AGENTS_FILE": str(HERE / "agents.yaml"),
            **SETTINGS,
        }
        env.pop("CHAOS_SOLO_TASKS", None)
        self.workers = {
            "w1": Worker("w1", pool="prefork", env=env, log_dir=self.logs_dir,
                         max_tasks_per_child=5),
            "w2": Worker("w2", pool="prefork", env=env, log_dir=self.logs_dir,
                         max_tasks_per_child=7),
            SOLO: Worker(SOLO, pool="solo", env={**env, "CHAOS_SOLO_TASKS": "1"},
                         log_dir=self.logs_dir),
        }
        for worker in self.workers.values():
            worker.start(wait_ready=False)
        for worker in self.workers.values():
            worker.wait_ready()
        if self.args.serves:
            self.notifications = Notifications(env, self.logs_dir, serves=self.args.serves,
                                               interval=self.args.notify_interval,
                                               offline_after=OFFLINE_AFTER)
        agents = len(yaml.safe_load((HERE / "agents.yaml").read_text("utf-8"))["agents"])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if len(read_rows(self.servers, DATABASE)) == agents:
                    if self.notifications is not None:  # it must first see every agent
                        self.notifications.start()
                    return
            except Exception:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the workers did not register the {agents} agents within 60 s")

    def running(self) -> list[dict[str, Any]]:
        alive = self.alive_pids()
        return [r for r in self.tail.open_runs() if r["pid"] in alive]

    def alive_pids(self) -> set[int]:
        pids: set[int] = set()
        for worker in [*self.workers.values(), *(self.faults.twins if self.faults else [])]:
            if worker.alive:
                pids.add(worker.proc.pid)
                pids.update(worker.pool_pids())
        return pids

    def log_counts(self) -> dict[str, int]:
        return {name: len(office_lines(w.log_text())) for name, w in self.workers.items()}

    # ------------------------------------------------------------------ the run

    def execute(self) -> int:
        args = self.args
        chaos_length = args.minutes * 60.0
        baseline = args.baseline
        if baseline is None:
            baseline = min(120.0, max(20.0, chaos_length / 10))
        print(f"chaos: seed {self.seed}, {baseline:.0f} s baseline, {chaos_length:.0f} s of "
              f"faults, files in {self.root}", flush=True)
        self.setup()
        pools = {name: w.pool for name, w in self.workers.items()}
        schedule = plan(random.Random(f"{self.seed}-plan"), chaos_length, pools,
                        offline_after=OFFLINE_AFTER, kinds=args.kinds,
                        tables=tuple(args.lock_tables.split(",")) if args.lock_tables
                        else tables())
        load = Load(self.servers.redis_url(), seed=self.seed,
                    rng=random.Random(f"{self.seed}-load"),
                    rate=args.rate, solo=SOLO, prefork=["w1", "w2"], running=self.running,
                    solo_served=lambda: not self.solo_stopped)
        faults = self.faults = Faults(self.servers, self.proxy, self.workers, DATABASE,
                                      self.running, send=load.send, tail=self.tail,
                                      offline_after=OFFLINE_AFTER)
        stop_supervising = threading.Event()
        threading.Thread(target=faults.supervise, args=(stop_supervising,), daemon=True).start()
        snapshots = {"baseline": self.log_counts()}
        phases: dict[str, tuple[float, float]] = {}
        stop_load = threading.Event()
        sender = threading.Thread(target=load.run, args=(stop_load,), daemon=True)
        began = time.time()
        sender.start()
        time.sleep(baseline)
        phases["baseline"] = (began, time.time())
        snapshots["chaos"] = self.log_counts()
        load.phase = "chaos"
        chaos_began = time.time()
        faults.run(schedule, time.monotonic(), threading.Event())
        time.sleep(max(0.0, chaos_began + chaos_length - time.time()))
        stop_load.set()
        sender.join(10)
        faults.join()
        self._heal(faults)
        faults_end = time.time()
        phases["chaos"] = (chaos_began, faults_end)
        print(f"chaos: faults over after {faults_end - chaos_began:.0f} s; waiting for the tasks "
              "in flight", flush=True)
        quiet = load.quiesce(self.records_dir, self.running)
        serving = set(self.workers)
        if random.Random(f"{self.seed}-end").random() < 0.5:
            self.solo_stopped = True
            with faults._locks[SOLO]:
                self.workers[SOLO].stop_warm()
            serving.discard(SOLO)
        load.phase = "after"
        sentinel = load.send("long_watch", queue="chaos.w1", duration=600.0)
        self._wait_started(sentinel.task_id if sentinel else None)
        check_at = max(faults_end + RETRY_MAX + 1.0, time.time()) + 2 * HEARTBEAT + 2 * FLUSH
        time.sleep(max(0.0, check_at - time.time()))
        stop_supervising.set()
        snapshots["after"] = self.log_counts()

        records = read_records(self.records_dir)
        oracle = Oracle(HERE / "agents.yaml", records, self.workers, faults.injected,
                        serving, SOLO, HEARTBEAT, FLUSH, lost_window=args.lost_window)
        alive = self.alive_pids()
        expected = oracle.expected(time.time(), alive)
        recent = 2 * HEARTBEAT + FLUSH + 1.0
        rows = read_rows(self.servers, DATABASE)
        mismatches = compare(expected, rows, recent=recent)
        count_mismatches = compare_counts(count_bounds(oracle), read_counts(self.servers, DATABASE))
        late = (watch_late(self.servers, DATABASE, expected, mismatches, recent=recent)
                if mismatches else {})
        served_by = {a: [SOLO] if a == "chaos_solo" else list(self.workers) for a in oracle.agents}
        issue30_figures = issue30(oracle, faults.injected, self.notifications,
                                  offline_after=OFFLINE_AFTER, serving=served_by,
                                  posts_file=self.logs_dir / "posts.jsonl")
        for worker in self.workers.values():
            if worker.alive and worker.current is not None:
                worker.current.rss_end = worker.rss()
        figures = {
            "seed": self.seed, "baseline_s": baseline, "chaos_s": faults_end - chaos_began,
            "quiet_after_s": quiet, "solo_stopped_at_end": self.solo_stopped,
            "tally": tally(records, load, faults.injected),
            "times": task_times(records, phases),
            "logs": log_report({n: w.log_text() for n, w in self.workers.items()}, snapshots),
            "memory": memory(self.workers), "mismatches": mismatches, "late": late,
            "count_mismatches": count_mismatches, "kinds": list(args.kinds),
            "minutes": args.minutes,
            "issue30": issue30_figures,
            "rows": {a: (rows.get(a, {}).get("status"), rows.get(a, {}).get("task"),
                         [s.label() for s in e.states]) for a, e in expected.items()},
            "fault_errors": faults.errors, "trigger_agent": TRIGGER_AGENT,
            "schedule": [(p.at, p.kind, p.target, p.duration) for p in schedule],
            "injected": [(round(f.begin - chaos_began, 2), f.kind, f.target, f.note)
                         for f in sorted(faults.injected, key=lambda f: f.begin)],
            "expected_tail": {m["agent"]: oracle_tail(oracle, m["agent"], alive)
                              for m in mismatches},
        }
        ok = print_verdict(figures, self.workers)
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2, default=str, ensure_ascii=False))
        if not ok or args.keep:
            self._keep()
        load.close()
        return 0 if ok else 1

    # ------------------------------------------------------------------ after the faults

    def _heal(self, faults: Faults) -> None:
        """Make sure every fault is undone, whatever an action met on its way."""
        for twin in faults.twins:
            if twin.alive:
                twin.stop_warm()
        self.proxy.set_mode("forward")
        if self.servers._pg is None or self.servers._pg.poll() is not None:
            self.servers.start_pg()  # a long outage cut short by an error
        faults._admin(f"alter database {DATABASE} set default_transaction_read_only = off")
        faults._admin("drop trigger if exists chaos_refuse on office_agent_status", DATABASE)
        faults._terminate_office()
        for worker in self.workers.values():
            if not worker.alive:
                worker.reap()
                worker.start()

    def _wait_started(self, task_id: str | None, limit: float = 30.0) -> None:
        deadline = time.monotonic() + limit
        while task_id and time.monotonic() < deadline:
            if any(r["id"] == task_id for r in self.tail.open_runs()):
                return
            time.sleep(0.1)

    # ------------------------------------------------------------------ tear-down

    def _keep(self) -> None:
        kept = Path(tempfile.mkdtemp(prefix=f"office-chaos-{self.seed}-"))
        for name in ("logs", "records"):
            shutil.copytree(self.root / name, kept / name)
        print(f"chaos: worker logs and task records kept in {kept}", flush=True)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.notifications is not None:
            try:
                self.notifications.close()
            except Exception:
                pass
        for worker in [*self.workers.values(), *(self.faults.twins if self.faults else [])]:
            try:
                worker.close()
            except Exception:
                pass
        if self.proxy is not None:
            self.proxy.close()
        self.servers.close()
        shutil.rmtree(self.root, ignore_errors=True)
