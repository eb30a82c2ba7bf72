"""An enabled plugin's start in the worker's main process: the registry, the routes, the
flusher (engine, hand-over socket, migration) and the runtime the pool processes inherit.

Apart from the bootstep so that a disabled plugin never imports it: this is where the database
stack (SQLAlchemy, the driver) comes in, and a worker with ``office_enabled`` false holds none
of it, in its main process or its pool processes.
"""

from __future__ import annotations

from typing import Any

from ..core.errors import OfficeError
from ..core.texts import counted, words_for
from ..db.engine import safe_url
from ..logs import logger
from ..registry import load_registry
from ..settings import OfficeSettings, misnamed_settings
from . import runtime as _runtime
from .flusher import Flusher
from .watch import watch_for

__all__ = ["start_reporting"]


def start_reporting(worker: Any, settings: OfficeSettings) -> Flusher:
    """Build and activate this worker's runtime; its flusher's thread starts with the step.

    Raises :class:`OfficeError` (or :class:`ValueError`) with one line naming the file, the
    setting or the table and the fix: a bad registry, a dashboard table that cannot be adopted,
    an unknown driver or a malformed URL."""
    registry = load_registry(settings.agents_file, app=worker.app)
    routes = registry.resolve(worker.app.tasks.keys())
    for line in misnamed_settings(worker.app):  # e.g. OFFICE_* beside namespace='CELERY'
        logger.warning("celery-office: %s", line)
    settings.warn_if_default_database()  # one warning naming the SQLite file, if no URL set
    agents = {route.agent.agent_id: route.agent for route in routes.values()}
    if not agents:
        logger.warning(
            "celery-office: no task registered in this worker matches %s; nothing to report",
            settings.agents_file,
        )
    watch = watch_for(worker.app, routes, schedule_grace=settings.schedule_grace,
                      words=words_for(settings.language))
    flusher = Flusher(
        settings, agents, node_name=worker.hostname, worker_duties=True, watch=watch,
        routes={name: (route.agent.agent_id, route.text) for name, route in routes.items()},
    )
    try:
        flusher.prepare()  # the engine, the hand-over socket, the migration
    except OfficeError:  # a dashboard table that cannot be adopted, an async driver
        raise
    except Exception as exc:  # an unknown driver or a malformed URL
        raise OfficeError(f"office_database_url ({safe_url(settings.database_url)}): {exc}") \
            from None
    _runtime.activate(_runtime.Runtime(routes, flusher, watched=watch.watched_agents))
    logger.info(
        "celery-office: %s of %s reported to the office",
        counted(len(routes), "task"), counted(len(agents), "agent"),
    )
    return flusher
