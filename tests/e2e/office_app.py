"""The Celery app the end-to-end tests run in real `celery worker` processes.

Everything comes from the environment the test sets: broker, queue, database, registry.
Its tasks are plain Celery tasks: celery-office instruments them through `install(app)` alone.
"""

import os
import time

from app_conf import TEST_CONF
from celery import Celery

import celery_office

app = Celery("office_app")
app.conf.update(TEST_CONF)
celery_office.install(app)


class ScanError(RuntimeError):
    """What a marketplace API failure looks like to a task."""


def _note_pid(pid_file):
    if pid_file:
        with open(pid_file, "w") as fh:
            fh.write(str(os.getpid()))


@app.task
def scan_prices(duration=0.0, pid_file=None):
    _note_pid(pid_file)
    time.sleep(duration)
    return {"products_scanned": 150}


@app.task
def night_check(duration=0.0, pid_file=None):
    _note_pid(pid_file)
    time.sleep(duration)
    return "done"


@app.task
def fail_scan(message="Wildberries API timeout after 30s", duration=0.0):
    time.sleep(duration)
    raise ScanError(message)


@app.task(bind=True, max_retries=1)
def flaky_reviews(self, hold=0.0):
    """Fails once, retries after `hold` seconds, then succeeds."""
    if self.request.retries == 0:
        raise self.retry(exc=ScanError("rate limit 429"), countdown=hold)
    return {"reviews_today": 47}


class UnprintableError(RuntimeError):
    """A buggy library's exception: its ``__str__`` itself raises (a missing attribute)."""

    def __str__(self):
        return self.missing


class NonStringError(RuntimeError):
    """An exception whose ``__str__`` returns something that is not text."""

    def __str__(self):
        return 42


@app.task
def fail_unprintable(kind="raises", message="Wildberries API said no"):
    raise (UnprintableError if kind == "raises" else NonStringError)(message)


class Unrenderable:
    """A metric value that cannot be rendered: str() and repr() raise an unprintable error."""

    def __str__(self):
        raise UnprintableError()

    __repr__ = __str__


@app.task(time_limit=1.5, soft_time_limit=None)
def overrun(duration=10.0):
    time.sleep(duration)


@app.task
def untracked(duration=0.0):
    time.sleep(duration)
    return "not an agent's task"


# --- per-task metrics and progress (celery_office.metrics / progress) ---

from celery_office import metrics, progress  # noqa: E402


@app.task
@metrics
def metered_reviews(count=47):
    return {"reviews_today": count, "avg_response_min": 12}


@app.task(bind=True, max_retries=1)
@metrics(lambda result: {"reviews_today": len(result)})
def derived_reviews(self, ids=(1, 2, 3), fail_first=False):
    if fail_first and self.request.retries == 0:
        raise self.retry(countdown=0.1)
    return list(ids)


@app.task
@metrics(lambda result: {"ratio": result["a"] / result["b"]})
def bad_metrics_reviews():
    return {"a": 1, "b": 0}  # the extractor divides by zero: skipped, the task still succeeds


def _odd_metrics(result):
    import datetime
    import decimal
    import uuid

    return {"when": datetime.datetime(2026, 1, 2, 3, 4, 5), "amount": decimal.Decimal("1.50"),
            "id": uuid.UUID(int=1), "tags": set(result)}


# values JSON cannot encode; the result itself stays JSON for the backend
@app.task
@metrics(extract=_odd_metrics)
def odd_metrics_reviews():
    return ["b", "a"]


@app.task
@metrics(lambda result: {"reviews_today": 3, "odd": Unrenderable()})
def unrenderable_metrics_reviews(duration=0.0):
    time.sleep(duration)
    return "done"


@app.task
def progress_reviews(hold=2.0):
    assert progress("Обработано 40 из 120", {"processed": 40})
    time.sleep(hold)
    return "done"


@app.task
def progress_outside_agent():
    return progress("nobody", {"x": 1})


# --- what a worker's processes hold (test_light_worker) ---

import gc  # noqa: E402
import sys  # noqa: E402

from celery.worker.control import inspect_command  # noqa: E402

DATABASE_STACK = ("sqlalchemy", "sqlalchemy.orm", "psycopg2", "alembic")


def _database_stack():
    return {"pid": os.getpid(), "modules": [m for m in DATABASE_STACK if m in sys.modules],
            "frozen": gc.get_freeze_count()}


@app.task
def database_stack(hold=0.2):
    """In a pool process: which of the database stack it has imported."""
    time.sleep(hold)  # the other pool process takes the next one
    return _database_stack()


@inspect_command()
def office_test_database_stack(state):
    """In the main process (remote control): which of the database stack it has imported."""
    return _database_stack()
