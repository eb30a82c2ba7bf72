"""The worker bootstep: load ``agents.yaml``, build this worker's runtime, retire at the end.

It runs in the worker's main process for every pool. The runtime (routes and flusher) is built
in ``__init__`` by :mod:`.startup`, imported only when the plugin is enabled (a disabled one
loads no database stack), before the pool forks, so pool processes inherit the routes and the
hand-over socket's sending end (never a connection). ``requires = Pool`` fixes the step's
place: it starts after the pool processes are forked, so its threads and connections are not
inherited; processes forked later (``max_tasks_per_child`` replacements) drop them in an
at-fork hook. Its ``terminate`` runs before the pool's.

A bad registry or setting, or a dashboard table that cannot be adopted, stops the worker here,
at start, with one line that names the file, the line (or the table and column) and the fix,
and a non-zero exit: nothing half-configured runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from celery import bootsteps

from ..core.errors import OfficeError
from ..logs import logger
from ..settings import OfficeSettings
from . import runtime as _runtime

if TYPE_CHECKING:
    from .flusher import Flusher

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
            # Imported only when enabled: it brings SQLAlchemy and the driver along, which a
            # disabled plugin's processes never load.
            from .startup import start_reporting

            self.flusher = start_reporting(worker, settings)
        except (OfficeError, ValueError) as exc:
            # One clear line and a non-zero exit, not a traceback through Celery's internals.
            # SystemExit prints it on stderr; a worker logging to a file gets it there too.
            if getattr(worker, "logfile", None):
                logger.critical("celery-office: %s", exc)
            raise SystemExit(f"celery-office: {exc}") from None

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
