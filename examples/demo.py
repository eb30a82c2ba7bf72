"""The ADOLF example office on embedded defaults: no server to set up.

    python examples/demo.py [--rounds 2] [--concurrency 4]

Starts a real ``celery worker`` (prefork) on the example app with SQLite for the table and
kombu's filesystem transport for the broker, sends rounds of tasks through all eight modules
(some fail, one retries, all return metrics), shows ``celery office status`` redrawn while the
agents change, then stops the worker warmly so the office ends offline. Ctrl-C stops it early,
warmly too. Everything it writes is under ``.adolf/`` in the current directory.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def _env(data: Path) -> dict[str, str]:
    return {
        **os.environ,
        # the example app only: celery_office comes from its installation, as for a user
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(EXAMPLES), os.environ.get("PYTHONPATH", "")) if p
        ),
        "ADOLF_DATA_DIR": str(data),
        "OFFICE_DATABASE_URL": os.environ.get(
            "OFFICE_DATABASE_URL", f"sqlite:///{data / 'office.db'}"
        ),
        "OFFICE_AGENTS_FILE": str(ROOT / "agents.yaml"),
        "OFFICE_FLUSH_INTERVAL": "0.5",
        "OFFICE_HEARTBEAT_INTERVAL": "5",
    }


def _celery(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "adolf.app", *args]


def _registered(env: dict[str, str]) -> int:
    from sqlalchemy import create_engine

    from celery_office import agent_statuses

    engine = create_engine(env["OFFICE_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            return len(agent_statuses(conn))
    except Exception:
        return 0
    finally:
        engine.dispose()


def _wait(proc: subprocess.Popen, timeout: float) -> None:
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="rounds of tasks (one per agent)")
    parser.add_argument("--concurrency", type=int, default=4, help="pool processes")
    parser.add_argument("--seed", type=int, default=None, help="repeatable failures")
    args = parser.parse_args(argv)

    data = Path(".adolf").resolve()
    shutil.rmtree(data / "broker", ignore_errors=True)  # no tasks left from an earlier demo
    data.mkdir(exist_ok=True)
    env = _env(data)
    os.environ.update({k: env[k] for k in ("ADOLF_DATA_DIR", "OFFICE_DATABASE_URL")})
    sys.path[:0] = [str(EXAMPLES)]
    if importlib.util.find_spec("celery_office") is None:
        print("celery-office is not installed: run `python -m pip install .` first",
              file=sys.stderr)
        return 1

    subprocess.run(_celery("office", "migrate"), env=env, check=True)
    log = open(data / "worker.log", "wb")
    print(f"Starting a prefork worker (log: {data / 'worker.log'}) ...", flush=True)
    worker = subprocess.Popen(
        _celery("worker", "-P", "prefork", "-c", str(args.concurrency), "-n", "adolf-demo@%h",
                "-l", "info", "--without-mingle", "--without-gossip"),
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    watch = None
    interrupted = False
    try:
        deadline = time.monotonic() + 60
        while _registered(env) == 0:
            if worker.poll() is not None or time.monotonic() > deadline:
                print((data / "worker.log").read_text(errors="replace"), file=sys.stderr)
                print("The worker did not start; its log is above.", file=sys.stderr)
                return 1
            time.sleep(0.2)
        watch = subprocess.Popen(_celery("office", "status", "--watch", "1"), env=env)

        from adolf.app import app
        from adolf.round import send_round

        results = []
        for round_ in range(args.rounds):
            seed = None if args.seed is None else args.seed + round_
            results += send_round(app, seed=seed)
            time.sleep(3)
        deadline = time.monotonic() + 60
        while not all(r.ready() for r in results) and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(2)  # one more redraw with everyone idle or in error
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if watch is not None:
            watch.send_signal(signal.SIGINT)
            _wait(watch, 10)
        print("\nStopping the worker warmly ...", flush=True)
        worker.send_signal(signal.SIGTERM)
        _wait(worker, 60)
        log.close()
    subprocess.run(_celery("office", "status"), env=env)
    print(
        "\nThe table is in "
        f"{env['OFFICE_DATABASE_URL']}; see it again with:\n"
        f"  OFFICE_DATABASE_URL={env['OFFICE_DATABASE_URL']} "
        "PYTHONPATH=examples celery -A adolf.app office status"
    )
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
