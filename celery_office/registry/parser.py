"""agents.yaml's text turned into a :class:`~.model.Registry`, or one :class:`RegistryError`.

The file is edited by hand, so every problem names the file, the line, the agent and the
field, and says what to change (with a did-you-mean for a misspelt key).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from .agents_reader import AgentReader
from .document import DocumentReader
from .keys import (
    DEFAULT_SETTING_HINT,
)
from .locate import candidates
from .model import AgentSpec, Registry, RegistryError

__all__ = ["DEFAULT_SETTING_HINT", "load_registry", "parse_registry"]


class _Parser(DocumentReader, AgentReader):
    """Turns the text of agents.yaml into a :class:`Registry`, or one :class:`RegistryError`:
    the document, then the defaults and each agent, then the tasks they claim."""

    def parse(self, text: str) -> Registry:
        top = self._top(text)
        defaults = self._defaults(top)
        agents: dict[str, AgentSpec] = {}
        entries = self._agents_mapping(top)
        for agent_id, body in entries.items():
            agents[agent_id] = self._agent(agent_id, body, entries.key_lines[agent_id], defaults)
        self._check_shared_patterns(agents)
        return Registry(self.path, agents)


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
