"""The agent registry: which Celery tasks belong to which agent, read from ``agents.yaml``.

The file is edited by hand, so every problem becomes one :class:`RegistryError` that names the
file, the line, the agent and the field, and says what to change. Routing a task name to its
agent runs on every task, so :meth:`Registry.route` is a cached lookup that never raises; the
checks that need the worker's list of tasks (two agents claiming the same task) are done once,
at startup, by :meth:`Registry.resolve`.

Only ``yaml.SafeLoader`` derivatives are used: the file can never build arbitrary objects.
"""

from .keys import DEFAULT_SETTING_HINT
from .model import AgentSpec, Registry, RegistryError, TaskRoute
from .parser import load_registry, parse_registry

__all__ = [
    "AgentSpec",
    "Registry",
    "RegistryError",
    "TaskRoute",
    "load_registry",
    "parse_registry",
    "DEFAULT_SETTING_HINT",
]
