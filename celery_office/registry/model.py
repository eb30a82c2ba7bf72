"""What agents.yaml says once read: agents, their tasks, and the routing of task names.

Routing a task name to its agent runs on every task, so :meth:`Registry.route` is a cached
lookup that never raises; the checks that need the worker's list of tasks (two agents claiming
the same task) are done once, at startup, by :meth:`Registry.resolve`.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from types import MappingProxyType
from typing import Any, NoReturn

from ..core.errors import OfficeError
from ..core.limits import TASK_MAX
from ..jsonsafe import cut
from ..validation import SHOWN_MAX

__all__ = ["AgentSpec", "Registry", "RegistryError", "TaskRoute"]

_GLOB_CHARS = frozenset("*?[")
_MERGE_TAG = "tag:yaml.org,2002:merge"
_ROUTE_CACHE_MAX = 10_000  # far above any worker's task count; bounds memory on odd callers


class RegistryError(OfficeError, ValueError):
    """A problem in agents.yaml, located as precisely as the file allows.

    ``str(err)`` reads ``"{path}:{line}: agent '{agent}': field '{field}': {problem}"``, the parts
    that are ``None`` left out, so editors and CI logs can jump to the line. Agent ids and keys
    are shown cut to a readable length, with unprintable characters escaped.
    """

    def __init__(
        self,
        path: str,
        problem: str,
        line: int | None = None,
        agent: str | None = None,
        field: str | None = None,
    ) -> None:
        self.path = path
        self.problem = problem
        self.line = line
        self.agent = agent
        self.field = field
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        parts = [where]
        if self.agent is not None:
            parts.append(f"agent '{_shown(self.agent)}'")
        if self.field is not None:
            parts.append(f"field '{_shown(self.field)}'")
        parts.append(self.problem)
        return ": ".join(parts)

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions may cross process boundaries (Celery pickles them): keep every attribute.
        return (type(self), (self.path, self.problem, self.line, self.agent, self.field))


def _shown(name: str) -> str:
    """A name from the file as a message shows it: cut, unprintable characters escaped."""
    if not name.isprintable():
        name = repr(name)[1:-1]
    return cut(name, SHOWN_MAX)


def quoted(value: Any) -> str:
    """A task name or pattern quoted in a message, cut like any shown value."""
    return cut(repr(value), SHOWN_MAX)


@dataclass(frozen=True)
class AgentSpec:
    """One agent of the registry, with defaults applied and values checked against the table."""

    agent_id: str
    department: str
    name: str
    brand: str | None
    salary_equivalent: int
    fte_coefficient: Decimal
    tasks: Mapping[str, str | None] = field(hash=False)  # pattern -> text, in file order
    line: int  # line of the agent's key in the file
    # Line of each task pattern, for messages; not part of the agent's identity.
    task_lines: Mapping[str, int] = field(
        default_factory=dict, hash=False, compare=False, repr=False
    )
    # When its runs are expected (schedule:), the grace before one counts as missed (grace:,
    # None: office_schedule_grace), and how long a run may take (max_runtime:, pattern -> s).
    schedules: tuple[Any, ...] = field(default=(), hash=False, compare=False)
    grace: float | None = field(default=None, hash=False, compare=False)
    max_runtime: Mapping[str, float] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class TaskRoute:
    """Where a task name goes: its agent, the text to show while it runs, and why it matched."""

    agent: AgentSpec
    text: str
    pattern: str


# --------------------------------------------------------------------------------------------
# Routing


def is_glob(pattern: str) -> bool:
    return not _GLOB_CHARS.isdisjoint(pattern)


@lru_cache(maxsize=1024)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Case-sensitive fnmatch, as task names are: ``fnmatch.fnmatch`` folds case on Windows."""
    return re.compile(fnmatch.translate(pattern))


def _matches(pattern: str, task_name: str) -> bool:
    if is_glob(pattern):
        return _glob_regex(pattern).match(task_name) is not None
    return pattern == task_name


def _shown_text(text: str | None, task_name: str) -> str:
    """The registry text, else the task's own name cut to fit the ``task`` column."""
    return text if text is not None else cut(task_name, TASK_MAX)


def pattern_line(agent: AgentSpec, pattern: str) -> int:
    return agent.task_lines.get(pattern, agent.line)


