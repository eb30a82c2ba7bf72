"""What every part of the agents.yaml reader shares: the file's name and the one way to fail."""

from __future__ import annotations

from typing import NoReturn

from .model import RegistryError

__all__ = ["Reader"]


class Reader:
    """A reader of agents.yaml: every problem is one :class:`RegistryError` naming the file,
    the line, the agent and the field."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(
        self, line: int | None, problem: str, agent: str | None = None, field: str | None = None
    ) -> NoReturn:
        raise RegistryError(self.path, problem, line=line, agent=agent, field=field)
