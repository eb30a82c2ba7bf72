"""The chaos harness's verdict: the rows against the oracle, and the run's figures.

Checks, each failing the run (exit code 1) when broken:

- **rows**: every agent's row as the oracle expects (status, task text, metrics;
  ``last_activity`` recent for agents a live worker serves), read with plain SQL;
- **tasks**: no task failed other than as designed (worker logs: only ``ChaosError`` and the
  ``WorkerLostError`` of a killed pool process);
- **task time**: the time from the first ``task_prerun`` receiver to the last
  ``task_postrun`` one, less the task's own body, under faults against the same load before
  them (p99 within ``SLOWER_P99`` of the baseline's, none over ``SLOWEST``);
- **log lines**: celery-office's lines during the faults at most ``LINES_PER_FAULT`` per fault
  injected and started minute of it (plus a few per worker start), never one per task;
- **memory**: no worker's main process grew by more than ``RSS_GROWTH`` over the run.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from typing import Any

__all__ = ["read_rows", "compare", "task_times", "tally", "log_report", "memory", "SLOWER_P99",
           "SLOWEST", "LINES_PER_FAULT", "RSS_GROWTH", "watch_late", "oracle_tail"]

SLOWER_P99 = 0.05  # seconds of handler time a task may lose at p99 under faults (VM noise)
SLOWEST = 1.0  # no task's handlers may take this long (a connect timeout would be 2 s)
LINES_PER_FAULT = 6  # warning + recovery per worker and fault, with room
LINES_PER_START = 4  # registered, reported, offline...
RSS_GROWTH = 64 * 2**20
LATE_WINDOW = 30.0  # seconds the rows are watched after a mismatch: late, or stuck


def read_rows(servers: Any, database: str) -> dict[str, dict[str, Any]]:
    rows = servers.sql(
        "select agent_id, status::text, task, metrics, "
        "extract(epoch from (now() - last_activity))::float8 from office_agent_status",
        database=database,
    )
    return {r[0]: {"status": r[1], "task": r[2], "metrics": r[3] or {}, "silent": r[4]}
            for r in rows}


def compare(expected: dict[str, Any], rows: dict[str, dict[str, Any]], *, recent: float
            ) -> list[dict[str, Any]]:
    """The agents whose row the oracle does not accept, with what it expected."""
    mismatches = []
    for agent, exp in sorted(expected.items()):
        row = rows.get(agent)
        problems = []
        if row is None:
            problems.append("no row")
        else:
            if not exp.accepts(row["status"], row["task"]):
                problems.append("status/task")
            if row["metrics"] not in exp.metrics:
                problems.append("metrics")
            if exp.live and (row["silent"] is None or row["silent"] > recent):
                problems.append(f"last_activity {row['silent']:.1f} s old (limit {recent:.1f} s)")
        if problems:
            mismatches.append({"agent": agent, "problems": problems, "row": row,
                               "expected": [s.label() for s in exp.states],
                               "metrics": exp.metrics})
    return mismatches


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def task_times(records: list[dict[str, Any]], phases: dict[str, tuple[float, float]]
               ) -> dict[str, dict[str, float]]:
    """Per phase: p50, p99 and max of the handlers' time around each task's body (a timing
    record is matched with the end its process wrote just before it)."""
    by_phase: dict[str, list[float]] = {name: [] for name in phases}
    last_end: dict[tuple[int, str], dict[str, Any]] = {}
    for record in records:
        key = (record["pid"], record.get("id"))
        if record["ev"] == "end":
            last_end[key] = record
            continue
        if record["ev"] != "timed":
            continue
        end = last_end.pop(key, None)
        if end is None or end["outcome"] == "interrupted":
            continue
        handlers = max(0.0, record["wall"] - end.get("body", end.get("duration", 0.0)))
        for name, (begin, finish) in phases.items():
            if begin <= record["t"] < finish:
                by_phase[name].append(handlers)
    return {name: {"tasks": len(v), "p50": _pct(v, 0.5), "p99": _pct(v, 0.99),
                   "max": max(v) if v else float("nan")} for name, v in by_phase.items()}


def tally(records: list[dict[str, Any]], load: Any, injected: list[Any]) -> dict[str, Any]:
    starts = [r for r in records if r["ev"] == "start"]
    ends = Counter(r["outcome"] for r in records if r["ev"] == "end")
    started_ids = {r["id"] for r in starts}
    designed = {s.task_id: s.fail for s in load.sent}
    wrong = [r for r in records if r["ev"] == "end" and r["outcome"] in ("ok", "error")
             and r["id"] in designed and (r["outcome"] == "error") != designed[r["id"]]]
    return {
        "sent": len(load.sent), "send_failed": load.send_failed,
        "runs_started": len(starts), "ok": ends["ok"], "failed": ends["error"],
        "retried": ends["retry"], "interrupted": ends["interrupted"],
        "never_started": sum(1 for s in load.sent if s.task_id not in started_ids),
        "revokes": len(load.revoked), "not_as_designed": len(wrong),
        "faults": Counter(f.kind for f in injected if f.kind != "exited_on_its_own"
                          and not f.note.startswith(("skipped", "failed"))),
        "exited": sum(1 for f in injected if f.kind == "exited_on_its_own"),
        # a fault's share of log lines: one per started minute (lines repeat once a minute)
        "fault_minutes": sum(1 + int(((f.end or f.begin) - f.begin) // 60) for f in injected
                             if f.kind != "exited_on_its_own"
                             and not f.note.startswith(("skipped", "failed"))),
        "faults_skipped": [f"{f.kind}: {f.note}" for f in injected
                           if f.note.startswith(("skipped", "failed"))],
        "pool_pids": len({r["pid"] for r in starts}),
    }


_STAMP = re.compile(r"^\[[^\]]*\]\s*")
_NUMBER = re.compile(r"\d+(\.\d+)?")


def log_report(texts: dict[str, str], snapshots: dict[str, dict[str, int]]) -> dict[str, Any]:
    """celery-office's lines per worker between snapshots, and the most frequent kinds."""
    from .workers import office_lines

    lines = {name: office_lines(text) for name, text in texts.items()}
    kinds: Counter[str] = Counter()
    for name, own in lines.items():
        start = snapshots.get("chaos", {}).get(name, 0)
        for line in own[start:]:
            kinds[_NUMBER.sub("N", _STAMP.sub("", line))[:140]] += 1
    per_phase = {
        phase: {name: snapshots.get(following, {}).get(name, len(lines[name])) - count
                for name, count in counts.items()}
        for phase, following, counts in (
            ("baseline", "chaos", snapshots.get("baseline", {})),
            ("chaos", "after", snapshots.get("chaos", {})),
        )
    }
    unexpected = Counter()
    for text in texts.values():
        for match in re.finditer(r"raised unexpected: (\w+)", text):
            if match.group(1) not in ("ChaosError", "WorkerLostError"):
                unexpected[match.group(1)] += 1
    return {"per_phase": per_phase, "top": kinds.most_common(6), "unexpected": unexpected}


