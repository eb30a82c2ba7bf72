"""agents.yaml's text turned into a :class:`~.model.Registry`, or one :class:`RegistryError`.

The file is edited by hand, so every problem names the file, the line, the agent and the
field, and says what to change (with a did-you-mean for a misspelt key).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, NoReturn

import yaml
from yaml.reader import ReaderError

from .. import validation
from ..core.errors import FieldError
from ..validation import describe
from .locate import candidates
from .model import AgentSpec, Registry, RegistryError, is_glob, pattern_line, quoted
from .keys import (
    AGENT_KEYS, BUILTIN_DEFAULTS, DEFAULT_KEYS, DEFAULT_SETTING_HINT, FIELD_CHECKS, REQUIRED_KEYS,
    TEXT_FIELDS, TIMING_KEYS, TOP_KEYS, duplicate, quote_hint, unknown_key,
)
from .timing import TimingError, parse_duration, parse_limits, parse_schedules
from .yaml_lines import LineLoader, MarkedDict

__all__ = ["DEFAULT_SETTING_HINT", "load_registry", "parse_registry"]

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
            loader = LineLoader(text)  # checks for unprintable characters already
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

    def _top(self, text: str) -> MarkedDict:
        data, line = self._document(text)
        if data is None:
            self.fail(
                None,
                "the file is empty (or only comments); it needs an 'agents' mapping of "
                "agent id -> department, name and tasks",
            )
        if not isinstance(data, MarkedDict):
            self.fail(
                line,
                f"the top level must be a mapping with 'agents' (and optionally 'defaults'), "
                f"got {describe(data)}",
            )
        for key, first, again in data.duplicates:
            self.fail(again, "duplicate top-level " + duplicate(first), field=str(key))
        for key in data:
            if key not in TOP_KEYS:
                self.fail(data.key_lines[key], unknown_key(key, TOP_KEYS), field=str(key))
        return data

    def _agents_mapping(self, top: MarkedDict) -> MarkedDict:
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
        if not isinstance(entries, MarkedDict):
            self.fail(
                line,
                "expected a mapping of agent id -> department, name and tasks, "
                f"got {describe(entries)}",
                field="agents",
            )
        for key, first, again in entries.duplicates:
            self.fail(
                again,
                f"duplicate agent id {quoted(key)} (first defined at line {first}); "
                f"agent ids must be unique: rename or remove one",
                agent=str(key),
            )
        return entries

    def _defaults(self, top: MarkedDict) -> dict[str, Any]:
        """Built-in defaults overridden by the file's ``defaults`` mapping."""
        result = dict(BUILTIN_DEFAULTS)
        given = top.get("defaults")
        if given is None:
            return result
        if not isinstance(given, MarkedDict):
            self.fail(
                top.value_lines["defaults"],
                f"expected a mapping of {', '.join(DEFAULT_KEYS)}, got {describe(given)}",
                field="defaults",
            )
        for key, first, again in given.duplicates:
            self.fail(again, "duplicate " + duplicate(first), field=f"defaults.{key}")
        for key, value in given.items():
            self._check_default_key(given, key)
            result[key] = self._value(given, key, value, agent=None, field=f"defaults.{key}")
        return result

    def _check_default_key(self, given: MarkedDict, key: Any) -> None:
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
        self.fail(line, unknown_key(key, DEFAULT_KEYS), field=field_name)

    def _value(
        self, mapping: MarkedDict, key: str, value: Any, *, agent: str | None, field: str
    ) -> Any:
        try:
            return FIELD_CHECKS[key](value)
        except FieldError as exc:
            hint = quote_hint(value) if key in TEXT_FIELDS else ""
            self.fail(mapping.value_lines[key], exc.problem + hint, agent=agent, field=field)

    def _timing(self, mapping: MarkedDict, key: str, value: Any, *, agent: str) -> Any:
        """``schedule:``, ``grace:`` or ``max_runtime:``, read by :mod:`.timing`."""
        read = {"schedule": parse_schedules, "grace": parse_duration, "max_runtime": parse_limits}
        try:
            return read[key](value)
        except TimingError as exc:
            self.fail(mapping.value_lines[key], str(exc), agent=agent, field=key)

    # -- agents

    def _check_agent_id(self, agent_id: Any, line: int) -> None:
        try:
            validation.agent_id(agent_id)
        except FieldError as exc:
            named = isinstance(agent_id, str) and agent_id.strip() != ""
            hint = quote_hint(agent_id)
            self.fail(line, f"agent id {exc.problem}{hint}", agent=agent_id if named else None)

    def _agent(
        self, agent_id: Any, body: Any, line: int, defaults: Mapping[str, Any]
    ) -> AgentSpec:
        self._check_agent_id(agent_id, line)
        body = self._agent_body(agent_id, body, line)
        values = dict(defaults)
        for key, value in body.items():
            if key in TIMING_KEYS:
                values[key] = self._timing(body, key, value, agent=agent_id)
            elif key != "tasks":
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
            schedules=values.get("schedule", ()),
            grace=values.get("grace"),
            max_runtime=MappingProxyType(values.get("max_runtime", {})),
        )

    def _agent_body(self, agent_id: str, body: Any, line: int) -> MarkedDict:
        """The agent's mapping, with no duplicated, unknown or missing keys."""
        if not isinstance(body, MarkedDict):
            self.fail(
                line,
                f"expected a mapping with department, name and tasks, got {describe(body)}",
                agent=agent_id,
            )
        for key, first, again in body.duplicates:
            problem = "duplicate " + duplicate(first)
            self.fail(again, problem, agent=agent_id, field=str(key))
        for key in body:
            if key not in AGENT_KEYS:
                problem = unknown_key(key, AGENT_KEYS)
                self.fail(body.key_lines[key], problem, agent=agent_id, field=str(key))
        for key, hint in REQUIRED_KEYS.items():
            if key not in body:
                problem = f"missing required key; add {key!r}: {hint}"
                self.fail(line, problem, agent=agent_id, field=key)
        return body

    def _tasks(
        self, agent_id: str, body: MarkedDict
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
        if not isinstance(raw, MarkedDict):
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
                f"duplicate task pattern {quoted(key)} (first listed at line {first}); keep one",
                agent=agent_id,
                field="tasks",
            )
        for pattern, text in raw.items():
            self._check_task(agent_id, raw, pattern, text)
        return dict(raw), dict(raw.key_lines)

    def _check_task(self, agent_id: str, raw: MarkedDict, pattern: Any, text: Any) -> None:
        if not isinstance(pattern, str):
            self.fail(
                raw.key_lines[pattern],
                f"task pattern must be a string, got {describe(pattern)}{quote_hint(pattern)}",
                agent=agent_id,
                field="tasks",
            )
        if not pattern.strip():
            problem = "task pattern must not be empty"
            self.fail(raw.key_lines[pattern], problem, agent=agent_id, field="tasks")
        try:
            validation.check("task", text)
        except FieldError as exc:
            problem = f"text for {quoted(pattern)}: {exc.problem}"
            self.fail(raw.value_lines[pattern], problem, agent=agent_id, field="tasks")

    def _check_shared_patterns(self, agents: Mapping[str, AgentSpec]) -> None:
        """A task (or identical pattern) listed under two agents has no single owner."""
        owner: dict[str, AgentSpec] = {}
        for agent in agents.values():
            for pattern in agent.tasks:
                other = owner.setdefault(pattern, agent)
                if other is agent:
                    continue
                kind = "pattern" if is_glob(pattern) else "task"
                self.fail(
                    pattern_line(agent, pattern),
                    f"{kind} {quoted(pattern)} is also listed under agent {other.agent_id!r} "
                    f"(line {pattern_line(other, pattern)}); a task belongs to one agent: "
                    f"remove one of the two entries",
                    agent=agent.agent_id,
                    field="tasks",
                )


def parse_registry(text: str, path: str = "agents.yaml") -> Registry:
    """Parse the text of agents.yaml; ``path`` is only used in messages."""
    return _Parser(path).parse(text)


def load_registry(
    path: str | os.PathLike[str], *, setting_hint: str = DEFAULT_SETTING_HINT, app: Any = None
) -> Registry:
    """Read and parse agents.yaml (UTF-8). ``setting_hint`` names the setting that moves it; a
    relative path not found in the working directory is looked for beside ``app``'s module."""
    tried = candidates(os.fsdecode(path), app)
    shown = next((p for p in tried if os.path.exists(p)), tried[0])
    return parse_registry(_read_text(shown, setting_hint, tried=tried), shown)


def _read_text(shown: str, setting_hint: str, *, tried: Sequence[str] = ()) -> str:
    """The file's text, or a RegistryError saying which files were tried and how to change it."""
    absolute = os.path.abspath(shown)
    fix = f"set {setting_hint} to the registry file's path"
    try:
        with open(shown, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        places = " or ".join(os.path.abspath(p) for p in tried) if len(tried) > 1 else None
        where = f"looked for {places}" if places else f"absolute path: {absolute}"
        problem = f"file not found ({where}); create it, or {fix}"
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
