"""The kill-window benchmark's Celery app: a task that fails and has its own pool process, or
the worker's main process, SIGKILLed a chosen time after its end; a no-op to keep the pool
process busy before it.

The kill is armed by the task itself (a timer thread started just before it raises), so the
delay is measured from the run's end, not from a log line read by another process.
"""

import os
import signal
import threading

from celery import Celery

import celery_office

app = Celery("crash_app")
app.conf.update(
    broker_url=os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0"),
    task_default_queue=os.environ.get("BENCH_QUEUE", "crash"),
    task_ignore_result=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
)
celery_office.install(app)


class CrashError(RuntimeError):
    """The trial's failure; its message names the trial."""


@app.task(name="crash_app.noop")
def noop() -> None:
    """A run that ends at once: a few hundred keep the process's hand-overs busy."""


@app.task(name="crash_app.fail_then_kill")
def fail_then_kill(trial: str, delay: float, target: str) -> None:
    """Fail now; SIGKILL this pool process (``pool``) or the worker's main process (``main``)
    ``delay`` seconds later."""
    pid = os.getpid() if target == "pool" else os.getppid()
    timer = threading.Timer(delay, os.kill, (pid, signal.SIGKILL))
    timer.daemon = True
    timer.start()
    raise CrashError(trial)
