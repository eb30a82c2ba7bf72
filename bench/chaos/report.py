"""Printing the chaos run's verdict, and deciding it (see ``verdict`` for the checks)."""

from __future__ import annotations

from typing import Any

from .checks import mismatch_count
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
    kinds = f["kinds"]
    missing = [k for k in kinds if not faults.get(k)]
    print("faults injected: " + ", ".join(f"{k} {faults.get(k, 0)}" for k in kinds)
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
    bound = (LINES_PER_FAULT * tally.get("fault_minutes", sum(faults.values()))
             + LINES_PER_START * starts)
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
    issue30 = _print_issue30(f["issue30"], failures)
    if mismatches or counted or issue30:
        print(f"  replay: python -m bench.chaos --seed {seed} --minutes {f['minutes']:g} "
              f"--kinds {','.join(kinds)}")
    print("VERDICT: " + ("PASS" if not failures else "FAIL: " + "; ".join(failures)), flush=True)
    return not failures


def _print_issue30(i: dict[str, Any], failures: list[str]) -> int:
    """Issue 30's checks (``checks.py``); returns how many mismatches they found."""
    print("issue 30's checks:")
    for kind, p in sorted(i["probes"].items()):
        print(f"  probes after {kind}: {p['probes']} sent, {p['ran']} ran, {p['right']} in the "
              f"row in time, {p['excused']} excused, {len(p['mismatches'])} mismatches")
        for line in p["mismatches"][:5]:
            print(f"    MISMATCH {line}")
    if i["twins_refused"]:
        print(f"  twins refused at start: {i['twins_refused']}")
    k = i["kills"]
    for kind in ("pool_kill_after_end", "main_kill_after_end"):
        print(f"  {kind}: {k[kind]['kills']} kills, {k[kind]['delay_min']}-{k[kind]['delay_max']} "
              "s after the end")
    print(f"    ends within the lost window ({k['lost_window']} s) before a main kill, or after "
          f"it: {k['main_kill_after_end']['ends_may_be_lost']} (may be lost; every other end "
          "is in the rows and day numbers above)")
    locks = i["locks"]
    print(f"  table locks: {locks['locks']}, {locks['samples']} samples read during them, "
          f"{locks['stale_rows']} rows behind; liveness mismatches {len(locks['liveness'])}, "
          f"rows wrong after the lock {len(locks['after'])}, excused {locks['excused']}; "
          f"liveness excused {locks.get('liveness_excused', 0)} (a database fault or a paused "
          "main process overlapped: no tell gets through)")
    for table, t in sorted(locks["by_table"].items()):
        print(f"    {table}: {t['locks']} locks, {t['samples']} samples, liveness "
              f"{t['liveness']}, after {t['after']}")
    for line in (locks["liveness"] + locks["after"])[:6]:
        print(f"    MISMATCH {line}")
    posts = i.get("posts")
    if posts is not None:
        c = posts["counts"]
        print(f"  posts ({i['serves']} serve replicas, exited: {i['serves_exited'] or 'none'}): "
              f"{c.get('posts', 0)} received, {posts['ids']} with an event_id, "
              f"{c.get('duplicates_same_id', 0)} duplicates of one event_id, "
              f"{c.get('excused', 0)} excused; by state: "
              + ", ".join(f"{k[7:]} {n}" for k, n in sorted(c.items()) if k.startswith("posted_")))
        print(f"    required: {posts['required']}; mismatches: {posts['mismatches'] or 'none'}")
        for line in posts["examples"][:8]:
            print(f"    MISMATCH {line}")
    found = mismatch_count(i)
    total = sum(found.values())
    print(f"  issue 30's mismatches: {total} {dict(found) if found else ''}: "
          f"{_check(failures, not total, 'issue 30 checks found mismatches')}")
    return total
