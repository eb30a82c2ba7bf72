"""Small value helpers shared by the reporter and the worker: JSON-safe metrics, fitted texts."""

from __future__ import annotations

import enum
import math
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from .core.limits import TASK_MAX
from .render import safe_str, type_name

__all__ = ["json_safe", "metrics_dict", "fit_text", "cut", "unstorable_at"]

ELLIPSIS = "…"
_INT_DIGITS = 4000  # longer whole Decimals become floats: Python's JSON refuses huge ints
_INT_BITS = 13000  # about 3,900 digits


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _no_nul(text: str) -> str:
    """Text any database stores: NUL (PostgreSQL rejects it in text and JSONB) and lone
    surrogates (no driver encodes them; ``surrogateescape`` puts them in file names and
    messages) become the replacement character."""
    if text.isascii() and "\x00" not in text:
        return text
    return _UNSTORABLE.sub("\ufffd", text)


def fit_text(text: str | None, limit: int = TASK_MAX) -> str | None:
    """Cut ``text`` to ``limit`` characters, marking the cut with an ellipsis.

    The column is ``VARCHAR(255)``: a long exception message must never turn a status write into
    an error.
    """
    if text is None:
        return None
    text = _no_nul(safe_str(text))
    if len(text) <= limit:
        return text
    return text[: limit - 1] + ELLIPSIS


def json_safe(value: Any) -> Any:
    """``value`` made of what JSON can encode: dicts with string keys, lists, str, numbers, None.

    Decimal becomes int or float, datetimes ISO 8601 text, UUIDs text, sets and tuples lists,
    NaN and infinities None (PostgreSQL's JSONB rejects them); anything else its ``str()``.
    Subclasses of str, int and float become the plain type: their overridden methods are the
    user's code, and must not run (and fail) later, in the writer or a log line.
    """
    if isinstance(value, str):
        return _no_nul(str.__str__(value))
    if value is None or isinstance(value, bool):
        return None if value is None else bool(int.__int__(value))
    if isinstance(value, int):
        # Python refuses to print ints of over 4,300 digits (and JSON has no use for them)
        return int.__int__(value) if int.bit_length(value) < _INT_BITS else None
    if isinstance(value, float):
        number = float.__float__(value)
        return number if math.isfinite(number) else None
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None
        if value == value.to_integral_value() and value.adjusted() < _INT_DIGITS:
            return int(value)
        number = float(value)
        return number if math.isfinite(number) else str(value)
    if isinstance(value, Mapping):
        return {_no_nul(safe_str(k)): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=safe_str) if isinstance(value, (set, frozenset)) else value
        return [json_safe(v) for v in items]
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return json_safe(value.value)
    if isinstance(value, bytes):
        return _no_nul(bytes(value).decode("utf-8", errors="replace"))
    return _no_nul(safe_str(value))


def metrics_dict(metrics: Any, *, hint: str = "") -> dict[str, Any] | None:
    """The one rule of metrics (the reporter's argument, ``progress()``, ``@metrics``): None
    keeps the agent's metrics, a mapping becomes JSON-safe, anything else is a TypeError
    saying so (with ``hint``: what to do instead)."""
    if metrics is None:
        return None
    if not isinstance(metrics, Mapping):
        fix = f": {hint}" if hint else ""
        raise TypeError(
            f"metrics must be a dict of JSON-compatible values, got {type_name(metrics)}{fix}"
        )
    return json_safe(metrics)


def cut(text: str, limit: int, *, width: Callable[[str], int] | None = None) -> str:
    """``text`` within ``limit`` characters, the cut marked with an ellipsis: the one way
    celery-office shortens what it shows (values in error messages, table cells).

    ``width`` counts the columns of one character (wide East Asian characters take two in a
    terminal); without it every character counts one.
    """
    if width is None:
        if len(text) <= limit:
            return text
        return text[: limit - 1] + ELLIPSIS if limit > 0 else ""
    if sum(map(width, text)) <= limit:
        return text
    if limit <= 0:
        return ""
    kept, used = [], 0
    for ch in text:
        used += width(ch)
        if used > limit - 1:
            break
        kept.append(ch)
    return "".join(kept) + ELLIPSIS


def unstorable_at(text: str) -> int | None:
    """Index of the first character no database stores in text (NUL, a lone surrogate), or
    None: the same characters ``fit_text`` and ``json_safe`` replace."""
    found = _UNSTORABLE.search(text)
    return None if found is None else found.start()
