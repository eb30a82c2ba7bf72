"""What ``bench/fleet`` reads from outside the fleet: the observer and the sampler.

Both are separate processes with connections of their own, straight to PostgreSQL (never
through PgBouncer), and neither adds a commit to the benchmark's database:

- the **observer** polls ``office_agent_run`` every ``POLL`` seconds with the database clock
  (``clock_timestamp()``), inside one READ COMMITTED transaction that it never commits (each
  statement still sees every commit made before it; no snapshot is held between statements),
  and notes when each run's ``task_id`` first appears and when it disappears;
- the **sampler** is connected to the server's ``postgres`` database and reads the cluster-wide
  views: lock waits of the benchmark's backends (``wait_event_type = 'Lock'``) every
  ``LOCK_POLL`` seconds; every ``POLL_SLOW`` seconds the benchmark database's backends
  (connections, and their CPU time through psutil), the CPU, memory and TCP connections of the
  workers' main processes and of their pool processes, and ``pg_stat_database.xact_commit``.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import psutil
import psycopg2
from sqlalchemy.engine import make_url

POLL = 0.05  # seconds between two observer polls
LOCK_POLL = 0.02  # seconds between two lock-wait samples
POLL_SLOW = 0.5  # seconds between two samples of connections, CPU and memory


def libpq(url: str, application_name: str) -> Any:
    """A psycopg2 connection to the database of a SQLAlchemy ``url``."""
    u = make_url(url)
    return psycopg2.connect(
        host=u.host, port=u.port or 5432, user=u.username, password=u.password or "",
        dbname=u.database, application_name=application_name,
    )


def _first_in_line() -> None:
    """The measuring processes before the measured ones: among hundreds of workers' processes
    on two cores, an observer at the default priority samples a few times a window, not every
    20 ms (seen: 3 samples in 20 s at 64 workers). Needs root; measured anyway without it."""
    try:
        os.nice(-10)
    except OSError:
        pass


def observe(url: str, stop: Any, out: Any) -> None:
    """The observer process: puts its backend pid, then (at ``stop``) what it saw, on ``out``."""
    _first_in_line()
    conn = libpq(url, "fleet-observer")
    cur = conn.cursor()  # psycopg2 opens a transaction at the first statement: never committed
    cur.execute("select pg_backend_pid()")
    out.put(cur.fetchone()[0])
    first_seen: dict[str, float] = {}
    gone_at: dict[str, float] = {}
    present: set[str] = set()
    polls, worst_gap, last = 0, 0.0, None
    next_poll = time.monotonic()
    while not stop.is_set():
        cur.execute(
            "select extract(epoch from clock_timestamp())::float8, "
            "array(select task_id from office_agent_run)"
        )
        at, ids = cur.fetchone()
        ids = set(ids)
        for task_id in ids - present:
            first_seen.setdefault(task_id, at)
        for task_id in present - ids:
            gone_at[task_id] = at
        present = ids
        polls += 1
        if last is not None:
            worst_gap = max(worst_gap, at - last)
        last = at
        next_poll += POLL
        time.sleep(max(0.0, next_poll - time.monotonic()))
    out.put({"first_seen": first_seen, "gone_at": gone_at, "left": sorted(present),
             "polls": polls, "worst_gap": worst_gap})
    conn.close()


def _cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


class _CpuTally:
    """CPU seconds a changing set of processes spent inside a window."""

    def __init__(self) -> None:
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}

    def see(self, pids: list[int], window_start: float) -> None:
        for pid in pids:
            try:
                proc = psutil.Process(pid)
                cpu = _cpu(proc)
                born_inside = proc.create_time() >= window_start
            except psutil.Error:
                continue
            self.first.setdefault(pid, 0.0 if born_inside else cpu)
            self.last[pid] = cpu

    def total(self) -> float:
        return sum(self.last[p] - self.first[p] for p in self.last)


class _LockSampler:
    """Lock waits of the benchmark's backends every LOCK_POLL seconds, in a thread of its own
    (the sampler's per-process figures take seconds a pass at 64 workers)."""

    def __init__(self, admin_url: str, database: str, window: tuple[float, float]) -> None:
        self.conn = libpq(admin_url, "fleet-locks")
        self.conn.autocommit = True
        self.database = database
        self.window = window
        self.waits: dict[tuple[int, Any], tuple[float, str]] = {}  # (pid, start) -> longest
        self.samples = self.busy = self.most = 0

    def run(self, stop: Any) -> None:
        cur = self.conn.cursor()
        start, end = self.window
        while not stop.is_set():
            cur.execute(
                "select pid, query_start, wait_event, query, "
                "extract(epoch from clock_timestamp() - query_start)::float8 "
                "from pg_stat_activity where datname = %s and wait_event_type = 'Lock'",
                (self.database,),
            )
            rows = cur.fetchall()
            if start <= time.time() <= end:
                self.samples += 1
                self.busy += bool(rows)
                self.most = max(self.most, len(rows))
                for pid, began, event, query, waited in rows:
                    # a flush is one call of office_apply_batch: it locks the status rows
                    on_status = any(name in (query or "")
                                    for name in ("office_agent_status", "office_apply_batch"))
                    what = f"{event}{' on office_agent_status' if on_status else ''}"
                    previous = self.waits.get((pid, began), (0.0, what))[0]
                    self.waits[(pid, began)] = (max(previous, waited or 0.0), what)
            time.sleep(LOCK_POLL)


def sample(admin_url: str, database: str, window: tuple[float, float], main_pids: list[int],
           db_port: int, skip_pids: list[int], stop: Any, out: Any) -> None:
    """The sampler process: puts a dict of figures on ``out`` once ``stop`` is set."""
    _first_in_line()
    conn = libpq(admin_url, "fleet-sampler")
    conn.autocommit = True
    cur = conn.cursor()
    start, end = window
    locks = _LockSampler(admin_url, database, window)
    threading.Thread(target=locks.run, args=(stop,), daemon=True).start()
    plugin_conns = server_conns = busy_conns = 0
    client_conns: dict[int, int] = {}  # main pid -> most TCP connections to the database port
    pool_conns = 0
    rss_max = 0
    db_cpu, main_cpu, pool_cpu = _CpuTally(), _CpuTally(), _CpuTally()
    xacts: list[tuple[float, int]] = []  # (when, xact_commit)
    next_slow = time.time()
    while not stop.is_set():
        now = time.time()
        inside = start <= now <= end
        if now >= next_slow and start <= now and (inside or len(xacts) < 2):
            next_slow = now + POLL_SLOW
            cur.execute(
                "select pid, application_name, state from pg_stat_activity "
                "where datname = %s and backend_type = 'client backend'", (database,)
            )
            listed = [row for row in cur.fetchall() if row[0] not in skip_pids]
            backends = [(pid, app) for pid, app, _ in listed]
            busy_conns = max(busy_conns, sum(state != "idle" for _, _, state in listed))
            cur.execute("select xact_commit from pg_stat_database where datname = %s", (database,))
            commits = cur.fetchone()[0]
            if not xacts or not inside:
                xacts.append((now, commits))  # the first sample inside the window, the first after
            plugin_conns = max(plugin_conns, sum(app == "celery-office" for _, app in backends))
            server_conns = max(server_conns, len(backends))
            db_cpu.see([pid for pid, _ in backends], start)
            mains = [psutil.Process(pid) for pid in main_pids if psutil.pid_exists(pid)]
            main_cpu.see([p.pid for p in mains], start)
            for main in mains:
                try:
                    rss_max = max(rss_max, main.memory_info().rss)
                    client_conns[main.pid] = max(client_conns.get(main.pid, 0),
                                                 _db_sockets(main, db_port))
                    pool = main.children()
                    pool_cpu.see([p.pid for p in pool], start)
                    pool_conns = max(pool_conns, sum(_db_sockets(p, db_port) for p in pool))
                except psutil.Error:
                    pass
        time.sleep(LOCK_POLL)
    seconds = end - start
    waits, lock_samples, lock_busy, lock_max = locks.waits, locks.samples, locks.busy, locks.most
    status_waits = [w for w, what in waits.values() if "office_agent_status" in what]
    out.put({
        "lock_waits": len(waits),
        "lock_waits_status": len(status_waits),
        "lock_wait_max": max((w for w, _ in waits.values()), default=0.0),
        "lock_wait_kinds": sorted({what for _, what in waits.values()}),
        "lock_busy_share": lock_busy / lock_samples if lock_samples else 0.0,
        "lock_samples": lock_samples,
        "lock_max_waiters": lock_max,
        "plugin_conns": plugin_conns,
        "server_conns": server_conns,
        "busy_conns": busy_conns,  # in a transaction at the moment of a sample
        "client_conns_max": max(client_conns.values(), default=0),
        "pool_conns": pool_conns,
        "tps": (xacts[-1][1] - xacts[0][1]) / (xacts[-1][0] - xacts[0][0])
        if len(xacts) >= 2 else float("nan"),
        "db_cpu": db_cpu.total() / seconds,
        "main_cpu_mean": main_cpu.total() / seconds / max(1, len(main_pids)),
        "main_cpu_max": max(
            ((main_cpu.last[p] - main_cpu.first[p]) / seconds for p in main_cpu.last), default=0.0
        ),
        "pool_cpu": pool_cpu.total() / seconds,
        "main_rss": rss_max,
    })
    conn.close()


def _db_sockets(proc: psutil.Process, port: int) -> int:
    """TCP connections of ``proc`` to ``port`` on the loopback (PostgreSQL or PgBouncer)."""
    return sum(
        1 for c in proc.net_connections(kind="tcp")
        if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
    )
