"""Issue 30's checks at the end of a run: probes, table locks, kills after an end, and posts.

Each is judged from what the harness wrote down during the run (the faults' details, the
receiver's posts) against the oracle, which knows every fault by then. The figures go into the
verdict (``report.py``): counts by fault kind, and the mismatches, each a failure of the run.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

from .identity import judge_probes
from .locks import judge_locks
from .notify import TARGETS, Notifications
from .oracle import Oracle
from .posts import judge_posts
from .timeline import Timeline

__all__ = ["issue30", "mismatch_count"]


def _kills(injected: list[Any], oracle: Oracle) -> dict[str, Any]:
    """How the after-end kills went: how many, their delays, and the ends the window excused."""
    out: dict[str, Any] = {}
    for kind in ("pool_kill_after_end", "main_kill_after_end"):
        done = [f for f in injected if f.kind == kind and "delay" in f.details]
        delays = sorted(f.details["delay"] for f in done)
        out[kind] = {"kills": len(done),
                     "delay_min": delays[0] if delays else None,
                     "delay_max": delays[-1] if delays else None}
    window = oracle.lost_window
    excused = 0
    for record in oracle.records:
        if record["ev"] != "end":
            continue
        short, incarnation = oracle._incarnation(record.get("node"), record["t"])
        killed = oracle.main_kills.get(getattr(incarnation, "pid", -1))
        if killed is not None and killed - window < record["t"] <= killed + 1.0:
            excused += 1
    out["main_kill_after_end"]["ends_may_be_lost"] = excused
    out["lost_window"] = window
    return out


def issue30(oracle: Oracle, injected: list[Any], notifications: Notifications | None, *,
            offline_after: float, serving: dict[str, list[str]], posts_file: Path
            ) -> dict[str, Any]:
    """Every issue-30 check's figures; the posts (written to ``posts_file``) are read once
    serve had two looks more."""
    out: dict[str, Any] = {
        "probes": judge_probes(injected, oracle),
        "locks": judge_locks(injected, Timeline(oracle)),
        "kills": _kills(injected, oracle),
        "twins_refused": sum(1 for f in injected
                             if f.kind == "twin_node" and f.details.get("refused")),
        "serves": len(notifications.procs) if notifications else 0,
        "serves_exited": notifications.exited() if notifications else [],
    }
    if notifications is not None and notifications.started is not None:
        interval = notifications.interval
        time.sleep(2 * interval + 3.0)
        posts = notifications.snapshot()
        with open(posts_file, "w", encoding="utf-8") as file:
            file.writelines(json.dumps(p, ensure_ascii=False) + "\n" for p in posts)
        out["posts"] = judge_posts(posts, oracle, targets=TARGETS,
                                   begin=notifications.started, read=time.time(),
                                   interval=interval, offline_after=offline_after,
                                   serving=serving)
    return out


def mismatch_count(figures: dict[str, Any]) -> Counter[str]:
    """The issue-30 mismatches by check."""
    found: Counter[str] = Counter()
    for kind, probes in figures.get("probes", {}).items():
        found[f"probe after {kind}"] += len(probes["mismatches"])
    locks = figures.get("locks", {})
    found["table_lock liveness"] += len(locks.get("liveness", []))
    found["table_lock after"] += len(locks.get("after", []))
    for kind, n in figures.get("posts", {}).get("mismatches", {}).items():
        found[f"posts {kind}"] += n
    return +found
