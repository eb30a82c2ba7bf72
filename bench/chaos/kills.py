"""Issue 30's kills right after a run's end: the end is recorded, then its process dies.

``pool_kill_after_end``: the first end recorded by a pool process of the target (prefork)
after the fault begins; ``planned.pause`` (0.1-0.5 s) after that end's record, the process is
SIGKILLed. The oracle (``oracle.py`` rule 3) keeps every end that process recorded before the
kill certain: the row and the day numbers must have it.

``main_kill_after_end``: the first end recorded by any process of the target after the fault
begins; ``planned.pause`` (under 1.5 s) after it, the worker's main process is SIGKILLed (its
orphaned pool processes a moment later), and the worker started again 0.5-2 s later under the
same name. The oracle (rule 5) lets only the ends of the last ``--lost-window`` seconds before
the kill go missing; everything else must be exact.

An end that comes with no time to spare (the harness read it late) is still the one killed
after; the kill's real delay is noted (``details["delay"]``).
"""

from __future__ import annotations

import os
import random
import signal
import time
from typing import Any

from .schedule import Injected, Planned

__all__ = ["pool_kill_after_end", "main_kill_after_end", "ENDS_WAIT"]

ENDS_WAIT = 20.0  # seconds to wait for an end to kill after
OUTCOMES = ("ok", "error", "retry")


def _wait_end(faults: Any, pids: Any, *, timeout: float = ENDS_WAIT) -> dict[str, Any] | None:
    return faults.tail.wait_end(lambda r: r["pid"] in pids() and r.get("outcome") in OUTCOMES,
                                timeout=max(0.0, timeout))


def pool_kill_after_end(faults: Any, planned: Planned, entry: Injected) -> None:
    """Kill after the next end; a process recycled (--max-tasks-per-child) before its kill is
    passed over for the next end, so the kind is injected whatever the recycling."""
    worker = faults.workers[planned.target]
    deadline = time.monotonic() + ENDS_WAIT
    recycled = 0
    while time.monotonic() < deadline:
        if not worker.alive or worker.pool != "prefork":
            entry.note = "skipped: not running"
            return
        end = _wait_end(faults, lambda: set(worker.pool_pids()),
                        timeout=deadline - time.monotonic())
        if end is None:
            break
        time.sleep(max(0.0, end["t"] + planned.pause - time.time()))
        try:
            os.kill(end["pid"], signal.SIGKILL)
        except ProcessLookupError:  # recycled in the meantime: wait for the next end
            recycled += 1
            continue
        entry.begin = time.time()
        entry.details = {"pid": end["pid"], "id": end["id"], "end_t": end["t"],
                         "delay": round(entry.begin - end["t"], 3)}
        entry.note = (f"pid {end['pid']} {entry.begin - end['t']:.2f} s after the end of "
                      f"{end['name'].rsplit('.', 1)[-1]} {end.get('seq')}"
                      + (f" ({recycled} recycled before their kill)" if recycled else ""))
        return
    entry.note = (f"skipped: no end to kill after in {ENDS_WAIT:.0f} s "
                  f"({recycled} processes recycled before their kill)")


def main_kill_after_end(faults: Any, planned: Planned, entry: Injected) -> None:
    worker = faults.workers[planned.target]
    if not worker.alive:
        entry.note = "skipped: not running"
        return
    main = worker.current.pid
    end = _wait_end(faults, lambda: {main, *worker.pool_pids()})
    if end is None:
        entry.note = f"skipped: no end in {ENDS_WAIT:.0f} s"
        return
    time.sleep(max(0.0, end["t"] + planned.pause - time.time()))
    killed = worker.kill_main()
    entry.begin = killed
    entry.details = {"pid": main, "killed": killed, "end_t": end["t"], "id": end["id"],
                     "delay": round(killed - end["t"], 3)}
    dead = round(random.Random(f"dead-{planned.at}").uniform(0.5, 2.0), 2)
    time.sleep(dead)
    worker.start()
    entry.note = f"main {main} killed {killed - end['t']:.2f} s after an end, dead {dead:.1f} s"
