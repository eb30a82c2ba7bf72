"""The field rules of the dashboard's contract: one home for ``agents.yaml`` and ``OfficeReporter``.

``office_agent_status`` has fixed column types and lengths (:mod:`celery_office.db.models`). A value
that breaks them would be refused by the database on every write, far from where it was typed,
so each value is checked where the user gives it: the registry at load (it adds the file and
line), the reporter at construction. Each rule returns the value, normalised, or raises
:class:`~celery_office.core.errors.FieldError` saying what is wrong and what is allowed; the caller
says where.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import partial
from types import MappingProxyType
from typing import Any

from .core.errors import FieldError
from .core.limits import (
    AGENT_ID_MAX,
    BRAND_MAX,
    DEPARTMENT_MAX,
    FTE_MAX,
    NAME_MAX,
    SALARY_MAX,
    TASK_MAX,
)
from .jsonsafe import cut, unstorable_at

__all__ = ["FIELD_RULES", "SHOWN_MAX", "agent_id", "check", "describe", "fte", "salary", "text"]

SHOWN_MAX = AGENT_ID_MAX  # a value quoted in a message is cut here; a valid agent id shows whole
_AGENT_ID_RE = re.compile(r"[A-Za-z0-9_.:-]+")
_CENT = Decimal("0.01")


def describe(value: Any) -> str:
    """A value as a message quotes it: ``'abc' (str)``, ``a list``, cut to :data:`SHOWN_MAX`."""
    if value is None:
        return "null (an empty value)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{cut(repr(value), SHOWN_MAX)} ({type(value).__name__})"


def _storable(field: str, value: str) -> str:
    """PostgreSQL refuses NUL in text and no driver encodes a lone surrogate: such a value
    would make every write of the agent fail, so it is refused where it is given."""
    at = unstorable_at(value)
    if at is None:
        return value
    code = ord(value[at])
    what = "a NUL character (U+0000)" if code == 0 else f"a lone surrogate (U+{code:04X})"
    raise FieldError(
        field, f"contains {what} at character {at + 1}, which the database cannot store; remove it"
    )


def text(value: Any, *, field: str, limit: int, nullable: bool = False) -> str | None:
    """A text column: a non-blank string of at most ``limit`` characters (or None if
    ``nullable``), with no character the database cannot store."""
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        expected = "a string or null" if nullable else "a string"
        raise FieldError(field, f"expected {expected}, got {describe(value)}")
    if not value.strip():
        raise FieldError(field, "must not be empty" + ("; use null for none" if nullable else ""))
    if len(value) > limit:
        raise FieldError(field, f"must be at most {limit} characters, got {len(value)}")
    return _storable(field, value)


def agent_id(value: Any, *, field: str = "agent_id") -> str:
    """The row's key: also a name in logs, YAML and URLs, so a plain identifier."""
    if not isinstance(value, str):
        raise FieldError(field, f"must be a string, got {describe(value)}")
    if not value.strip():
        raise FieldError(field, "must not be empty")
    if len(value) > AGENT_ID_MAX:
        raise FieldError(field, f"must be at most {AGENT_ID_MAX} characters, got {len(value)}")
    _storable(field, value)
    if not _AGENT_ID_RE.fullmatch(value):
        raise FieldError(
            field, "must use only Latin letters, digits, '_', '.', ':' and '-' (no spaces)"
        )
    return value


def salary(value: Any, *, field: str = "salary_equivalent") -> int:
    """An ``INTEGER`` column of roubles per month: a whole number, never negative."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(field, f"expected an integer, got {describe(value)}")
    if value < 0:
        raise FieldError(field, f"must be 0 or more, got {value}")
    if value > SALARY_MAX:
        raise FieldError(field, f"must be at most {SALARY_MAX}, got {value}")
    return value


def fte(value: Any, *, field: str = "fte_coefficient") -> Decimal:
    """A ``NUMERIC(3, 2)`` column: a number (not text) from 0 to 9.99 with two decimals."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise FieldError(field, f"expected a number such as 1.0 or 0.5, got {describe(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise FieldError(field, f"must be a finite number, got {value}")
    if isinstance(value, Decimal) and not value.is_finite():
        raise FieldError(field, f"must be a finite number, got {value}")
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if number < 0:
        raise FieldError(field, f"must be 0 or more, got {value}")
    if number > FTE_MAX:
        raise FieldError(field, f"must be at most {FTE_MAX}, got {value}")
    if number != number.quantize(_CENT):
        raise FieldError(field, f"must have at most 2 decimal places, got {value}")
    return number.quantize(_CENT)


FIELD_RULES: Mapping[str, Callable[[Any], Any]] = MappingProxyType(
    {
        "agent_id": agent_id,
        "department": partial(text, field="department", limit=DEPARTMENT_MAX),
        "name": partial(text, field="name", limit=NAME_MAX),
        "brand": partial(text, field="brand", limit=BRAND_MAX, nullable=True),
        "salary_equivalent": salary,
        "fte_coefficient": fte,
        "task": partial(text, field="task", limit=TASK_MAX, nullable=True),
    }
)


def check(field: str, value: Any) -> Any:
    """``value`` checked by the rule of ``field`` (a key of :data:`FIELD_RULES`)."""
    return FIELD_RULES[field](value)
