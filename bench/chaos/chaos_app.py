"""The chaos harness's Celery app: plain tasks of five agents, each writing down what happens.

Every run appends what happened to it (start; then its end: success with its metrics, failure,
retry, or an interruption) to a file of its own process in ``CHAOS_RECORDS``, one JSON line,
fsynced before the task goes on. Those files are the oracle's only source of truth
(``bench/chaos/oracle.py``): they live on the harness's disk, which no fault touches, and they
are written by the task's code, never by celery-office.

Two more signal handlers time each run for the verdict: one connected before celery-office's
(the first ``task_prerun`` receiver) and one after (the last ``task_postrun`` receiver), so the
time between them is the task's body plus every handler, celery-office's included.

Environment: ``CELERY_BROKER_URL``, ``CHAOS_RECORDS`` (a directory), ``CHAOS_SOLO_TASKS=1`` in
the solo worker only (it alone serves the agent ``chaos_solo``), and celery-office's
``OFFICE_*`` settings.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from celery import Celery, signals

import celery_office
from celery_office import metrics

app = Celery("chaos_app")
app.conf.update(
    broker_url=os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0"),
    task_default_queue="chaos",
    task_ignore_result=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    broker_connection_max_retries=None,
    worker_hijack_root_logger=True,
)

RECORDS = Path(os.environ.get("CHAOS_RECORDS", "chaos-records"))
_files: dict[int, int] = {}  # pid -> file descriptor (a forked child opens its own)
_started: dict[str, float] = {}  # task id -> perf_counter at the first task_prerun receiver


def record(event: str, fsync: bool = True, **fields: Any) -> None:
    """Append one event of this process to its own file, durable before the task goes on."""
    pid = os.getpid()
    fd = _files.get(pid)
    if fd is None:
        RECORDS.mkdir(parents=True, exist_ok=True)
        fd = os.open(RECORDS / f"{pid}.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        _files.clear()
        _files[pid] = fd
    line = json.dumps({"ev": event, "pid": pid, "t": time.time(), **fields}, ensure_ascii=False)
    os.write(fd, (line + "\n").encode("utf-8"))
    if fsync:
        os.fsync(fd)


@signals.task_prerun.connect
def _time_prerun(task_id: str | None = None, **_: Any) -> None:
    if task_id is not None:
        _started[task_id] = time.perf_counter()


celery_office.install(app)  # after the first prerun receiver, before the last postrun one


@signals.task_postrun.connect
def _time_postrun(sender: Any = None, task_id: str | None = None, **_: Any) -> None:
    began = _started.pop(task_id, None) if task_id is not None else None
    if began is not None:
        record("timed", fsync=False, id=task_id, name=getattr(sender, "name", None),
               wall=time.perf_counter() - began)


class ChaosError(RuntimeError):
    """A task that fails as designed."""


class RateLimited(RuntimeError):
    """The reason of a designed retry."""


def _run(task: Any, seq: int, duration: float, fail: bool, result: Any = None) -> Any:
    """The body every task shares: start, sleep, end as designed, each written down."""
    request = task.request
    common = {"id": request.id, "seq": seq, "name": task.name, "node": request.hostname,
              "retries": request.retries or 0, "duration": duration}
    record("start", **common)
    began = time.perf_counter()
    try:
        time.sleep(duration)
    except BaseException as exc:  # a terminate (revoke) or a shutdown inside the sleep
        record("end", outcome="interrupted", etype=type(exc).__name__, **common)
        raise
    body = time.perf_counter() - began
    if fail:
        message = f"{task.name.rsplit('.', 1)[-1]} {seq} failed"
        record("end", outcome="error", etype="ChaosError", msg=message, body=body, **common)
        raise ChaosError(message)
    record("end", outcome="ok", result=result, body=body, **common)
    return result


@app.task(bind=True)
@metrics
def scan(self: Any, seq: int, duration: float = 0.0, fail: bool = False) -> dict[str, int]:
    return _run(self, seq, duration, fail, {"seq": seq, "products_scanned": seq % 97})


@app.task(bind=True)
def quick_scan(self: Any, seq: int, duration: float = 0.0, fail: bool = False) -> int:
    return _run(self, seq, duration, fail, seq)


@app.task(bind=True)
def reviews(self: Any, seq: int, duration: float = 0.0, fail: bool = False) -> int:
    return _run(self, seq, duration, fail, seq)


@app.task(bind=True, max_retries=1)
def flaky(self: Any, seq: int, duration: float = 0.0, fail: bool = False,
          retry_in: float = 1.0) -> int:
    """The first attempt asks for a retry (``Повтор: ...``); the second ends as designed."""
    if not self.request.retries:
        common = {"id": self.request.id, "seq": seq, "name": self.name,
                  "node": self.request.hostname, "retries": 0, "duration": duration}
        record("start", **common)
        time.sleep(duration)
        reason = RateLimited(f"429 for {seq}")
        record("end", outcome="retry", etype="RateLimited", msg=str(reason), **common)
        raise self.retry(exc=reason, countdown=retry_in)
    return _run(self, seq, duration, fail, seq)


@app.task(bind=True)
@metrics
def long_report(self: Any, seq: int, duration: float = 3.0, fail: bool = False) -> dict[str, int]:
    return _run(self, seq, duration, fail, {"seq": seq, "revenue_rub": 1000 * seq})


@app.task(bind=True)
def long_watch(self: Any, seq: int, duration: float = 120.0, fail: bool = False) -> int:
    """The run still in progress when the rows are checked (the oracle's working case)."""
    return _run(self, seq, duration, fail, seq)


@app.task(bind=True)
@metrics
def probe(self: Any, seq: int, duration: float = 0.0, fail: bool = False) -> dict[str, int]:
    """Sent by the faults only, to one worker's queue: its metrics name it, so a row read later
    tells whether this run's end reached the table (``bench/chaos/probes.py``)."""
    return _run(self, seq, duration, fail, {"probe": seq})


@app.task(bind=True)
def flap(self: Any, seq: int, duration: float = 0.0, fail: bool = False) -> int:
    """The flapping agent's task, sent back to back by the ``flapping_agent`` fault only."""
    return _run(self, seq, duration, fail, seq)


if os.environ.get("CHAOS_SOLO_TASKS") == "1":  # only the solo worker serves chaos_solo

    @app.task(bind=True)
    @metrics
    def solo_index(self: Any, seq: int, duration: float = 0.0,
                   fail: bool = False) -> dict[str, int]:
        return _run(self, seq, duration, fail, {"seq": seq, "documents": seq % 13})
