"""Text from objects the user's code hands us, rendered without ever failing.

Exceptions, retry reasons and metric values come from task code and the libraries it calls: a
``__str__`` that raises (a missing attribute in a buggy library's exception is enough), returns
a non-string, or a ``__name__`` that is not text must never keep a failure from being recorded,
nor break a log line. Everything here returns a plain ``str`` whatever it is given.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["safe_str", "type_name", "describe", "first_line", "one_line"]


def type_name(value: Any) -> str:
    """The name of ``value``'s class, as plain text."""
    try:
        return str.__str__(type(value).__name__)
    except Exception:
        return "object"


def safe_str(value: Any) -> str:
    """``str(value)`` as a plain ``str``; its ``repr`` when that fails; at worst the type's name."""
    if type(value) is str:
        return value
    for render in (str, repr):
        try:
            text = render(value)
        except Exception:
            continue
        if isinstance(text, str):
            return str.__str__(text)  # a str subclass could override what it prints later
    return f"<unprintable {type_name(value)}>"


def describe(exc: Any) -> str:
    """``ExceptionType: message``, the way the dashboard shows a failure; the type alone when
    the message is empty or cannot be rendered at all."""
    if not isinstance(exc, BaseException):
        return safe_str(exc)
    name = type_name(exc)
    try:
        text = str(exc)
        if not isinstance(text, str):
            raise TypeError("__str__ returned a non-string")
        text = str.__str__(text).strip()
    except Exception:
        text = _args_text(exc)
    return f"{name}: {text}" if text else name


def _args_text(exc: BaseException) -> str:
    """What can be rendered of an exception whose ``__str__`` fails: its arguments."""
    try:
        args = tuple(exc.args)
    except Exception:
        return ""
    parts = [safe_str(arg) for arg in args]
    return ", ".join(p for p in parts if not p.startswith("<unprintable ")).strip()


def first_line(exc: Any) -> str:
    """The first line of ``exc``'s message, for a one-line log entry."""
    lines = safe_str(exc).strip().splitlines()
    return lines[0] if lines else ""


def one_line(text: Any) -> str:
    """``text`` on one line: whitespace runs collapsed, SQLAlchemy's doc links dropped."""
    text = re.sub(r"\s*\(Background on this error at: [^)]*\)", "", safe_str(text))
    return re.sub(r"\s+", " ", text).strip()

