"""The benchmark's Celery app: 16 no-op tasks of 16 agents, instrumented per BENCH_VARIANT.

- ``none``: no instrumentation (the baseline).
- ``spec``: the ADOLF spec's pattern: a synchronous UPSERT and COMMIT in the task's process at
  ``task_prerun`` and again at ``task_success`` (through ``OfficeReporter``).
- ``office``: ``celery_office.install(app)`` (with ``OFFICE_ENABLED=false`` in the environment,
  the installed but disabled plugin).

Each task counts itself in Redis (one INCR, the same in every variant) so the benchmark knows
when the first and the last task ran without a result backend.

The spec variant's engine is a plain SQLAlchemy engine made in each pool process (no pre-ping),
so it runs exactly the spec's two transactions per task.
"""

import os
import sys
import time
from pathlib import Path

import redis
from celery import Celery, signals
from celery.worker.control import inspect_command

AGENTS = 16
HERE = Path(__file__).resolve().parent
VARIANT = os.environ.get("BENCH_VARIANT", "none")
COUNTER = os.environ.get("BENCH_COUNTER", "bench:done")

app = Celery("bench_app")
app.conf.update(
    broker_url=os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0"),
    task_default_queue=os.environ.get("BENCH_QUEUE", "bench"),
    task_ignore_result=True,
    worker_prefetch_multiplier=4,
    broker_connection_retry_on_startup=True,
)

_redis = None


def _count() -> None:
    global _redis
    if _redis is None or _redis[0] != os.getpid():
        _redis = (os.getpid(), redis.Redis.from_url(app.conf.broker_url))
    client = _redis[1]
    client.incr(COUNTER)


for i in range(AGENTS):
    app.task(name=f"bench_app.noop_{i}")(_count)

# What bench.overhead.memory asks each process of a worker: which heavy packages it holds.
HEAVY = ("sqlalchemy", "sqlalchemy.orm", "psycopg2", "alembic")


def loaded_heavy() -> dict:
    return {"pid": os.getpid(), "modules": [m for m in HEAVY if m in sys.modules]}


@app.task(name="bench_app.loaded")
def loaded(key: str) -> None:
    """In a pool process: record its heavy packages under ``key`` (a Redis hash by pid)."""
    import json

    global _redis
    if _redis is None or _redis[0] != os.getpid():
        _redis = (os.getpid(), redis.Redis.from_url(app.conf.broker_url))
    _redis[1].hset(key, str(os.getpid()), json.dumps(loaded_heavy()["modules"]))
    time.sleep(0.05)  # long enough for the other pool process to take the next probe


@inspect_command()
def bench_loaded(state) -> dict:
    """In the main process (a remote control command): its heavy packages."""
    return loaded_heavy()


def enqueue(tasks: int, *, queue: str, broker_url: str) -> None:
    """Send ``tasks`` no-ops, round robin over the agents, before a worker starts on ``queue``."""
    app.conf.broker_url = broker_url
    with app.producer_or_acquire() as producer:
        for n in range(tasks):
            app.send_task(f"bench_app.noop_{n % AGENTS}", queue=queue, producer=producer)


def worker_env(variant: str, *, queue: str, counter: str, broker_url: str,
               database_url: str) -> dict[str, str]:
    """The environment of a ``celery -A bench_app worker`` run from this folder."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        "BENCH_VARIANT": variant,
        "BENCH_QUEUE": queue,
        "BENCH_COUNTER": counter,
        "CELERY_BROKER_URL": broker_url,
        "OFFICE_DATABASE_URL": database_url,
        "OFFICE_AGENTS_FILE": str(HERE.parent / "agents.yaml"),
    }


if VARIANT == "office":
    import celery_office

    celery_office.install(app)
elif VARIANT == "spec":
    from sqlalchemy import create_engine

    from celery_office import OfficeReporter

    _reporters = {}

    @signals.worker_process_init.connect
    def _make_reporters(**_):
        engine = create_engine(os.environ["OFFICE_DATABASE_URL"])  # one per pool process
        for i in range(AGENTS):
            _reporters[f"bench_app.noop_{i}"] = OfficeReporter(
                f"bench_agent_{i}", "bench", f"Агент {i}", engine=engine
            )

    @signals.task_prerun.connect
    def _working(sender=None, **_):
        _reporters[sender.name].report_working("Работает")

    @signals.task_success.connect
    def _idle(sender=None, **_):
        _reporters[sender.name].report_idle()
