"""Which faults the chaos harness injects, and when: the kinds and the seeded schedule.

The kinds of issue 14 (``bench/chaos/faults.py`` carries them out) and those of issue 30:

    clock_back           a worker stopped, its ``office_worker.flush_seq`` pushed 10 minutes
                         ahead (a restart under a clock 10 minutes behind), started again; probes
                         sent to it must reach the table (``bench/chaos/identity.py``)
    twin_node            a second worker with the same node name (``-n``) and queues for 10-30 s,
                         then stopped; a twin refused loudly at start is fine; probes must land
    pool_kill_after_end  SIGKILL of a pool process 0.1-0.5 s after a run's end is recorded: that
                         end must reach the table (``bench/chaos/kills.py``)
    main_kill_after_end  SIGKILL of a worker's main process within 1.5 s after an end: only the
                         ends of the last ``--lost-window`` seconds may be lost
    table_lock           ``LOCK TABLE ... IN ACCESS EXCLUSIVE MODE`` for 20-75 s, each office
                         table in turn: liveness must follow status writes (``locks.py``)
    long_outage          the database stopped, or frozen (the proxy hangs), past
                         ``office_offline_after`` while the workers live: no false offline post
                         (``bench/chaos/notify.py``)
    flapping_agent       an agent whose runs fail back to back, a few succeeding, each state
                         shorter than serve's look interval: every transition posted, no false
                         recovery
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

__all__ = ["KINDS", "OLD_KINDS", "NEW_KINDS", "DB_KINDS", "Planned", "Injected", "plan",
           "parse_kinds", "TABLES"]

OLD_KINDS = ("pg_restart", "pg_terminate", "db_hang", "db_read_only", "trigger_refuse",
             "pool_kill", "worker_kill", "warm_restart", "main_pause", "error_restart",
             "broker_restart")
NEW_KINDS = ("clock_back", "twin_node", "pool_kill_after_end", "main_kill_after_end",
             "table_lock", "long_outage", "flapping_agent")
KINDS = OLD_KINDS + NEW_KINDS
# writes may fail or wait during these (the oracle's ``written_by``)
DB_KINDS = ("pg_restart", "pg_terminate", "db_hang", "db_read_only", "table_lock", "long_outage")
DURATIONS = {"db_hang": (2.0, 6.0), "db_read_only": (2.0, 6.0), "trigger_refuse": (3.0, 8.0),
             "pg_restart": (0.0, 3.0),  # pg_restart: seconds down between stop and start
             "table_lock": (20.0, 75.0), "twin_node": (10.0, 30.0),
             "flapping_agent": (20.0, 40.0)}
WEIGHTS = {"table_lock": 0.3, "long_outage": 0.3, "twin_node": 0.5, "clock_back": 0.5,
           "flapping_agent": 0.5}  # of the extra faults drawn at random (the long ones rarer)
LONG = {"table_lock": 10.0, "twin_node": 20.0, "flapping_agent": 0.0, "long_outage": 0.0,
        "clock_back": 20.0}  # kinds that hold a resource long: seconds on top of duration
CLOSING = ("db_hang", "db_read_only", "pg_restart")  # one of them ends the phase: the last
# runs end while the database cannot be written, and must be in the table once it can
MEAN_GAP = 6.0  # seconds between two faults on average, past the first one of each kind
# table_lock's targets, in turn (celery_office/db/tables.py; read there by ``locks.tables``)
TABLES = ("office_agent_status", "office_worker", "office_agent_run", "office_agent_outcome",
          "office_agent_day", "office_agent_alert", "office_agent_start", "office_agent_notice")


@dataclass(frozen=True)
class Planned:
    at: float  # seconds after the chaos phase begins
    kind: str
    duration: float = 0.0  # for the kinds that last (hang, read-only, trigger, lock, twin...)
    target: str | None = None  # a worker's short name; table_lock: a table; long_outage: how
    pause: float = 0.0  # worker_kill: seconds dead; main_pause: seconds stopped; kills: delay


@dataclass
class Injected:
    kind: str
    begin: float  # wall clock, as the task records use
    end: float | None = None
    target: str | None = None
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)


def parse_kinds(text: str | None) -> tuple[str, ...]:
    """``--kinds``: a comma-separated list (``new`` and ``old`` name the two groups); all when
    empty. An unknown name is an error naming the known ones."""
    if not text:
        return KINDS
    chosen: list[str] = []
    for name in (n.strip() for n in text.split(",")):
        group = {"new": NEW_KINDS, "old": OLD_KINDS, "all": KINDS}.get(name)
        if group is None and name not in KINDS:
            raise ValueError(f"--kinds: unknown kind {name!r}; known: {', '.join(KINDS)} "
                             "(or old, new, all)")
        chosen += [k for k in (group or (name,)) if k not in chosen]
    return tuple(chosen)


def plan(rng: random.Random, length: float, workers: dict[str, str], *,
         offline_after: float = 10.0, kinds: tuple[str, ...] = KINDS,
         tables: tuple[str, ...] = TABLES) -> list[Planned]:
    """A seeded schedule of ``length`` seconds: every kind of ``kinds`` once, in a shuffled
    order spread over the phase, then more at random (about one every ``MEAN_GAP`` seconds),
    and, when a closing kind is among them, a database fault that lasts until a second after
    the load stops.

    ``workers`` maps short names to pools (``prefork`` or ``solo``); ``offline_after`` is the
    workers' setting, which a main process's pause and a long outage outlast by 2 to 10 s."""
    prefork = sorted(n for n, p in workers.items() if p == "prefork")
    solo = next((n for n, p in sorted(workers.items()) if p == "solo"), prefork[0])
    names = sorted(workers)
    # (the draws of issue 14's kinds come in the same order as before: ``--kinds old`` with a
    # seed replays the schedules of earlier results)
    turn = iter(range(rng.randrange(len(tables)) if "table_lock" in kinds else 0, 10**6))

    def one(at: float, kind: str) -> Planned:
        lo, hi = DURATIONS.get(kind, (0.0, 0.0))
        duration = round(rng.uniform(lo, hi), 2) if hi else 0.0
        target = None
        pause = 0.0
        if kind in ("pool_kill", "main_pause", "pool_kill_after_end", "flapping_agent"):
            target = rng.choice(prefork)
        elif kind == "error_restart":
            target = solo
        elif kind in ("worker_kill", "warm_restart", "clock_back", "twin_node",
                      "main_kill_after_end"):
            target = rng.choice(names)
        elif kind == "table_lock":
            target = tables[next(turn) % len(tables)]
        elif kind == "long_outage":
            target = rng.choice(("stop", "freeze"))
            duration = round(offline_after + rng.uniform(3.0, 10.0), 2)
        if kind == "worker_kill":
            pause = round(rng.uniform(0.5, 3.0), 2)
        elif kind == "main_pause":
            pause = round(offline_after + rng.uniform(2.0, 6.0), 2)
        elif kind == "pool_kill_after_end":
            pause = round(rng.uniform(0.1, 0.5), 2)
        elif kind == "main_kill_after_end":  # half of them soon after the end, where it hurts
            pause = round(rng.uniform(0.05, 0.5) if rng.random() < 0.5 else
                          rng.uniform(0.5, 1.5), 2)
        return Planned(round(at, 2), kind, duration, target, pause)

    shuffled = list(kinds)
    rng.shuffle(shuffled)
    usable = max(length - 8.0, 1.0)  # the last faults end before the phase does
    slot = usable / len(shuffled)
    schedule = [one(i * slot + rng.uniform(0.1, 0.8) * slot, kind)
                for i, kind in enumerate(shuffled)]
    extra = int(max(0.0, usable - len(shuffled) * MEAN_GAP) / MEAN_GAP)
    weights = [WEIGHTS.get(k, 1.0) for k in kinds]

    def draw() -> str:
        return rng.choice(kinds) if set(weights) == {1.0} else rng.choices(kinds, weights)[0]

    busy: dict[str, float] = {}  # the long kinds' planned seconds: at most half the phase each
    for _ in range(extra):
        more = one(rng.uniform(0.0, usable), draw())
        if more.kind in LONG:
            busy[more.kind] = busy.get(more.kind, 0.0) + more.duration + LONG[more.kind]
            if busy[more.kind] > usable / 2:
                continue
        schedule.append(more)
    closing_kinds = [k for k in CLOSING if k in kinds]
    if closing_kinds:
        closing_for = round(rng.uniform(3.0, 6.0), 2)
        schedule.append(Planned(round(length + 1.0 - closing_for, 2), rng.choice(closing_kinds),
                                closing_for))
    return sorted(schedule, key=lambda p: p.at)

