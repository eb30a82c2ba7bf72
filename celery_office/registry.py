"""The agent registry: which Celery tasks belong to which agent, read from ``agents.yaml``.

The file is edited by hand, so every problem becomes one :class:`RegistryError` that names the
file, the line, the agent and the field, and says what to change. Routing a task name to its
agent runs on every task, so :meth:`Registry.route` is a cached lookup that never raises; the
checks that need the worker's list of tasks (two agents claiming the same task) are done once,
at startup, by :meth:`Registry.resolve`.

Only ``yaml.SafeLoader`` derivatives are used: the file can never build arbitrary objects.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from types import MappingProxyType
from typing import Any, NoReturn

import yaml
from yaml.constructor import ConstructorError
from yaml.reader import ReaderError

from celery_office import validation
from celery_office.errors import FieldError, OfficeError
from celery_office.jsonsafe import cut
from celery_office.models import DEPARTMENT_MAX, NAME_MAX, TASK_MAX
from celery_office.validation import SHOWN_MAX, describe

__all__ = [
    "AgentSpec",
    "Registry",
    "RegistryError",
    "TaskRoute",
    "load_registry",
    "parse_registry",
]

DEFAULT_SETTING_HINT = "office_agents_file / OFFICE_AGENTS_FILE"

TOP_KEYS = ("defaults", "agents")
AGENT_KEYS = ("department", "name", "brand", "salary_equivalent", "fte_coefficient", "tasks")
DEFAULT_KEYS = ("brand", "salary_equivalent", "fte_coefficient")
REQUIRED_KEYS: Mapping[str, str] = MappingProxyType(  # key -> what to write
    {
        "department": f"the department, text of at most {DEPARTMENT_MAX} characters",
        "name": f"the name the dashboard shows, text of at most {NAME_MAX} characters",
        "tasks": "the Celery task names or glob patterns the agent runs, each mapped to the "
        "text shown while it runs (or null)",
    }
)
BUILTIN_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {"brand": None, "salary_equivalent": 60000, "fte_coefficient": Decimal("1.00")}
)

_GLOB_CHARS = frozenset("*?[")
_MERGE_TAG = "tag:yaml.org,2002:merge"
_ROUTE_CACHE_MAX = 10_000  # far above any worker's task count; bounds memory on odd callers


# --------------------------------------------------------------------------------------------
# Public types


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


def _quoted(value: Any) -> str:
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


@dataclass(frozen=True)
class TaskRoute:
    """Where a task name goes: its agent, the text to show while it runs, and why it matched."""

    agent: AgentSpec
    text: str
    pattern: str


# --------------------------------------------------------------------------------------------
# Routing


def _is_glob(pattern: str) -> bool:
    return not _GLOB_CHARS.isdisjoint(pattern)


@lru_cache(maxsize=1024)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Case-sensitive fnmatch, as task names are: ``fnmatch.fnmatch`` folds case on Windows."""
    return re.compile(fnmatch.translate(pattern))


def _matches(pattern: str, task_name: str) -> bool:
    if _is_glob(pattern):
        return _glob_regex(pattern).match(task_name) is not None
    return pattern == task_name


def _shown_text(text: str | None, task_name: str) -> str:
    """The registry text, else the task's own name cut to fit the ``task`` column."""
    return text if text is not None else cut(task_name, TASK_MAX)


