"""agents.yaml as a YAML document: read with lines, its errors located, its top level checked."""

from __future__ import annotations

from typing import Any, NoReturn

import yaml
from yaml.reader import ReaderError

from ..validation import describe
from .keys import (
    TOP_KEYS,
    duplicate,
    unknown_key,
)
from .reader import Reader
from .yaml_lines import LineLoader, MarkedDict

__all__ = ["DocumentReader"]


class DocumentReader(Reader):
    """The document and its top level (``agents``, ``defaults``)."""

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

