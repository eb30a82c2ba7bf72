"""The oracle of the agents' day numbers (``office_agent_day``), from the tasks' own records.

Each run is counted once, by the process that saw it: its start when it began, its end as it
ended (success, failure, retry), a pool process SIGKILLed as a failure by the main process.
Flushes land exactly once, whatever the database does, so the only counts that may be missing
are those a process took with it when it died before handing them on or writing them: a pool
process SIGKILLed just after a run's start, a worker SIGKILLed (or exiting on its own) before
its main process wrote what it held, a warm stop whose last write met a database fault. So
every agent's sum over the days of ``runs``, ``succeeded``, ``failed`` and ``retried`` must lie
between what was certainly counted and everything that happened; nothing may be counted twice.
(``revoked`` is left out: a task revoked before it started leaves no record.)
"""

from __future__ import annotations

from typing import Any

from .oracle import (
    HANDOVER_SLACK,
    LOST_SLACK,
    RETRY_MAX,
    SIGNAL_SLACK,
    WRITE_SLACK,
    Oracle,
)

__all__ = ["FIELDS", "count_bounds", "compare_counts", "read_counts"]

FIELDS = ("runs", "succeeded", "failed", "retried")
ENDS = {"ok": "succeeded", "error": "failed", "retry": "retried"}


def _lost(oracle: Oracle, node: str | None, pid: int, at: float, *, slack: float = 0.0,
          ended: bool = False) -> bool:
    """May a count made at ``at`` (``slack`` later at most) by process ``pid`` of worker
    ``node`` have died with it? ``ended``: the count is of a run that ended in that process
    (start or end), which a kill right after the end (issue 30) must not lose."""
    killed = oracle.pool_kills.get(pid)
    after_end = ended and pid in oracle.after_end
    if (killed is not None and not after_end
            and at <= killed <= at + slack + HANDOVER_SLACK + WRITE_SLACK):
        return True  # not handed over to the main process yet
    short, incarnation = oracle._incarnation(node, at)
    if incarnation is None:
        return True
    if incarnation.pid in oracle.main_kills:  # the bounded loss promised (issue 30)
        return at > oracle.main_kills[incarnation.pid] - oracle.lost_window
    at += slack
    if incarnation.how in ("killed", "exited"):
        died = incarnation.stop_began or incarnation.ended
        return oracle.written_by(at + HANDOVER_SLACK) > died
    if incarnation.how == "warm":
        stop = incarnation.stop_began or incarnation.ended
        return oracle._db_fault_during(stop - RETRY_MAX - WRITE_SLACK, incarnation.ended + 1.0)
    return False


def count_bounds(oracle: Oracle) -> dict[str, dict[str, tuple[int, int]]]:
    """Agent -> field -> (certainly counted, counted at most)."""
    bounds = {a: {f: [0, 0] for f in FIELDS} for a in oracle.agents}

    def add(agent: str, field: str, lost: bool) -> None:
        bounds[agent][field][1] += 1
        if not lost:
            bounds[agent][field][0] += 1

    for _, run in oracle.runs().items():
        start = run.get("start")
        if start is None:
            continue
        agent = oracle.route[start["name"]][0]
        end = run.get("end")
        add(agent, "runs", _lost(oracle, start.get("node"), start["pid"], start["t"],
                                 ended=end is not None))
        if end is not None and end.get("outcome") in ENDS:
            add(agent, ENDS[end["outcome"]],
                _lost(oracle, end.get("node"), end["pid"], end["t"], slack=SIGNAL_SLACK,
                      ended=True))
        elif end is None and start["pid"] in oracle.pool_kills:
            killed = oracle.pool_kills[start["pid"]]
            if killed >= start["t"]:  # the main process counts the WorkerLostError
                _, incarnation = oracle._incarnation(start.get("node"), killed)
                main_pid = getattr(incarnation, "pid", -1)
                add(agent, "failed", _lost(oracle, start.get("node"), main_pid,
                                           killed + LOST_SLACK))
    return {a: {f: (lo, hi) for f, (lo, hi) in fields.items()} for a, fields in bounds.items()}


def read_counts(servers: Any, database: str) -> dict[str, dict[str, int]]:
    rows = servers.sql(
        "select agent_id, " + ", ".join(f"sum({f})::bigint" for f in FIELDS)
        + " from office_agent_day group by agent_id", database=database,
    )
    return {r[0]: dict(zip(FIELDS, (int(v) for v in r[1:]), strict=True)) for r in rows}


def compare_counts(bounds: dict[str, dict[str, tuple[int, int]]],
                   counts: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """The agents whose day numbers lie outside what the records allow."""
    mismatches = []
    for agent, fields in sorted(bounds.items()):
        got = counts.get(agent, {f: 0 for f in FIELDS})
        wrong = {f: (got.get(f, 0), lo, hi) for f, (lo, hi) in fields.items()
                 if not lo <= got.get(f, 0) <= hi}
        if wrong:
            mismatches.append({
                "agent": agent,
                "problems": [f"{f} {n} not within [{lo}, {hi}]"
                             for f, (n, lo, hi) in wrong.items()],
                "row": got, "expected": {f: list(b) for f, b in fields.items()},
            })
    return mismatches
