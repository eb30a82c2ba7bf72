"""celery-office: every Celery worker reports the live status of its agents to
``office_agent_status``, with no change to task code.

Add one line to the module given to ``celery -A``::

    import celery_office
    celery_office.install(app)

then map task names to agents in ``agents.yaml``. Working, idle, warning, error and offline,
and heartbeats, are written by the worker itself: signal handlers record each change in memory
(no I/O on the task's path) and a background thread in each process writes them, coalesced, in
one transaction per ``office_flush_interval``. Start threads and connections only after the
pool forks: this package does so for you, lazily.

For code outside a worker, :class:`OfficeReporter` is the hand-called API of the ADOLF spec.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .core.errors import OfficeConfigError, OfficeError

if TYPE_CHECKING:
    from .core.errors import MigrationError
    from .core.statuses import AgentStatus
    from .db.contract import ContractError
    from .db.engine import create_office_engine
    from .db.host_alembic import include_name, include_object
    from .db.models import Base, OfficeAgentStatus
    from .db.read import AgentRow, agent_statuses
    from .db.schema import migrate
    from .registry import Registry, RegistryError, load_registry
    from .reporter import OfficeReporter
    from .settings import OfficeSettings
    from .worker.task_metrics import metrics, progress

# Imported on first use (PEP 562): Celery imports this package for its ``celery office``
# entry point on every ``celery`` command, and SQLAlchemy, Alembic and PyYAML are slow to load.
_LAZY = {
    "metrics": "worker.task_metrics",
    "progress": "worker.task_metrics",
    "MigrationError": "core.errors",
    "migrate": "db.schema",
    "ContractError": "db.contract",
    "include_name": "db.host_alembic",
    "include_object": "db.host_alembic",
    "AgentStatus": "db.models",
    "Base": "db.models",
    "OfficeAgentStatus": "db.models",
    "Registry": "registry",
    "RegistryError": "registry",
    "load_registry": "registry",
    "OfficeReporter": "reporter",
    "OfficeSettings": "settings",
    "AgentRow": "db.read",
    "agent_statuses": "db.read",
    "create_office_engine": "db.engine",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":  # one home for the version: pyproject.toml, via the metadata
        from importlib.metadata import version

        globals()[name] = value = version("celery-office")
        return value
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | {"__version__"})


__all__ = [
    "install",
    "metrics",
    "progress",
    "OfficeReporter",
    "migrate",
    "agent_statuses",
    "AgentRow",
    "AgentStatus",
    "OfficeAgentStatus",
    "Base",
    "OfficeSettings",
    "Registry",
    "load_registry",
    "create_office_engine",
    "OfficeError",
    "OfficeConfigError",
    "RegistryError",
    "MigrationError",
    "ContractError",
    "include_name",
    "include_object",
]

def install(app: Any) -> None:
    """Instrument ``app``'s workers: add the office bootstep and connect the signal handlers.

    Call it in the module given to ``celery -A``, before the worker starts. Calling it twice is
    harmless. Nothing happens outside a worker (``celery call``, web processes sending tasks).
    """
    from .worker.bootstep import OfficeStep
    from .worker.signals import OfficeSignals

    app.steps["worker"].add(OfficeStep)
    OfficeSignals.connect()
