"""Issue 30's table locks: liveness must follow status writes.

``table_lock`` takes ``LOCK TABLE <t> IN ACCESS EXCLUSIVE MODE`` in a transaction of the
harness's own and holds it ``duration`` seconds (20-75), one office table per fault, the tables
in turn (every table of ``celery_office/db/tables.py``: :func:`tables`). While it holds, the rows
of ``office_agent_status`` are sampled every ``SAMPLE_EVERY`` seconds (a read that the lock
blocks is skipped); ``AFTER`` seconds after it is released they are read once more.

Judged at the end of the run (:func:`judge_locks`), against :class:`timeline.Timeline`:

- **liveness**: a row that is behind (no moment of the last ``LAG`` seconds accepts it) since
  ``c``, where ``c`` is after the lock began, must not have had its ``last_activity`` refreshed
  later than ``c + LIVE_SLACK``: an agent whose status writes wait does not look alive, not
  even kept so by another worker that serves it too and has nothing of it waiting (rows
  reading ``offline`` are left out: a retired agent is nobody's liveness). The other workers
  learn what waits from the waiting worker's heartbeat, which comes once its flush gave up:
  hence the slack of a flush interval and a statement timeout. Excused when another database
  fault or a paused main process overlaps the time from when the row fell behind to its
  refresh: the waiting worker says what waits through the database, in its own turns, and a
  hung database or a stopped process says nothing (seed 20261205: a twin's registration
  refreshed an agent whose changes waited in a main process that had been paused, then
  backed off from a hung database);
- **after**: the row read ``AFTER`` seconds after the release is up to date (every agent but
  those reading ``offline``), unless another database fault ran in between (then excused).
"""

from __future__ import annotations

import time
from typing import Any

from .oracle import RETRY_MAX
from .schedule import DB_KINDS, TABLES, Injected, Planned
from .timeline import Timeline

__all__ = ["table_lock", "tables", "judge_locks", "SAMPLE_EVERY"]

SAMPLE_FIRST = 3.0  # seconds into the lock of the first sample
SAMPLE_EVERY = 4.0
AFTER = RETRY_MAX + 4.0  # a back-off, two heartbeats and a flush after the release
# a heartbeat (another worker's) may land this long after a change whose flush then waits: the
# flush starts within office_flush_interval (0.2 s, run.SETTINGS), gives up at
# office_statement_timeout (2 s), then its worker beats at once, saying what waits
LIVE_SLACK = 0.2 + 2.0 + 0.5
QUERY = ("select agent_id, status::text, task, "
         "extract(epoch from (now() - last_activity))::float8 from office_agent_status")


def tables() -> tuple[str, ...]:
    """The office's tables (a table a fix adds is locked too)."""
    try:
        from celery_office.db.tables import METADATA
    except ImportError:
        return TABLES
    return tuple(t.name for t in METADATA.sorted_tables) or TABLES


def _connect(servers: Any, database: str, **options: str) -> Any:
    import psycopg2

    opts = " ".join(f"-c {k}={v}" for k, v in options.items())
    return psycopg2.connect(host="127.0.0.1", port=servers.pg_port, user=servers.pg_user,
                            dbname=database, connect_timeout=5, application_name="chaos-lock",
                            options=opts)


def _sample(servers: Any, database: str) -> dict[str, Any] | None:
    """The status rows now, or None when the lock (or anything) blocks the read."""
    try:
        conn = _connect(servers, database, lock_timeout="500ms", statement_timeout="3000")
    except Exception:
        return None
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(QUERY)
            rows = cur.fetchall()
        read = time.time()
        return {"t": read, "rows": {r[0]: [r[1], r[2], r[3]] for r in rows}}
    except Exception:
        return None
    finally:
        conn.close()


def table_lock(faults: Any, planned: Planned, entry: Injected) -> None:
    table = planned.target
    conn = _connect(faults.servers, faults.database, lock_timeout="10s")
    samples: list[dict[str, Any]] = []
    entry.details = {"table": table, "samples": samples}
    try:
        with conn.cursor() as cur:  # psycopg2 opens a transaction: the lock is held until rollback
            cur.execute(f"lock table {table} in access exclusive mode")
        entry.begin = time.time()
        until = entry.begin + planned.duration
        due = entry.begin + SAMPLE_FIRST
        while due < until:
            time.sleep(max(0.0, due - time.time()))
            sample = _sample(faults.servers, faults.database)
            if sample is not None:
                samples.append(sample)
            due += SAMPLE_EVERY
        time.sleep(max(0.0, until - time.time()))
        conn.rollback()
        entry.end = time.time()
    finally:
        conn.close()
    entry.note = f"{table} {entry.end - entry.begin:.0f} s, {len(samples)} samples read"
    time.sleep(AFTER)
    entry.details["after"] = _sample(faults.servers, faults.database)


def _overlap(faults: list[Any], begin: float, end: float) -> bool:
    """Did any of ``faults`` (one still running counts until ``end``) touch [begin, end]?"""
    return any(f.begin <= end and (f.end or end) >= begin for f in faults)


def judge_locks(injected: list[Any], timeline: Timeline) -> dict[str, Any]:
    """Samples judged, and the mismatches (liveness, after), per the rules above."""
    out: dict[str, Any] = {"locks": 0, "samples": 0, "stale_rows": 0, "liveness": [],
                           "after": [], "excused": 0, "liveness_excused": 0, "by_table": {}}
    db_faults = [f for f in injected if f.kind in DB_KINDS and f.kind != "table_lock"]
    mute = db_faults + [f for f in injected if f.kind == "main_pause"]  # no tell gets through
    for entry in injected:
        if entry.kind != "table_lock" or entry.end is None or "samples" not in entry.details:
            continue
        out["locks"] += 1
        table = entry.details["table"]
        found = out["by_table"].setdefault(table, {"locks": 0, "samples": 0, "liveness": 0,
                                                   "after": 0})
        found["locks"] += 1
        for sample in entry.details["samples"]:
            out["samples"] += 1
            found["samples"] += 1
            for agent, (status, task, silent) in sample["rows"].items():
                if status == "offline" or agent not in timeline.runs or silent is None:
                    continue
                if timeline.up_to_date(agent, sample["t"], status, task):
                    continue
                out["stale_rows"] += 1
                since = timeline.behind_since(agent, sample["t"], status, task,
                                              since=entry.begin - 60.0)
                refreshed = sample["t"] - silent
                if since is not None and since >= entry.begin and refreshed > since + LIVE_SLACK:
                    if _overlap(mute, since, refreshed):
                        out["liveness_excused"] += 1
                        continue
                    found["liveness"] += 1
                    out["liveness"].append(
                        f"{table} locked: {agent} behind since {since - entry.begin:.1f} s into "
                        f"the lock, yet its last_activity refreshed {refreshed - since:.1f} s "
                        f"after that (row {status} {str(task)[:40]!r})")
        after = entry.details.get("after")
        if not after:
            continue
        if _overlap(db_faults, entry.begin, after["t"]):
            out["excused"] += 1
            continue
        for agent, (status, task, _) in after["rows"].items():
            if status == "offline" or agent not in timeline.runs:
                continue
            if not timeline.up_to_date(agent, after["t"], status, task):
                found["after"] += 1
                out["after"].append(f"{table} released: {agent} reads {status} "
                                    f"{str(task)[:40]!r} {after['t'] - entry.end:.1f} s later")
    return out