class Registry:
    """The parsed registry; maps task names to agents.

    Exact task names beat globs; among globs the first in file order wins. Call
    :meth:`resolve` once with the worker's registered tasks to reject globs of two agents
    that claim the same task; :meth:`route` then answers consistently.
    """

    def __init__(self, path: str, agents: Mapping[str, AgentSpec]) -> None:
        self.path = path
        self.agents: Mapping[str, AgentSpec] = MappingProxyType(dict(agents))
        self._exact: dict[str, tuple[AgentSpec, str]] = {}
        self._globs: list[tuple[re.Pattern[str], AgentSpec, str]] = []
        self._cache: dict[str, TaskRoute | None] = {}
        for agent in self.agents.values():
            for pattern in agent.tasks:
                if is_glob(pattern):
                    self._globs.append((_glob_regex(pattern), agent, pattern))
                else:
                    self._exact.setdefault(pattern, (agent, pattern))

    def __repr__(self) -> str:
        return f"<Registry {self.path}: {len(self.agents)} agents>"

    def route(self, task_name: str) -> TaskRoute | None:
        """The route of a task, or None when no agent covers it. Cached; never raises."""
        try:
            return self._cache[task_name]
        except KeyError:
            pass
        except TypeError:  # unhashable: not a task name
            return None
        found = self._find(task_name) if isinstance(task_name, str) else None
        if len(self._cache) < _ROUTE_CACHE_MAX:
            self._cache[task_name] = found
        return found

    def _find(self, task_name: str) -> TaskRoute | None:
        hit = self._exact.get(task_name)
        if hit is None:
            globs = self._globs
            hit = next(((a, p) for regex, a, p in globs if regex.match(task_name)), None)
        if hit is None:
            return None
        agent, pattern = hit
        return TaskRoute(agent, _shown_text(agent.tasks[pattern], task_name), pattern)

    def resolve(self, task_names: Iterable[str]) -> dict[str, TaskRoute]:
        """Routes of the worker's registered tasks that an agent covers.

        Names no agent matches (Celery's own ``celery.*`` tasks, say) are left out. Raises
        :class:`RegistryError` when globs of two different agents match a name that no exact
        entry decides: which agent wins would depend on the order of the file.
        """
        routes: dict[str, TaskRoute] = {}
        for name in task_names:
            if not isinstance(name, str) or name in routes:
                continue
            self._check_unambiguous(name)
            found = self.route(name)
            if found is not None:
                routes[name] = found
        return routes

    def _check_unambiguous(self, task_name: str) -> None:
        if task_name in self._exact:
            return
        first: tuple[AgentSpec, str] | None = None  # the first matching glob
        for regex, agent, pattern in self._globs:
            if not regex.match(task_name):
                continue
            if first is None:
                first = (agent, pattern)
            elif first[0].agent_id != agent.agent_id:
                self._raise_conflict(task_name, *first, agent, pattern)

    def _raise_conflict(
        self, task_name: str, agent_a: AgentSpec, pattern_a: str, agent_b: AgentSpec, pattern_b: str
    ) -> NoReturn:
        line_a, line_b = pattern_line(agent_a, pattern_a), pattern_line(agent_b, pattern_b)
        raise RegistryError(
            self.path,
            f"task {quoted(task_name)} is matched by pattern {quoted(pattern_a)} of agent "
            f"{agent_a.agent_id!r} (line {line_a}) and by pattern {quoted(pattern_b)} of agent "
            f"{agent_b.agent_id!r} (line {line_b}); add an exact entry for {quoted(task_name)} "
            f"under the agent that runs it, or narrow one of the patterns",
            line=line_b,
        )

    def served_agents(self, task_names: Iterable[str]) -> list[AgentSpec]:
        """Agents with at least one of these tasks, in file order (uses :meth:`route`)."""
        served = {found.agent.agent_id for name in task_names if (found := self.route(name))}
        return [agent for agent in self.agents.values() if agent.agent_id in served]

    def unmatched_patterns(self, task_names: Iterable[str]) -> list[tuple[AgentSpec, str]]:
        """Patterns that match none of these tasks: typos, renamed or removed tasks."""
        names = [name for name in task_names if isinstance(name, str)]
        return [
            (agent, pattern)
            for agent in self.agents.values()
            for pattern in agent.tasks
            if not any(_matches(pattern, name) for name in names)
        ]
