"""The keys agents.yaml knows, the checks of their values, and hints for the wrong ones.

The rules of the values themselves live in :mod:`celery_office.validation`, shared with
``OfficeReporter``; here only what the YAML file adds (which keys exist, defaults, and what to
say about a misspelt key or an unquoted value).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from .. import validation
from ..core.changes import AGENT_FIELDS
from ..core.limits import DEPARTMENT_MAX, NAME_MAX

__all__ = [
    "DEFAULT_SETTING_HINT", "TOP_KEYS", "AGENT_KEYS", "TIMING_KEYS", "DEFAULT_KEYS",
    "REQUIRED_KEYS", "BUILTIN_DEFAULTS", "TEXT_FIELDS", "FIELD_CHECKS", "quote_hint", "duplicate",
    "suggest", "unknown_key",
]

DEFAULT_SETTING_HINT = "office_agents_file / OFFICE_AGENTS_FILE"

TOP_KEYS = ("defaults", "agents")
TIMING_KEYS = ("schedule", "grace", "max_runtime")  # see registry/timing.py
AGENT_KEYS = (*AGENT_FIELDS[1:], "tasks", *TIMING_KEYS)  # the agent id is the mapping's key
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


TEXT_FIELDS = frozenset({"department", "name", "brand"})
FIELD_CHECKS: Mapping[str, Callable[[Any], Any]] = MappingProxyType(
    {key: validation.FIELD_RULES[key] for key in (*TEXT_FIELDS, *DEFAULT_KEYS)}
)


def quote_hint(value: Any) -> str:
    """YAML reads ``no``, ``012`` or ``2024-01-01`` as non-strings: tell the user to quote."""
    if value is None or isinstance(value, (str, dict, list)):
        return ""
    return "; put the value in quotes if it is meant as text"


def duplicate(first: int) -> str:
    return f"key (first defined at line {first}); keep one"


def suggest(key: Any, allowed: list[str]) -> list[str]:
    """Close spellings, else keys that the given one abbreviates (``salary``, ``fte``)."""
    given = str(key).lower()
    close = difflib.get_close_matches(given, allowed, n=1)
    if close or len(given) < 3:
        return close
    return [name for name in allowed if name.startswith(given)][:1]


def unknown_key(key: Any, allowed: Iterable[str]) -> str:
    allowed = list(allowed)
    close = suggest(key, allowed)
    if close:
        return f"unknown key (did you mean '{close[0]}'?)"
    return "unknown key; allowed keys: " + ", ".join(allowed)
