"""Issue 30's faults on a worker's identity, and the probes that check them.

``clock_back``: the worker is stopped warmly, its ``office_worker.flush_seq`` pushed
``CLOCK_SKEW`` ahead (the number a worker started 10 minutes later would have reached: flush
numbers start from the start time in milliseconds x 10^6), and started again: what a restart
under a clock 10 minutes behind looks like to the database. Today the database ignores every
flush numbered at or below ``flush_seq``, so the restarted worker writes nothing for 10
minutes.

``twin_node``: a second worker with the same node name (``-n``), the same queues and pool, for
``duration`` seconds, then stopped warmly. Its tasks come from the first worker's queues, so a
twin refused at start (loudly: it exits) leaves no task unserved; such a refusal is noted, not
a failure.

A **probe** is a run of ``chaos_app.probe`` (agent ``chaos_probe``, sent by the faults only) on
the worker the fault touched; its metrics name it (``{"probe": seq}``). Once its end is
recorded, the fault waits ``PROBE_WAIT`` and reads the agent's row. Judged at the end of the
run (:func:`judge_probes`), with the oracle's knowledge of every fault: the row must show this
probe or one that ended later, at the first read (``PROBE_WAIT``, then ``LATER_READS`` after
its end) that came after the database could take it (the oracle's ``written_by_on``, which
knows every database fault and every pause of the worker's main process); a probe whose
verdict the oracle holds uncertain (its worker killed by another fault, say), or with no such
read, is excused; a probe that never ran is counted.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from .oracle import RETRY_MAX, SIGNAL_SLACK, Oracle
from .schedule import Injected, Planned

__all__ = ["clock_back", "twin_node", "probe", "judge_probes", "PROBE_AGENT", "CLOCK_SKEW"]

PROBE_AGENT = "chaos_probe"
CLOCK_SKEW = 600_000_000_000  # 10 minutes of flush numbers (ms x 10^6)
PROBE_WAIT = RETRY_MAX + 3.0  # after its end: a back-off, a flush and a heartbeat, with room
PROBE_START = 30.0  # seconds a probe may wait for its worker
LATER_READS = (20.0, 40.0)  # seconds after its end: the row read again


def probe(faults: Any, worker: str, entry: Injected, *, when: str) -> None:
    """Send one probe to ``worker``'s own queue, wait for its end and ``PROBE_WAIT``, read the
    probe agent's row; all of it into ``entry.details["probes"]``."""
    probes = entry.details.setdefault("probes", [])
    sent = faults.send("probe", queue=f"chaos.{worker}") if faults.send else None
    if sent is None:
        probes.append({"when": when, "sent": False})
        return
    deadline = time.monotonic() + PROBE_START
    end = None
    while end is None and time.monotonic() < deadline:
        time.sleep(0.1)
        end = faults.tail.end_of(sent.task_id)
    found: dict[str, Any] = {"when": when, "sent": True, "id": sent.task_id, "seq": sent.seq,
                             "end_t": end["t"] if end else None, "node": end and end.get("node")}
    probes.append(found)
    if end is None:
        return
    reads = found["reads"] = []  # [read time, the probe the row shows]

    def read_at(due: float) -> None:
        time.sleep(max(0.0, due - time.time()))
        try:
            rows = faults._admin(f"select metrics from office_agent_status where agent_id = "
                                 f"'{PROBE_AGENT}'", faults.database)
        except Exception:
            return
        reads.append([time.time(), (rows[0][0] or {}).get("probe") if rows else None])

    read_at(end["t"] + PROBE_WAIT)
    for later in LATER_READS:  # in case a database fault kept the first read too early
        threading.Thread(target=read_at, args=(end["t"] + later,), daemon=True).start()


def clock_back(faults: Any, planned: Planned, entry: Injected) -> None:
    worker = faults.workers[planned.target]
    if not worker.alive:
        entry.note = "skipped: not running"
        return
    worker.stop_warm()
    rows = faults._admin(
        f"update office_worker set flush_seq = flush_seq + {CLOCK_SKEW} "
        f"where node_name like '{planned.target}@%' returning node_name, flush_seq",
        faults.database,
    )
    entry.details["skewed"] = [list(r) for r in rows]
    worker.start()
    entry.note = f"flush_seq of {len(rows)} node(s) pushed 10 min ahead"
    for when in ("after restart", "after restart, again"):
        probe(faults, str(planned.target), entry, when=when)


def twin_node(faults: Any, planned: Planned, entry: Injected) -> None:
    first = faults.workers[planned.target]
    if not first.alive:
        entry.note = "skipped: not running"
        return
    twin = first.twin()
    try:
        twin.start(timeout=60)
    except RuntimeError as exc:  # the fix may refuse it loudly: fine, its tasks go to the first
        last = [line for line in twin.log_text().splitlines() if line.strip()][-1:]
        entry.note = f"twin refused at start ({exc}): {last[0][:160] if last else ''}"
        entry.details["refused"] = True
        twin.close()
        probe(faults, str(planned.target), entry, when="twin refused")
        return
    faults.twins.append(twin)
    entry.details["twin_pid"] = twin.current.pid
    until = time.monotonic() + planned.duration
    while True:  # probes while both run (each lands on either)
        probe(faults, str(planned.target), entry, when="twin running")
        if time.monotonic() >= until:
            break
    twin.stop_warm()
    entry.details["twin_stopped"] = time.time()
    entry.note = f"twin ran {time.time() - entry.begin:.0f} s"
    for when in ("twin stopped", "twin stopped, again"):
        probe(faults, str(planned.target), entry, when=when)


def judge_probes(injected: list[Any], oracle: Oracle) -> dict[str, dict[str, Any]]:
    """Per kind: probes sent, run, right, excused, and the mismatches (the rules above)."""
    ends = {(r["name"], r.get("seq")): r["t"] for r in oracle.records
            if r["ev"] == "end" and r["name"] == "chaos_app.probe"}
    verdicts, _ = oracle.verdicts(time.time(), set())
    certain = {v.run: v.certain for v in verdicts.get(PROBE_AGENT, [])}
    out: dict[str, dict[str, Any]] = {}
    for entry in injected:
        for p in entry.details.get("probes", []):
            kind = out.setdefault(entry.kind, {"probes": 0, "ran": 0, "right": 0, "excused": 0,
                                               "mismatches": []})
            kind["probes"] += 1
            if p.get("end_t") is None or not p.get("reads"):
                continue
            kind["ran"] += 1
            due = oracle.written_by_on(p["end_t"], entry.target)
            read = next((r for r in sorted(p["reads"]) if r[0] >= due), None)
            shown = ends.get(("chaos_app.probe", read[1])) if read else None
            if shown is not None and shown >= p["end_t"] - SIGNAL_SLACK:
                kind["right"] += 1
            elif read is None or not certain.get(p["id"], True):
                kind["excused"] += 1
            else:
                kind["mismatches"].append(
                    f"{entry.kind} on {entry.target} ({p['when']}): probe {p['seq']} ended on "
                    f"{p['node']}, the row still shows probe {read[1]} "
                    f"{read[0] - p['end_t']:.1f} s later")
    return out
