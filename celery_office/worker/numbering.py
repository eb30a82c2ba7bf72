"""The numbers a process's flushes go under, so each lands exactly once whatever the clocks say.

A writer number is handed out by the database (``office_writer``) at the process's first flush,
and the flushes are numbered from 1 under it: a restarted worker is never taken for its former
self (whose numbers came from its own clock in 0.2.0, so a clock behind meant every flush was
skipped in silence), and two live workers sharing one node name never skip each other's
flushes. A flush the database cannot place under its writer number (the row deleted, the
number changed by hand) is refused aloud: said here in one line, and the next flush goes under
a new writer number.
"""

from __future__ import annotations

import logging

from ..db.workers import FlushId
from ..logs import log_once
from ..render import first_line
from .registration import Registration

__all__ = ["FlushNumbers"]


class FlushNumbers:
    """The flush numbers of one process writing as ``node_name`` (None: not numbered, as a
    process that is no worker's); its writer number lives with ``registration``."""

    def __init__(self, registration: Registration, node_name: str | None) -> None:
        self.registration = registration
        self.node_name = node_name
        self.reset()

    def reset(self) -> None:
        """Fresh state: at construction and in a child after ``fork()``."""
        self._seq = 0  # the last flush number under the writer number _numbered_for
        self._numbered_for: int | None = None

    def ready(self) -> bool:
        """A writer number taken (from the database, if this process has none yet)."""
        if self.node_name is None or self.registration.writer is not None:
            return True
        return self.registration.take_writer(self.node_name)

    def next(self) -> FlushId | None:
        """The next flush's number (None: not numbered, or no writer number yet)."""
        writer = self.registration.writer
        if self.node_name is None or writer is None:
            return None
        if writer != self._numbered_for:
            self._numbered_for, self._seq = writer, 0
        self._seq += 1
        return FlushId(writer, self._seq)

    def refused(self, flush: FlushId | None, error: BaseException | None) -> None:
        """The database refused ``flush`` for its writer (its row deleted, or its number not
        after the writer's last): nothing of it was written. Said in one line; the next write
        takes a new writer number and sends the changes again."""
        log_once(
            f"writer-refused:{self.node_name}",
            "celery-office: the database refused a status write of worker %s (%s); nothing "
            "of it was written: the worker takes a new writer number and writes it again",
            self.node_name, first_line(getattr(error, "orig", None) or error),
            level=logging.WARNING,
        )
        if flush is not None and self.registration.writer == flush.writer:
            self.registration.writer = None
