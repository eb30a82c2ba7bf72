"""Chaos with an oracle: real workers under load, faults at random, rows checked against the truth.

    python -m bench.chaos [--minutes 20] [--seed N] [--baseline 30] [--rate 6] [--keep]
                          [--kinds K1,K2|old|new] [--lost-window 0.1] [--serves 2]
                          [--notify-interval 3]

Three real ``celery worker`` processes of ``bench/chaos/chaos_app.py`` (w1 prefork -c 2
``--max-tasks-per-child 5``, w2 prefork -c 2 ``--max-tasks-per-child 7``, w3 ``-P solo``) on a
private Redis and a private PostgreSQL (``bench/chaos/cluster.py``; the machine's shared servers
are never touched) run a seeded load of five agents' tasks (``bench/chaos/load.py``). First a
baseline with no fault, then ``--minutes`` of the seeded fault schedule
(``bench/chaos/faults.py``). When the faults stop the load stops; once every task in flight has
ended, the solo worker may be stopped for good (seeded), one long run is left in progress, and
after the documented recovery (``RETRY_MAX``) plus two heartbeats every agent's row is checked
against the oracle (``bench/chaos/oracle.py``), which knows only what the tasks recorded.
The verdict (``bench/chaos/verdict.py``) is printed; the exit code is 0 when every check holds.

Issue 30's kinds (``bench/chaos/schedule.py``) add their own checks (``bench/chaos/checks.py``):
probes after a worker's identity is disturbed, liveness sampled during table locks, ends kept
after a kill, and the posts of ``--serves`` ``celery office serve --notify`` replicas to the
harness's webhooks, judged by ``bench/chaos/posts.py``. ``--kinds`` picks the kinds (default:
all; ``old`` is issue 14's eleven, ``new`` issue 30's seven).

``--seed N`` replays a run: the same fault schedule and the same stream of tasks (the timing
of a real machine varies). A failing run keeps its worker logs and task records and prints
where.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

from .cluster import missing_binaries
from .run import MISSING_BINARIES, Run
from .schedule import KINDS, parse_kinds


def _kinds(text: str) -> tuple[str, ...]:
    try:
        return parse_kinds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="length of the fault phase")
    parser.add_argument("--seed", type=int, default=None, help="replay this run (default: random)")
    parser.add_argument("--baseline", type=float, default=None,
                        help="seconds of load without faults first (default: 10%% of the "
                             "fault phase, 20 to 120 s)")
    parser.add_argument("--rate", type=float, default=6.0, help="tasks sent per second")
    parser.add_argument("--keep", action="store_true", help="keep logs and records")
    parser.add_argument("--json", type=Path, default=None, help="write the verdict's figures")
    parser.add_argument("--kinds", type=_kinds, default=KINDS,
                        help="fault kinds, comma-separated; old, new (default: all)")
    parser.add_argument("--lock-tables", default=None,
                        help="table_lock's tables, comma-separated (default: every office "
                             "table of celery_office/db/tables.py, in turn)")
    parser.add_argument("--lost-window", type=float, default=0.1,
                        help="seconds of ends before a main process's SIGKILL that may be lost "
                             "(the fix's promise; default 0.1)")
    parser.add_argument("--serves", type=int, default=2,
                        help="celery office serve replicas posting notifications (0: none)")
    parser.add_argument("--notify-interval", type=float, default=3.0,
                        help="their --notify-interval, seconds")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    missing = missing_binaries()
    if missing:
        print(f"chaos: missing server binaries: {', '.join(missing)}", file=sys.stderr)
        return MISSING_BINARIES
    run = Run(_args(argv))

    def _terminated(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)  # so that the servers and workers are cleaned up

    signal.signal(signal.SIGTERM, _terminated)
    try:
        return run.execute()
    finally:
        run.close()


if __name__ == "__main__":
    sys.exit(main())
