"""Everything the plugin holds in one process, in one object: the routes and the flusher.

The bootstep builds it in the worker's main process, before the pool forks, and activates it;
pool processes inherit it, and an at-fork hook resets what must not cross a ``fork()`` (the
pending changes, the thread, the connections). Signal handlers, ``progress()`` and
``@metrics`` read it through :func:`current`; :func:`deactivate` clears it, so nothing of an
uninstalled plugin lingers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from ..core.texts import words_for

if TYPE_CHECKING:  # the flusher brings the database stack: a disabled plugin never loads it
    from .flusher import Flusher

__all__ = ["Route", "Runtime", "activate", "deactivate", "current"]


class Route(NamedTuple):
    """Where a task's runs go: its agent, the text shown while it runs, and whether its
    starts matter (the agent has expected runs to judge)."""

    agent_id: str
    text: str | None
    watched: bool = False


class Runtime:
    """The routes of this worker's tasks and this process's flusher (with its buffer)."""

    def __init__(
        self, routes: Mapping[str, Any], flusher: Flusher, *, watched: frozenset[str] = frozenset()
    ) -> None:
        self.routes: dict[str, Route] = {
            name: Route(route.agent.agent_id, route.text, route.agent.agent_id in watched)
            for name, route in routes.items()
        }
        self.flusher = flusher
        self.words = words_for(flusher.settings.language)  # of the task texts it writes

    @property
    def buffer(self) -> Any:
        return self.flusher.buffer

    def route_of(self, task_name: str | None) -> Route | None:
        """The route of a task name, or None when no agent covers it."""
        return self.routes.get(task_name) if task_name else None


_current: Runtime | None = None


def current() -> Runtime | None:
    """This process's runtime, or None when the plugin is not active here."""
    return _current


def activate(runtime: Runtime) -> None:
    """Make ``runtime`` this process's (the bootstep does, before the pool forks)."""
    global _current
    _current = runtime


def deactivate() -> None:
    global _current
    _current = None


def _after_fork_in_child() -> None:
    if _current is not None:
        _current.flusher.after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)