def memory(workers: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per worker: the main process's RSS at its first start and at the end, and its pool's."""
    out = {}
    for name, worker in workers.items():
        first, last = worker.incarnations[0], worker.incarnations[-1]
        main_start = first.rss_start.get(first.pid)
        main_end = (last.rss_end or worker.rss()).get(last.pid)
        pool_start = sum(v for k, v in first.rss_start.items() if k != first.pid)
        pool_end = sum(v for k, v in (last.rss_end or worker.rss()).items() if k != last.pid)
        out[name] = {"main_start": main_start, "main_end": main_end, "pool_start": pool_start,
                     "pool_end": pool_end, "incarnations": len(worker.incarnations),
                     "same_process": first is last}
    return out




def watch_late(servers: Any, database: str, expected: dict[str, Any],
               mismatches: list[dict[str, Any]], *, recent: float) -> dict[str, float | None]:
    """After a mismatch: does the row become right later (late, in seconds) or never?"""
    began = time.monotonic()
    pending = {m["agent"] for m in mismatches}
    late: dict[str, float | None] = {a: None for a in pending}
    while pending and time.monotonic() - began < LATE_WINDOW:
        time.sleep(0.5)
        rows = read_rows(servers, database)
        now_wrong = {m["agent"] for m in compare(
            {a: expected[a] for a in pending}, rows, recent=recent)}
        for agent in pending - now_wrong:
            late[agent] = round(time.monotonic() - began, 1)
        pending = now_wrong
    return late


def oracle_tail(oracle: Any, agent: str, alive: set[int]) -> list[str]:
    """The agent's last verdicts as the oracle saw them, for a mismatch's report."""
    verdicts, working = oracle.verdicts(time.time(), alive)
    tail = sorted(verdicts[agent] + working[agent], key=lambda v: v.lo)[-6:]
    return [f"{time.strftime('%H:%M:%S', time.localtime(v.lo))}.{int(v.lo % 1 * 1000):03d} "
            f"{v.label()}" for v in tail]


