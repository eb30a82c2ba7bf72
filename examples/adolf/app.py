"""The ADOLF example Celery app: ``PYTHONPATH=examples celery -A adolf.app worker -l info``.

Needs no server by default: the broker is kombu's filesystem transport and results are files,
both under ``$ADOLF_DATA_DIR`` (default ``.adolf`` in the current directory, created if
missing). Set ``CELERY_BROKER_URL`` (``redis://...``, ``amqp://...``) and/or
``CELERY_RESULT_BACKEND`` (``redis://...``, ``db+sqlite:///...``; ``disabled`` turns results off)
to use real servers instead. Processes that send tasks and the workers must see the same
``$ADOLF_DATA_DIR`` when the filesystem defaults are used.
"""

from __future__ import annotations

import os
from pathlib import Path

from celery import Celery

import celery_office

__all__ = ["app", "DEPARTMENTS", "TASK_MODULES", "data_dir"]

DEPARTMENTS = (
    "watcher",
    "reputation",
    "content_factory",
    "marketing",
    "scout",
    "cfo",
    "knowledge",
    "lex",
)
TASK_MODULES = [f"adolf.tasks.{department}" for department in DEPARTMENTS]


def data_dir() -> Path:
    """Where the filesystem broker and result backend keep their files (absolute)."""
    return Path(os.environ.get("ADOLF_DATA_DIR") or ".adolf").resolve()


def _folder(path: Path) -> str:
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


def _broker_settings() -> dict:
    url = os.environ.get("CELERY_BROKER_URL")
    if url:
        return {"broker_url": url}
    root = data_dir() / "broker"
    queue = _folder(root / "queue")  # one folder both ways: producers and workers share it
    return {
        "broker_url": "filesystem://",
        "broker_transport_options": {
            "data_folder_in": queue,
            "data_folder_out": queue,
            "control_folder": _folder(root / "control"),
            "store_processed": False,
            "polling_interval": 0.2,  # seconds between looks at an empty queue folder
        },
    }


def _result_backend() -> str:
    url = os.environ.get("CELERY_RESULT_BACKEND")
    if url:
        return url
    return "file://" + _folder(data_dir() / "results")


app = Celery("adolf", include=TASK_MODULES)
app.conf.update(
    **_broker_settings(),
    result_backend=_result_backend(),
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
)

celery_office.install(app)  # the one line a user adds

# Register the tasks now, not only when a worker starts, so that ``app.tasks`` is complete in
# any process that imports this module (senders, tests). The task modules import ``app`` from
# here, which is defined by now.
import adolf.tasks  # noqa: E402,F401  (imported for its side effect)
