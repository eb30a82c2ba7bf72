"""celery-office's logger, and lines that must not repeat on every task or every write."""

from __future__ import annotations

import logging
import time
from typing import Any

from celery.utils.log import get_logger

__all__ = ["logger", "log_once", "log_to_stderr"]

logger = get_logger("celery_office")
# kombu's get_logger gives every logger it makes a NullHandler. On ours it only hid lines: a
# NullHandler counts as a handler, so "has this logger a handler?" said yes where nothing was
# printed (``celery office serve`` then dropped every line), and logging's last resort, which
# prints warnings where nobody configured logging, never ran. Inside a worker nothing changes:
# our lines reach Celery's handlers through the "celery" logger, as before.
for _null in [h for h in logger.handlers if isinstance(h, logging.NullHandler)]:
    logger.removeHandler(_null)

_LOG_EVERY = 60.0  # seconds between two lines of the same kind
_last_logged: dict[str, float] = {}


def log_once(
    kind: str, message: str, *args: Any, exc_info: bool = False, level: int = logging.WARNING
) -> None:
    """Log ``message`` unless a line of the same kind was logged in the last minute."""
    now = time.monotonic()
    last = _last_logged.get(kind)
    if last is not None and now - last < _LOG_EVERY:
        return
    _last_logged[kind] = now
    logger.log(level, message, *args, exc_info=exc_info)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg,unused-ignore]
    """Ours: recognised so that a second call adds no second handler."""


def _printed(target: logging.Logger) -> bool:
    """Whether a line of ``target`` reaches a handler that prints it (not a NullHandler)."""
    current: logging.Logger | None = target
    while current is not None:
        if any(not isinstance(h, logging.NullHandler) for h in current.handlers):
            return True
        current = current.parent if current.propagate else None
    return False


def log_to_stderr(*, level: int = logging.INFO) -> None:
    """Every line of celery-office on stderr at ``level`` and above, where a process of ours
    (``celery office serve``) has no logging of its own; where the app configured logging
    (a handler on the root logger, or Celery's), the lines go there, once."""
    logger.setLevel(level)
    if not _printed(logger):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
        logger.addHandler(handler)
