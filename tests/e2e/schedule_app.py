"""A Celery app with expectations: a beat entry every 2 s no beat may run, tasks with limits.

Its agents are its own (schedule_agents.yaml), so their warnings never reach the other
end-to-end tests' agents."""

import time

from app_conf import TEST_CONF
from celery import Celery
from celery.exceptions import SoftTimeLimitExceeded

import celery_office

app = Celery("schedule_app")
app.conf.update(
    TEST_CONF,
    timezone="Europe/Moscow",
    beat_schedule={
        "nightly-reconciliation": {"task": "schedule_app.nightly", "schedule": 2.0},
    },
)
celery_office.install(app)


@app.task
def nightly():
    return "reconciled"


@app.task
def report():
    return "reported"


@app.task
def slow_scan(duration=6.0):
    time.sleep(duration)
    return "scanned"


@app.task(soft_time_limit=2, time_limit=6)
def stuck_scan(duration=20.0):
    """Ignores its soft time limit, as a hung call does, until the hard limit kills it."""
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        try:
            time.sleep(0.1)
        except SoftTimeLimitExceeded:
            pass
