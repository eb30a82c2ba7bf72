"""``celery office serve`` under load: 1,000 agents, 20 pollers, a database healthy then hung.

    python -m bench.serve [--agents 1000] [--pollers 20] [--seconds 20] [--interval 0] [--keep]

A real ``celery office serve`` process reads a real PostgreSQL through a TCP relay
(``tests/faultproxy.py``). ``--agents`` agents are written to ``office_agent_status`` (with
today's numbers), then ``--pollers`` threads each ask ``/api/agents`` back to back (keep-alive
connections; ``--interval 2``: every 2 s, as open pages do) for ``--seconds``, twice: with the
database healthy, then with the relay hung (it accepts connections and never answers; open
connections stop relaying), as a stalled network or a stopped server does. Measured per phase:
requests answered and their status, p50 / p99 / max latency, the share of answers marked
stale, and the CPU of the serve process (in cores, from its user + system time). Figures:
``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import http.client
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from celery_office import migrate
from celery_office.core.days import today
from tests.faultproxy import FaultProxy

PG_ADMIN = os.environ.get("OFFICE_TEST_PG_URL",
                          "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
DATABASE = "office_bench_serve"
DEPARTMENTS = ("watcher", "reputation", "content_factory", "marketing", "scout", "cfo",
               "knowledge", "lex")
STATUSES = ("ok",) * 7 + ("warning", "error", "offline")


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def fill(agents: int) -> str:
    """A fresh database holding ``agents`` agents in mixed states, with today's numbers."""
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {DATABASE}"))
    admin.dispose()
    url = make_url(PG_ADMIN).set(database=DATABASE).render_as_string(hide_password=False)
    migrate(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        for n in range(agents):
            status = STATUSES[n % len(STATUSES)]
            conn.execute(text(
                "INSERT INTO office_agent_status (agent_id, department, name, brand, status, "
                "task, metrics, salary_equivalent, fte_coefficient, last_activity) VALUES "
                "(:id, :dept, :name, 'ohana_market', CAST(:status AS agentstatus), :task, "
                "CAST(:metrics AS jsonb), 60000, 1, now())"),
                {"id": f"agent_{n:04d}", "dept": DEPARTMENTS[n % len(DEPARTMENTS)],
                 "name": f"Агент {n}", "status": status,
                 "task": None if status == "ok" else f"Ошибка: ScanError: page {n} timed out",
                 "metrics": f'{{"processed": {n}}}'})
            conn.execute(text(
                "INSERT INTO office_agent_day (agent_id, day, runs, succeeded, failed, retried, "
                "revoked, runtime_s, max_runtime_s) VALUES (:id, :day, 40, 38, 2, 1, 0, 900, 60)"),
                {"id": f"agent_{n:04d}", "day": today("UTC")})
    engine.dispose()
    return url


def poll(port: int, until: float, interval: float, out: list[tuple[float, int, bool]],
         sizes: list[int]) -> None:
    """GET /api/agents every ``interval`` s (0: back to back) until ``until``: (seconds,
    status, stale) per answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    due = time.monotonic()
    while due < until:
        time.sleep(max(0.0, due - time.monotonic()))
        start = time.monotonic()
        due = start + interval
        try:
            conn.request("GET", "/api/agents")
            response = conn.getresponse()
            body = response.read()
            out.append((time.monotonic() - start, response.status,
                        b'"stale":null' not in body))
            sizes.append(len(body))
        except (OSError, http.client.HTTPException):
            out.append((time.monotonic() - start, 0, True))
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.close()


def phase(name: str, serve: psutil.Process, port: int, pollers: int, seconds: float,
          interval: float) -> dict[str, Any]:
    results: list[list[tuple[float, int, bool]]] = [[] for _ in range(pollers)]
    sizes: list[int] = []
    until = time.monotonic() + seconds
    cpu0, wall0 = sum(serve.cpu_times()[:2]), time.monotonic()
    threads = [threading.Thread(target=poll, args=(port, until, interval, results[i], sizes))
               for i in range(pollers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cpu = (sum(serve.cpu_times()[:2]) - cpu0) / (time.monotonic() - wall0)
    answers = [answer for poller in results for answer in poller]
    latencies = [took for took, _, _ in answers]
    statuses: dict[int, int] = {}
    for _, status, _ in answers:
        statuses[status] = statuses.get(status, 0) + 1
    return {"phase": name, "requests": len(answers), "per_s": len(answers) / seconds,
            "statuses": statuses,
            "stale": sum(stale for *_, stale in answers) / max(1, len(answers)),
            "p50": _pct(latencies, 0.50), "p99": _pct(latencies, 0.99),
            "max": max(latencies, default=float("nan")), "cpu": cpu,
            "kb": _pct([float(n) for n in sizes], 0.5) / 1024}


def start_serve(
    url: str, log: Path, *, tree: Path | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    """``celery office serve`` on a free port, once its /healthz says 200; of the code in
    ``tree`` (a checkout put first on its path) when given, else of the installed package."""
    from tests.web.serve_process import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OFFICE_", "CELERY_"))}
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "office", "serve", "--port", str(port),
         "--database-url", url], cwd=tree, env=env, stdout=subprocess.DEVNULL,
        stderr=open(log, "wb"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"serve did not start:\n{log.read_text()}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--pollers", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    parser.add_argument("--interval", type=float, default=0.0,
                        help="seconds between two requests of a poller (0: back to back)")
    parser.add_argument("--keep", action="store_true", help="keep the database and serve's log")
    args = parser.parse_args(argv)
    url = fill(args.agents)
    proxy = FaultProxy(make_url(url).host or "127.0.0.1", make_url(url).port or 5432)
    log = Path(tempfile.mkdtemp(prefix="office-bench-serve-")) / "serve.log"
    proc, port = start_serve(proxy.url(url), log)
    try:
        serve = psutil.Process(proc.pid)
        pace = f"every {args.interval:g} s" if args.interval else "back to back"
        print(f"serve of {args.agents} agents, {args.pollers} pollers of /api/agents {pace}, "
              f"{args.seconds:g} s a phase; load average {os.getloadavg()[0]:.2f}")
        figures = [phase("healthy", serve, port, args.pollers, args.seconds, args.interval)]
        proxy.set_mode("hang")
        figures.append(phase("hung", serve, port, args.pollers, args.seconds, args.interval))
        proxy.set_mode("forward")
        print(f"{'phase':8} {'requests':>8} {'per s':>7} {'p50 ms':>8} {'p99 ms':>8} "
              f"{'max ms':>8} {'stale':>6} {'CPU':>5} {'KiB':>5}  statuses")
        for f in figures:
            print(f"{f['phase']:8} {f['requests']:8d} {f['per_s']:7.1f} {f['p50'] * 1000:8.1f} "
                  f"{f['p99'] * 1000:8.1f} {f['max'] * 1000:8.1f} {f['stale']:6.1%} "
                  f"{f['cpu']:5.2f} {f['kb']:5.0f}  {f['statuses']}")
    finally:
        proc.terminate()
        proc.wait(15)
        proxy.close()
        lines = [line for line in log.read_text(errors="replace").splitlines()
                 if "celery-office" in line]
        print(f"serve's celery-office lines: {len(lines)}")
        for line in lines:
            print("  " + line)
        if not args.keep:
            admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
            admin.dispose()


if __name__ == "__main__":
    main()
