"""The worker bootstep: load ``agents.yaml``, build this worker's runtime, retire at the end.

It runs in the worker's main process for every pool. The runtime (routes and flusher) is built
in ``__init__``, before the pool forks, so pool processes inherit the routes and the hand-over
socket's sending end (never a connection). ``requires = Pool`` fixes the step's place: it starts
after the pool processes are forked, so its threads and connections are not inherited;
processes forked later (``max_tasks_per_child`` replacements) drop them in an at-fork hook. Its
``terminate`` runs before the pool's.

A bad registry or setting, or a dashboard table that cannot be adopted, stops the worker here,
at start, with one line that names the file, the line (or the table and column) and the fix,
and a non-zero exit: nothing half-configured runs.
"""

from __future__ import annotations

from typing import Any

from celery import bootsteps

from ..core.errors import OfficeError
from ..core.texts import counted, words_for
from ..db.engine import safe_url
from ..logs import logger
from ..registry import RegistryError, load_registry
from ..settings import OfficeSettings, misnamed_settings
from . import runtime as _runtime
from .flusher import Flusher
from .watch import watch_for

__all__ = ["OfficeStep"]


class OfficeStep(bootsteps.StartStopStep):
    """Reports the agents of ``agents.yaml`` that this worker serves."""

    label = "celery-office"
    requires = ("celery.worker.components:Pool",)

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.flusher: Flusher | None = None
        try:
            settings = OfficeSettings.from_app(worker.app)
            if not settings.enabled:
                logger.info("celery-office: disabled (office_enabled is false)")
                return
            registry = load_registry(settings.agents_file, app=worker.app)
            routes = registry.resolve(worker.app.tasks.keys())
        except (RegistryError, OfficeError, ValueError) as exc:
            # One clear line and a non-zero exit, not a traceback through Celery's internals.
            # SystemExit prints it on stderr; a worker logging to a file gets it there too.
            if getattr(worker, "logfile", None):
                logger.critical("celery-office: %s", exc)
            raise SystemExit(f"celery-office: {exc}") from None
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
        self.flusher = Flusher(
            settings, agents, node_name=worker.hostname, worker_duties=True, watch=watch,
            routes={name: (route.agent.agent_id, route.text) for name, route in routes.items()},
        )
        try:
            self.flusher.prepare()  # the engine, the hand-over socket, the migration
        except OfficeError as exc:  # a dashboard table that cannot be adopted, an async driver
            if getattr(worker, "logfile", None):
                logger.critical("celery-office: %s", exc)
            raise SystemExit(f"celery-office: {exc}") from None
        except Exception as exc:  # an unknown driver or a malformed URL
            message = f"office_database_url ({safe_url(settings.database_url)}): {exc}"
            raise SystemExit(f"celery-office: {message}") from None
        _runtime.activate(_runtime.Runtime(routes, self.flusher, watched=watch.watched_agents))
        logger.info(
            "celery-office: %s of %s reported to the office",
            counted(len(routes), "task"), counted(len(agents), "agent"),
        )

    def start(self, worker: Any) -> None:
        if self.flusher is not None:
            self.flusher.start()

    def stop(self, worker: Any) -> None:
        """Warm shutdown: nothing yet. Tasks still run while the pool drains; the agents are
        retired at ``worker_shutdown``, once the pool has stopped."""

    def terminate(self, worker: Any) -> None:
        """Cold shutdown and the embedded test worker: no ``worker_shutdown`` follows."""
        runtime = _runtime.current()
        if self.flusher is not None and runtime is not None and runtime.flusher is self.flusher:
            self.flusher.stop(retire=True)
