"""agents.yaml's ``agents`` and ``defaults``: each agent's fields, checked one by one."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .. import validation
from ..core.errors import FieldError
from ..validation import describe
from .keys import (
    AGENT_KEYS,
    BUILTIN_DEFAULTS,
    DEFAULT_KEYS,
    FIELD_CHECKS,
    REQUIRED_KEYS,
    TEXT_FIELDS,
    TIMING_KEYS,
    duplicate,
    quote_hint,
    unknown_key,
)
from .model import AgentSpec, quoted
from .tasks_reader import TaskReader
from .timing import TimingError, parse_duration, parse_limits, parse_schedules
from .yaml_lines import MarkedDict

__all__ = ["AgentReader"]


class AgentReader(TaskReader):
    """Each agent of the file, with the defaults it inherits (and its tasks)."""

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

