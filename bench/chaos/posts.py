"""The oracle of notification posts: what ``celery office serve --notify`` had to post, and did.

The states an agent enters, as the oracle knows them from the tasks' records
(``oracle.Oracle.verdicts``): a failed end (``ChaosError``, a killed pool process's
``WorkerLostError``) puts it in ``error``; a successful end puts it back in ``ok``; a retry's
warning, and a run starting, change nothing (a run in progress after an error is not a
recovery). ``offline`` is entered when no worker that serves the agent runs.

Rules, per target (each ``--notify`` URL), per agent; posts ordered by their ``at``:

- **D (duplicates)**: posts with the same ``event_id`` are one event; the copies are counted
  (``duplicates_same_id``), never a mismatch. A post with no ``event_id`` is an event of its
  own.
- **M (must be posted)**: each *required* transition (ok -> error, error -> ok) is matched by a
  post of its state made at or after it (``MATCH_SLACK``); unmatched: ``missed_error`` /
  ``missed_recovered``. A post matches the newest unmatched transition of its state at or
  before the moment its ``since`` says the state began (or its ``at``, if earlier or absent;
  one up to ``MATCH_SLACK`` after it only if none is before), and none older than the one its
  agent's previous post matched (so a "recovered" posted because a failing run is in progress
  matches nothing: it is false), unless that previous post was a return from ``offline``
  (its state is whatever the table held when a worker came back; changes held up meanwhile
  land after it, in their own order); of transitions within ``SIGNAL_SLACK`` of that newest one,
  the earliest (flushes that began together record one ``since``: among close transitions
  the posts' order tells). Why the newest and not the earliest: the product posts what the
  table's timeline recorded, and a transition the table never showed (e.g. an error and a
  success of two processes both in flight while the database hung) is never posted; matching
  the earliest unmatched one pinned every later post on an older transition, and every later
  transition of the agent looked missed. A transition passed over stays unmatched (missed,
  if required).
  Required: both its verdict and the one that set the state before are certain and not within
  ``SIGNAL_SLACK`` of another verdict of the agent with another state (a retry's warning
  included if it ended within ``HIDES`` after: the row follows the newest end, and of two
  processes' ends that close the later may be written first, so the row never shows the
  other; a recovery hidden so also hides the next error; nor held by its worker's main
  process paused before it could write it, ``Oracle.held``: what a paused main process holds
  lands as one batch, one outcome per agent, so the row may never show it, nor the transition
  out of it); the state lasted at least
  ``MIN_STATE`` (shorter than serve's look interval is still required); it began after serve's
  first look (one look interval after serve was up) and ``SETTLE`` before the posts were read;
  no database fault or offline spell of the agent within a second before it or ``RETRY_MAX``
  + ``WRITE_SLACK`` after (a writer retries with back-off up to that long after a fault: the
  changes of that time land as one batch, or the older after the newer, and the row never
  shows the states between), nor such a fault around the state it leaves.
- **O (offline must be posted)**: an agent none of whose workers ran for the last ``2 x interval
  + 2`` s (a warm stop: the row says so at once, unless its last write met a database fault or a
  lock) or ``offline_after + 2 x interval + 2`` s (a kill: silence) before the posts were read,
  or during such a spell earlier, is matched by an ``offline`` post; unmatched:
  ``missed_offline``.
- **F (no false post)**: an ``offline`` post is false (``false_offline``) unless a moment of
  ``[at - offline_after - 2 x interval - 5 s, at]`` had none of the agent's workers running; a
  recovery (``ok``) is false (``false_recovered``) unless it matches an error -> ok transition
  of the oracle at or before it (any, certain or not), or follows a true ``offline`` post of the
  agent (back from offline); an ``error`` post is false (``false_error``) unless it matches an
  ok -> error transition or re-enters a last outcome of ``error`` after ``offline``; a post that
  only undoes the agent's previous, false, post is counted (``after_false``), not blamed twice;
  nor is one of a run's end within ``SIGNAL_SLACK`` of an end of the other state, after the
  previous post's transition (``reordered``: two processes' ends that close commit in either
  order, and the oracle sorts them by their records), nor one whose ``since`` falls in a
  database fault or ``RETRY_MAX`` after it (``excused``): the processes' backlogs land then
  in the order their retries happen to take, so a post late by the fault may stand for any of
  the transitions queued in it (those are not required either, rule M).
  A post repeating the state of the agent's previous post under another or no ``event_id`` is a
  ``duplicate``. An ``offline`` post within a table lock, or ``offline_after`` + 2 looks after
  it, and the return from it, are excused from F (``excused``): the workers' writes waited while
  serve could read, so silence is what the table said; the lock's own check is liveness
  (``locks.py``).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter
from datetime import datetime
from typing import Any

from .oracle import RETRY_MAX, SIGNAL_SLACK, WRITE_SLACK, Oracle
from .schedule import DB_KINDS

__all__ = ["judge_posts", "MIN_STATE", "SETTLE"]

MIN_STATE = 1.0  # seconds a state must last to be required
MATCH_SLACK = 0.5  # a post's ``at`` may precede the record of its transition by this
HIDES = 0.25  # a retry's warning this soon after an end may land first and hide it (flushes)
SETTLE = 5.0  # seconds before the posts are read after which a transition is not yet required
STATE = {"error": "error", "ok": "ok"}  # verdict status -> notified state (warning: none)


def _at(post: dict[str, Any]) -> float:
    try:
        return min(datetime.fromisoformat(post["body"]["at"]).timestamp(), post["received"])
    except (KeyError, TypeError, ValueError):
        return float(post["received"])


def _since(post: dict[str, Any]) -> float:
    """When the post says its state began (the period's start, the database's clock)."""
    try:
        return datetime.fromisoformat(post["body"]["since"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return float("inf")


def _close_call(verdicts: list[Any], state: str, floor: float, began: float) -> bool:
    """Did the agent end a run of ``state`` after ``floor`` and by ``began``, close to one of
    the other state (their windows, widened by ``SIGNAL_SLACK``, overlap, as for
    ``_transitions``' ambiguity)? Two processes' ends that close commit in either order, so a
    post of the one the oracle sorted first is no false post. A killed pool process's error
    has the window of its main process's noticing (``LOST_SLACK``): the oracle dates it by
    the kill, the table by when the main process saw it."""
    mine = [v for v in verdicts if STATE.get(v.status) == state
            and v.hi >= floor - SIGNAL_SLACK and v.lo <= began + MATCH_SLACK]
    return any(w.lo - SIGNAL_SLACK < v.hi and v.lo - SIGNAL_SLACK < w.hi
               for v in mine for w in verdicts if STATE.get(w.status, state) != state)


def _transitions(oracle: Oracle, agent: str, verdicts: list[Any], begin: float, read: float,
                 faults: list[tuple[float, float]], *, grace: float) -> list[dict[str, Any]]:
    """The agent's ok/error transitions from ``begin - grace`` on (serve's first look records
    the state it finds, unposted), each marked required or not (from ``begin + grace`` on)."""
    state, certain_before = "ok", True
    out: list[dict[str, Any]] = []
    every = sorted(verdicts, key=lambda v: v.lo)
    starts = [v.lo for v in every]
    moves = [v for v in every if v.status in STATE]
    for i, v in enumerate(moves):
        new = STATE[v.status]
        # a retry's warning counts too: whichever of two close ends lands last sets the row
        near = every[bisect_left(starts, v.lo - 2 * SIGNAL_SLACK - 1.0):
                     bisect_right(starts, v.hi + SIGNAL_SLACK)]
        ambiguous = any(w.lo - SIGNAL_SLACK < v.hi and v.lo - SIGNAL_SLACK < w.hi
                        and STATE.get(w.status, new) != new for w in near if w is not v)
        hidden = any(w.status not in STATE and v.lo - 0.05 <= w.lo <= v.lo + HIDES
                     for w in near) or oracle.held(v)
        # its write may wait on a fault and land with later ones, or after them (rejected)
        faulted = any(b - 1.0 <= v.hi and e + RETRY_MAX + WRITE_SLACK >= v.lo
                      for b, e in faults)
        shown = v.certain and not hidden and not ambiguous and not faulted
        if v.lo < begin - grace:
            state, certain_before = new, shown
            continue
        if new != state:
            following = next((w.lo for w in moves[i + 1:] if STATE[w.status] != new), read)
            near_fault = any(b - 1.0 <= following and e + RETRY_MAX + WRITE_SLACK >= v.lo
                             for b, e in faults)
            out.append({"state": new, "at": v.lo, "matched": False,
                        "required": (v.certain and certain_before and not ambiguous
                                     and not hidden
                                     and not near_fault and following - v.lo >= MIN_STATE
                                     and begin + grace <= v.lo <= read - SETTLE)})
        state, certain_before = new, shown
    return out


def _unserved(oracle: Oracle, agent: str,
              serving: dict[str, list[str]]) -> list[tuple[float, float, str]]:
    """Spells (begin, end, how) in which none of the agent's workers ran: a main process
    paused (SIGSTOP) runs nothing and writes nothing, as a stopped one."""
    spans = []
    for name in serving.get(agent, []):
        worker = oracle.workers[name]
        for inc in worker.incarnations:
            begin, end = inc.started, inc.stop_began or inc.ended or float("inf")
            for paused, resumed in sorted(oracle.pauses.get(name, ())):
                if begin < paused < end:
                    spans.append((begin, paused, "paused"))
                    begin = max(begin, resumed)
            if begin < end:
                spans.append((begin, end, inc.how))
    spans.sort()
    gaps, covered, how = [], float("-inf"), "running"
    for begin, end, ended_how in spans:
        if begin > covered and covered != float("-inf"):
            gaps.append((covered, begin, how))
        if end > covered:
            covered, how = end, ended_how
    if covered != float("inf"):
        gaps.append((covered, float("inf"), how))
    return gaps


def judge_posts(posts: list[dict[str, Any]], oracle: Oracle, *, targets: tuple[str, ...],
                begin: float, read: float, interval: float, offline_after: float,
                serving: dict[str, list[str]]) -> dict[str, Any]:
    """Counts and mismatches of the posts (the rules above)."""
    verdicts, _ = oracle.verdicts(read, set())
    faults = [(f.begin, (f.end or read)) for f in oracle.injected if f.kind in DB_KINDS]
    locks = [(f.begin, (f.end or read) + offline_after + 2 * interval)
             for f in oracle.injected if f.kind == "table_lock"]
    gaps = {a: _unserved(oracle, a, serving) for a in oracle.agents}
    mismatches: Counter[str] = Counter()
    examples: list[str] = []
    counts: Counter[str] = Counter()
    required: Counter[str] = Counter()
    for target in targets:
        mine = sorted((p for p in posts if p["target"] == target), key=_at)
        counts["posts"] += len(mine)
        seen_ids: set[str] = set()
        by_agent: dict[str, list[dict[str, Any]]] = {}
        for post in mine:
            if post["event_id"] is not None:
                if post["event_id"] in seen_ids:
                    counts["duplicates_same_id"] += 1
                    continue
                seen_ids.add(post["event_id"])
            by_agent.setdefault(post["body"].get("agent_id", "?"), []).append(post)
        for agent in oracle.agents:
            spells = gaps[agent]  # an offline spell excuses rule M, as a database fault does
            moves = _transitions(oracle, agent, verdicts.get(agent, []), begin, read,
                                 faults + [(b, min(e, read)) for b, e, _ in spells],
                                 grace=interval)
            last_state, offline_true, floor, after_false = None, False, float("-inf"), False
            for post in by_agent.get(agent, []):
                at, state = _at(post), post["body"].get("state")
                counts[f"posted_{state}"] += 1
                problem = None
                locked = any(b <= at <= e for b, e in locks)
                back = post["body"].get("previous") == "offline"
                if state == "offline":
                    window = at - offline_after - 2 * interval - 5.0
                    offline_true = locked or any(b <= at and e >= window for b, e, _ in spells)
                    problem = None if offline_true else "false_offline"
                    counts["excused"] += locked
                elif state in ("ok", "error"):
                    began = min(at, _since(post))
                    fits = [m for m in moves if not m["matched"] and m["state"] == state
                            and floor <= m["at"] <= began + MATCH_SLACK]
                    nearest = [m for m in fits if m["at"] <= began] or fits
                    move = next((m for m in nearest
                                 if m["at"] >= nearest[-1]["at"] - SIGNAL_SLACK), None)
                    if move is not None:
                        move["matched"] = True
                        if not back:  # a return from offline shows what the table then held,
                            floor = max(floor, move["at"])  # which says nothing of order
                    elif back and offline_true:
                        counts["excused"] += locked  # back from a real offline spell
                    elif state == last_state:
                        problem = "duplicate"
                    elif after_false:
                        counts["after_false"] += 1  # back to the truth after a false post
                    elif _close_call(verdicts.get(agent, []), state, floor, began):
                        counts["reordered"] += 1
                    elif any(b <= began <= e + RETRY_MAX for b, e in faults):
                        counts["excused"] += 1  # a backlog flushed after a database fault
                    else:
                        problem = f"false_{'recovered' if state == 'ok' else 'error'}"
                after_false = bool(problem)
                if problem:
                    mismatches[problem] += 1
                    if len(examples) < 12:
                        examples.append(f"{target} {agent}: {problem} ({state} at "
                                        f"{at - begin:.1f} s, since "
                                        f"{_since(post) - begin:.2f} s, previous "
                                        f"{post['body'].get('previous')}, event "
                                        f"{post['event_id']})")
                last_state = state
            for move in moves:
                if move["required"]:
                    required[move["state"]] += 1
                    if not move["matched"]:
                        kind = "missed_error" if move["state"] == "error" else "missed_recovered"
                        mismatches[kind] += 1
                        if len(examples) < 12:
                            examples.append(f"{target} {agent}: {kind} at "
                                            f"{move['at'] - begin:.1f} s")
            for b, e, how in spells:  # a warm stop that met a database fault wrote nothing
                written = how == "warm" and not any(fb <= b + 2.0 and fe >= b - RETRY_MAX
                                                    for fb, fe in faults + locks)
                need = 2 * interval + 2 + (0.0 if written else offline_after)
                if b < begin or min(e, read) - b < need:
                    continue
                required["offline"] += 1
                posted = any(p["body"].get("state") == "offline" and b <= _at(p) <= min(e, read)
                             for p in by_agent.get(agent, []))
                if not posted:
                    mismatches["missed_offline"] += 1
                    examples.append(f"{target} {agent}: missed_offline from {b - begin:.1f} s")
    return {"counts": dict(counts), "required": dict(required), "mismatches": dict(mismatches),
            "examples": examples, "ids": sum(1 for p in posts if p["event_id"] is not None)}
