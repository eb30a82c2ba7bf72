"""agents.yaml's ``tasks`` of each agent: names and globs, their texts, and the globs two
agents share."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import validation
from ..core.errors import FieldError
from ..validation import describe
from .keys import (
    quote_hint,
)
from .model import AgentSpec, is_glob, pattern_line, quoted
from .reader import Reader
from .yaml_lines import MarkedDict

__all__ = ["TaskReader"]


class TaskReader(Reader):
    """Each agent's tasks."""

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