def _pattern_line(agent: AgentSpec, pattern: str) -> int:
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
                if _is_glob(pattern):
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
        line_a, line_b = _pattern_line(agent_a, pattern_a), _pattern_line(agent_b, pattern_b)
        raise RegistryError(
            self.path,
            f"task {_quoted(task_name)} is matched by pattern {_quoted(pattern_a)} of agent "
            f"{agent_a.agent_id!r} (line {line_a}) and by pattern {_quoted(pattern_b)} of agent "
            f"{agent_b.agent_id!r} (line {line_b}); add an exact entry for {_quoted(task_name)} "
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


# --------------------------------------------------------------------------------------------
# YAML loading with lines and duplicate keys


class _MarkedDict(dict):  # type: ignore[type-arg]
    """A YAML mapping that remembers the lines of its keys and values, and duplicated keys."""

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.key_lines: dict[Any, int] = {}
        self.value_lines: dict[Any, int] = {}
        self.duplicates: list[tuple[Any, int, int]] = []  # (key, first line, repeated line)


class _Loader(yaml.SafeLoader):
    """SafeLoader whose mappings keep their lines and record duplicated keys.

    PyYAML silently keeps the last of two equal keys; here the first is kept and the repeat is
    recorded, for the parser to report with the context it knows (agent id, field, task).
    Keys brought in by a ``<<`` merge may be overridden: only the mapping's own keys count.
    """

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> _MarkedDict:
        if not isinstance(node, yaml.MappingNode):
            raise ConstructorError(
                None, None, f"expected a mapping, but found {node.id}", node.start_mark
            )
        own = {id(key) for key, _ in node.value if key.tag != _MERGE_TAG}
        self.flatten_mapping(node)
        result = _MarkedDict(node.start_mark.line + 1)
        own_lines: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = self._hashable_key(key_node, deep)
            line = key_node.start_mark.line + 1
            if id(key_node) in own:
                if key in own_lines:
                    result.duplicates.append((key, own_lines[key], line))
                    continue
                own_lines[key] = line
            result[key] = self.construct_object(value_node, deep=deep)
            result.key_lines[key] = line
            result.value_lines[key] = value_node.start_mark.line + 1
        return result

    def _hashable_key(self, key_node: yaml.Node, deep: bool) -> Any:
        key = self.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise ConstructorError(
                None, None, "found a list or mapping used as a key", key_node.start_mark
            ) from None
        return key


_Loader.add_constructor(
    "tag:yaml.org,2002:map", lambda loader, node: loader.construct_mapping(node, deep=True)
)


# --------------------------------------------------------------------------------------------
# Value checks: the rules live in celery_office.validation; here only what YAML adds


_TEXT_FIELDS = frozenset({"department", "name", "brand"})
_FIELD_CHECKS: Mapping[str, Callable[[Any], Any]] = MappingProxyType(
    {key: validation.FIELD_RULES[key] for key in (*_TEXT_FIELDS, *DEFAULT_KEYS)}
)


def _quote_hint(value: Any) -> str:
    """YAML reads ``no``, ``012`` or ``2024-01-01`` as non-strings: tell the user to quote."""
    if value is None or isinstance(value, (str, dict, list)):
        return ""
    return "; put the value in quotes if it is meant as text"


def _duplicate(first: int) -> str:
    return f"key (first defined at line {first}); keep one"


def _suggest(key: Any, allowed: list[str]) -> list[str]:
    """Close spellings, else keys that the given one abbreviates (``salary``, ``fte``)."""
    given = str(key).lower()
    close = difflib.get_close_matches(given, allowed, n=1)
    if close or len(given) < 3:
        return close
    return [name for name in allowed if name.startswith(given)][:1]


def _unknown_key(key: Any, allowed: Iterable[str]) -> str:
    allowed = list(allowed)
    close = _suggest(key, allowed)
    if close:
        return f"unknown key (did you mean '{close[0]}'?)"
    return "unknown key; allowed keys: " + ", ".join(allowed)


# --------------------------------------------------------------------------------------------
# Parsing


class _Parser:
    """Turns the text of agents.yaml into a :class:`Registry`, or one :class:`RegistryError`."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(
        self, line: int | None, problem: str, agent: str | None = None, field: str | None = None
    ) -> NoReturn:
        raise RegistryError(self.path, problem, line=line, agent=agent, field=field)

    def parse(self, text: str) -> Registry:
        top = self._top(text)
        defaults = self._defaults(top)
        agents: dict[str, AgentSpec] = {}
        entries = self._agents_mapping(top)
        for agent_id, body in entries.items():
            agents[agent_id] = self._agent(agent_id, body, entries.key_lines[agent_id], defaults)
        self._check_shared_patterns(agents)
        return Registry(self.path, agents)

    # -- document level

    def _document(self, text: str) -> tuple[Any, int | None]:
        """The constructed document and the line it starts on; YAML errors located."""
        try:
            loader = _Loader(text)  # checks for unprintable characters already
        except ReaderError as exc:
            self._reader_error(exc, text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None, None
            return loader.construct_document(node), node.start_mark.line + 1
        except yaml.MarkedYAMLError as exc:
            self._yaml_error(exc)
        except ReaderError as exc:
            self._reader_error(exc, text)
        except yaml.YAMLError as exc:
            self.fail(None, f"invalid YAML: {exc}")
        finally:
            loader.dispose()

    def _reader_error(self, exc: ReaderError, text: str) -> NoReturn:
        line = text[: exc.position].count("\n") + 1
        character = exc.character if isinstance(exc.character, int) else ord(exc.character)
        self.fail(line, f"invalid YAML: character #x{character:04x}: {exc.reason}; remove it")

    def _yaml_error(self, exc: yaml.MarkedYAMLError) -> NoReturn:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "cannot parse"
        where = f" at column {mark.column + 1}" if mark is not None else ""
        context = ""  # PyYAML's order: "while parsing X (line n): expected Y, but found Z"
        if exc.context and exc.problem and exc.context_mark is not None:
            context = f"{exc.context} (line {exc.context_mark.line + 1}): "
        line = mark.line + 1 if mark is not None else None
        self.fail(line, f"invalid YAML{where}: {context}{problem}")

    def _top(self, text: str) -> _MarkedDict:
        data, line = self._document(text)
        if data is None:
            self.fail(
                None,
                "the file is empty (or only comments); it needs an 'agents' mapping of "
                "agent id -> department, name and tasks",
            )
        if not isinstance(data, _MarkedDict):
            self.fail(
                line,
                f"the top level must be a mapping with 'agents' (and optionally 'defaults'), "
                f"got {describe(data)}",
            )
        for key, first, again in data.duplicates:
            self.fail(again, "duplicate top-level " + _duplicate(first), field=str(key))
        for key in data:
            if key not in TOP_KEYS:
                self.fail(data.key_lines[key], _unknown_key(key, TOP_KEYS), field=str(key))
        return data

    def _agents_mapping(self, top: _MarkedDict) -> _MarkedDict:
        if "agents" not in top:
            self.fail(
                top.line,
                "missing the 'agents' mapping (agent id -> department, name and tasks)",
                field="agents",
            )
        entries = top["agents"]
        line = top.value_lines["agents"]
        if entries is None or entries == {}:
            self.fail(line, "no agents; add at least one agent under 'agents'", field="agents")
        if not isinstance(entries, _MarkedDict):
            self.fail(
                line,
                "expected a mapping of agent id -> department, name and tasks, "
                f"got {describe(entries)}",
                field="agents",
            )
        for key, first, again in entries.duplicates:
            self.fail(
                again,
                f"duplicate agent id {_quoted(key)} (first defined at line {first}); "
                f"agent ids must be unique: rename or remove one",
                agent=str(key),
            )
        return entries

    def _defaults(self, top: _MarkedDict) -> dict[str, Any]:
        """Built-in defaults overridden by the file's ``defaults`` mapping."""
        result = dict(BUILTIN_DEFAULTS)
        given = top.get("defaults")
        if given is None:
            return result
        if not isinstance(given, _MarkedDict):
            self.fail(
                top.value_lines["defaults"],
                f"expected a mapping of {', '.join(DEFAULT_KEYS)}, got {describe(given)}",
                field="defaults",
            )
        for key, first, again in given.duplicates:
            self.fail(again, "duplicate " + _duplicate(first), field=f"defaults.{key}")
        for key, value in given.items():
            self._check_default_key(given, key)
            result[key] = self._value(given, key, value, agent=None, field=f"defaults.{key}")
        return result

    def _check_default_key(self, given: _MarkedDict, key: Any) -> None:
        if key in DEFAULT_KEYS:
            return
        line, field_name = given.key_lines[key], f"defaults.{key}"
        if key in AGENT_KEYS:
            self.fail(
                line,
                f"cannot have a default; defaults may hold only {', '.join(DEFAULT_KEYS)}: "
                f"set {key!r} on each agent",
                field=field_name,
            )
        self.fail(line, _unknown_key(key, DEFAULT_KEYS), field=field_name)

    def _value(
        self, mapping: _MarkedDict, key: str, value: Any, *, agent: str | None, field: str
    ) -> Any:
        try:
            return _FIELD_CHECKS[key](value)
        except FieldError as exc:
            hint = _quote_hint(value) if key in _TEXT_FIELDS else ""
            self.fail(mapping.value_lines[key], exc.problem + hint, agent=agent, field=field)

    # -- agents

    def _check_agent_id(self, agent_id: Any, line: int) -> None:
        try:
            validation.agent_id(agent_id)
        except FieldError as exc:
            named = isinstance(agent_id, str) and agent_id.strip() != ""
            hint = _quote_hint(agent_id)
            self.fail(line, f"agent id {exc.problem}{hint}", agent=agent_id if named else None)

    def _agent(
        self, agent_id: Any, body: Any, line: int, defaults: Mapping[str, Any]
    ) -> AgentSpec:
        self._check_agent_id(agent_id, line)
        body = self._agent_body(agent_id, body, line)
        values = dict(defaults)
        for key, value in body.items():
            if key != "tasks":
                values[key] = self._value(body, key, value, agent=agent_id, field=key)
        tasks, task_lines = self._tasks(agent_id, body)
        return AgentSpec(
            agent_id=agent_id,
            department=values["department"],
            name=values["name"],
            brand=values["brand"],
            salary_equivalent=values["salary_equivalent"],
            fte_coefficient=values["fte_coefficient"],
            tasks=MappingProxyType(tasks),
            line=line,
            task_lines=MappingProxyType(task_lines),
        )

    def _agent_body(self, agent_id: str, body: Any, line: int) -> _MarkedDict:
        """The agent's mapping, with no duplicated, unknown or missing keys."""
        if not isinstance(body, _MarkedDict):
            self.fail(
                line,
                f"expected a mapping with department, name and tasks, got {describe(body)}",
                agent=agent_id,
            )
        for key, first, again in body.duplicates:
            problem = "duplicate " + _duplicate(first)
            self.fail(again, problem, agent=agent_id, field=str(key))
        for key in body:
            if key not in AGENT_KEYS:
                problem = _unknown_key(key, AGENT_KEYS)
                self.fail(body.key_lines[key], problem, agent=agent_id, field=str(key))
        for key, hint in REQUIRED_KEYS.items():
            if key not in body:
                problem = f"missing required key; add {key!r}: {hint}"
                self.fail(line, problem, agent=agent_id, field=key)
        return body

    def _tasks(
        self, agent_id: str, body: _MarkedDict
    ) -> tuple[dict[str, str | None], dict[str, int]]:
        """The agent's patterns -> texts, and the line of each pattern."""
        raw, line = body["tasks"], body.value_lines["tasks"]
        if raw is None or raw == {}:
            self.fail(
                line,
                "no tasks; list at least one task name or glob pattern, e.g. "
                "'app.tasks.module.task_name: Text shown while it runs'",
                agent=agent_id,
                field="tasks",
            )
        if not isinstance(raw, _MarkedDict):
            self.fail(
                line,
                f"expected a mapping of task name or pattern -> text shown while it runs "
                f"(null shows the task's name), got {describe(raw)}",
                agent=agent_id,
                field="tasks",
            )
        for key, first, again in raw.duplicates:
            self.fail(
                again,
                f"duplicate task pattern {_quoted(key)} (first listed at line {first}); keep one",
                agent=agent_id,
                field="tasks",
            )
        for pattern, text in raw.items():
            self._check_task(agent_id, raw, pattern, text)
        return dict(raw), dict(raw.key_lines)

    def _check_task(self, agent_id: str, raw: _MarkedDict, pattern: Any, text: Any) -> None:
        if not isinstance(pattern, str):
            self.fail(
                raw.key_lines[pattern],
                f"task pattern must be a string, got {describe(pattern)}{_quote_hint(pattern)}",
                agent=agent_id,
                field="tasks",
            )
        if not pattern.strip():
            problem = "task pattern must not be empty"
            self.fail(raw.key_lines[pattern], problem, agent=agent_id, field="tasks")
        try:
            validation.check("task", text)
        except FieldError as exc:
            problem = f"text for {_quoted(pattern)}: {exc.problem}"
            self.fail(raw.value_lines[pattern], problem, agent=agent_id, field="tasks")

    def _check_shared_patterns(self, agents: Mapping[str, AgentSpec]) -> None:
        """A task (or identical pattern) listed under two agents has no single owner."""
        owner: dict[str, AgentSpec] = {}
        for agent in agents.values():
            for pattern in agent.tasks:
                other = owner.setdefault(pattern, agent)
                if other is agent:
                    continue
                kind = "pattern" if _is_glob(pattern) else "task"
                self.fail(
                    _pattern_line(agent, pattern),
                    f"{kind} {_quoted(pattern)} is also listed under agent {other.agent_id!r} "
                    f"(line {_pattern_line(other, pattern)}); a task belongs to one agent: "
                    f"remove one of the two entries",
                    agent=agent.agent_id,
                    field="tasks",
                )


# --------------------------------------------------------------------------------------------
# Entry points


def parse_registry(text: str, path: str = "agents.yaml") -> Registry:
    """Parse the text of agents.yaml; ``path`` is only used in messages."""
    return _Parser(path).parse(text)


def load_registry(
    path: str | os.PathLike[str], *, setting_hint: str = DEFAULT_SETTING_HINT
) -> Registry:
    """Read and parse agents.yaml (UTF-8). ``setting_hint`` names the setting that moves it."""
    shown = os.fsdecode(path)
    return parse_registry(_read_text(shown, setting_hint), shown)


def _read_text(shown: str, setting_hint: str) -> str:
    """The file's text, or a RegistryError saying which file was tried and how to change it."""
    absolute = os.path.abspath(shown)
    fix = f"set {setting_hint} to the registry file's path"
    try:
        with open(shown, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        problem = f"file not found (absolute path: {absolute}); create it, or {fix}"
        raise RegistryError(shown, problem) from None
    except IsADirectoryError:
        problem = f"is a directory, not a file (absolute path: {absolute}); {fix}"
        raise RegistryError(shown, problem) from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        problem = (
            f"cannot read the file: {reason} (absolute path: {absolute}); make it readable "
            f"by the worker's user, or {fix}"
        )
        raise RegistryError(shown, problem) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        problem = f"not valid UTF-8 (byte {exc.start}); save the file with UTF-8 encoding"
        raise RegistryError(shown, problem, line=line) from None
