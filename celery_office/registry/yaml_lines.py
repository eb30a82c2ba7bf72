"""A YAML loader (``yaml.SafeLoader``: the file can never build arbitrary objects) whose
mappings keep the lines of their keys and values, and record duplicated keys."""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import ConstructorError

__all__ = ["MarkedDict", "LineLoader"]

_MERGE_TAG = "tag:yaml.org,2002:merge"


class MarkedDict(dict[Any, Any]):
    """A YAML mapping that remembers the lines of its keys and values, and duplicated keys."""

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.key_lines: dict[Any, int] = {}
        self.value_lines: dict[Any, int] = {}
        self.duplicates: list[tuple[Any, int, int]] = []  # (key, first line, repeated line)


class LineLoader(yaml.SafeLoader):
    """SafeLoader whose mappings keep their lines and record duplicated keys.

    PyYAML silently keeps the last of two equal keys; here the first is kept and the repeat is
    recorded, for the parser to report with the context it knows (agent id, field, task).
    Keys brought in by a ``<<`` merge may be overridden: only the mapping's own keys count.
    """

    def construct_mapping(self, node: Any, deep: bool = False) -> MarkedDict:
        if not isinstance(node, yaml.MappingNode):
            raise ConstructorError(
                None, None, f"expected a mapping, but found {getattr(node, 'id', 'a scalar')}",
                node.start_mark,
            )
        own = {id(key) for key, _ in node.value if key.tag != _MERGE_TAG}
        self.flatten_mapping(node)
        result = MarkedDict(node.start_mark.line + 1)
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


LineLoader.add_constructor(
    "tag:yaml.org,2002:map",
    lambda loader, node: loader.construct_mapping(node, deep=True),  # type: ignore[arg-type]
)
