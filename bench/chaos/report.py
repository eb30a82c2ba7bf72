"""Printing the chaos run's verdict, and deciding it (see ``verdict`` for the checks)."""

from __future__ import annotations

from typing import Any

from .faults import KINDS
from .verdict import LINES_PER_FAULT, LINES_PER_START, RSS_GROWTH, SLOWER_P99, SLOWEST

__all__ = ["print_verdict"]

MiB = 2**20


def _check(failures: list[str], ok: bool, what: str) -> str:
    if not ok:
        failures.append(what)
    return "ok" if ok else "FAILED"


def print_verdict(f: dict[str, Any], workers: dict[str, Any]) -> bool:
    """Print the verdict of run ``f`` (the figures ``chaos.Run.execute`` gathered); True when
    every check holds."""
    failures: list[str] = []
    seed, tally, times, logs = f["seed"], f["tally"], f["times"], f["logs"]
    chaos_minutes = max(f["chaos_s"] / 60.0, 1e-9)
    print(f"\n=== chaos verdict, seed {seed} ===")
    print(f"phases: baseline {f['baseline_s']:.0f} s, faults {f['chaos_s']:.0f} s, tasks in flight "
          f"ended {f['quiet_after_s']:.0f} s later; solo worker stopped for good at the end: "
          f"{f['solo_stopped_at_end']}")

    faults = tally["faults"]
    missing = [k for k in KINDS if not faults.get(k)]
    print("faults injected: " + ", ".join(f"{k} {faults.get(k, 0)}" for k in KINDS)
          + f" (total {sum(faults.values())})")
    if tally["exited"]:
        print(f"  workers that exited on their own and were started again (Celery's "
              f"'Unrecoverable error', e.g. on a broker restart): {tally['exited']}")
    for skipped in tally["faults_skipped"]:
        print(f"  not injected: {skipped}")
    every = _check(failures, not missing, f"kinds never injected: {missing}")
    print(f"  every kind at least once: {every}"
          + (f" (missing: {', '.join(missing)})" if missing else ""))
    print(f"  plus --max-tasks-per-child recycling throughout: {tally['pool_pids']} processes "
          "ran tasks")

    unexpected = dict(logs["unexpected"])
    print(f"tasks: sent {tally['sent']} (sends refused by a restarting broker: "
          f"{tally['send_failed']}), "
          f"runs started {tally['runs_started']}: succeeded {tally['ok']}, failed as designed "
          f"{tally['failed']}, retried {tally['retried']}, interrupted {tally['interrupted']}; "
          f"never started {tally['never_started']} (revoked, or lost with a broker restart or a "
          f"killed worker's prefetch); revokes {tally['revokes']}")
    designed = tally["not_as_designed"] == 0 and not unexpected
    print(f"  failed only as designed: {_check(failures, designed, 'tasks failed not as designed')}"
          + (f" (unexpected: {unexpected})" if unexpected else ""))

    base, chaos = times.get("baseline", {}), times.get("chaos", {})
    print("task time (handlers around the body, first prerun to last postrun receiver):")
    for name, t in (("baseline", base), ("faults", chaos)):
        print(f"  {name:8} {t.get('tasks', 0):6} tasks: p50 {t.get('p50', 0) * 1000:6.2f} ms, "
              f"p99 {t.get('p99', 0) * 1000:6.2f} ms, max {t.get('max', 0) * 1000:7.1f} ms")
    slowed = (chaos.get("p99", 0) <= base.get("p99", 0) + SLOWER_P99
              and chaos.get("max", 0) <= SLOWEST)
    print(f"  no task slowed beyond the noise (p99 within {SLOWER_P99 * 1000:.0f} ms of the "
          f"baseline, none over {SLOWEST:.1f} s): {_check(failures, slowed, 'tasks slowed')}")

    during = logs["per_phase"]["chaos"]
    starts = sum(len(w.incarnations) for w in workers.values())
    bound = LINES_PER_FAULT * sum(faults.values()) + LINES_PER_START * starts
    total = sum(during.values())
    print(f"celery-office log lines during the faults: {total} "
          f"({total / chaos_minutes:.1f} a minute; "
          f"baseline: {sum(logs['per_phase']['baseline'].values())}); per worker {during}")
    print(f"  bounded by the faults, not the tasks (at most {bound}): "
          f"{_check(failures, total <= bound, 'too many log lines')}")
    for line, count in logs["top"]:
        print(f"    {count:4} x {line}")

    print("memory (RSS):")
    grew = False
    for name, m in f["memory"].items():
        main_start, main_end = m["main_start"] or 0, m["main_end"] or 0
        same = m["same_process"]
        grew |= same and main_end - main_start > RSS_GROWTH
        print(f"  {name}: main {main_start / MiB:.0f} -> {main_end / MiB:.0f} MiB"
              f"{'' if same else ' (a later incarnation)'}, pool {m['pool_start'] / MiB:.0f} -> "
              f"{m['pool_end'] / MiB:.0f} MiB, {m['incarnations']} starts")
    print(f"  no main process grew by {RSS_GROWTH // MiB} MiB: "
          f"{_check(failures, not grew, 'memory grew')}")

    if f["fault_errors"]:
        _check(failures, False, "faults failed to inject")
        for error in f["fault_errors"]:
            print(f"  fault error: {error}")

    mismatches = f["mismatches"]
    print("rows (and how many states the oracle accepts):")
    for agent, (status, task, accepted) in f["rows"].items():
        print(f"  {agent:14} {status!s:8} {str(task)[:60]!r:64} {len(accepted)} accepted")
    print(f"rows against the oracle: {len(mismatches)} mismatches: "
          f"{_check(failures, not mismatches, 'rows differ from the oracle')}")
    for m in mismatches:
        row = m["row"]
        late = f["late"].get(m["agent"])
        when = f"right {late} s later" if late is not None else "still wrong 30 s later"
        print(f"  MISMATCH agent {m['agent']} (seed {seed}; {', '.join(m['problems'])}; {when})")
        print(f"    expected one of: {m['expected']}; metrics one of {m['metrics']}")
        if row is not None:
            print(f"    row says: status {row['status']!r}, task {row['task']!r}, metrics "
                  f"{row['metrics']}, last_activity {row['silent']:.1f} s ago")
        for line in f["expected_tail"].get(m["agent"], []):
            print(f"    oracle saw: {line}")
    counted = f.get("count_mismatches", [])
    print(f"day numbers against the records: {len(counted)} mismatches: "
          f"{_check(failures, not counted, 'day numbers differ from the records')}")
    for m in counted:
        print(f"  MISMATCH agent {m['agent']} (seed {seed}; {', '.join(m['problems'])})")
    if mismatches or counted:
        print(f"  replay: python -m bench.chaos --seed {seed} --minutes {f['chaos_s'] / 60:.1f}")
    print("VERDICT: " + ("PASS" if not failures else "FAIL: " + "; ".join(failures)), flush=True)
    return not failures
