"""celery-office's logger, and lines that must not repeat on every task or every write."""

from __future__ import annotations

import logging
import time
from typing import Any

from celery.utils.log import get_logger

__all__ = ["logger", "log_once"]

logger = get_logger("celery_office")

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
