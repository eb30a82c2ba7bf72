"""Reading the tasks' records while they are written: which runs are in progress right now.

The load (revokes with terminate) and the faults (a pool process to kill) need the runs in
progress during the run, many times a second, and some faults wait for a run's end (a probe's,
or any end of a worker, to kill its process right after): :class:`RecordTail` reads only what
each process's file gained since the last look.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["RecordTail"]


class RecordTail:
    """Follows every ``*.jsonl`` file of ``directory``; keeps the starts not yet ended."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._offsets: dict[Path, int] = {}
        self._open: dict[tuple[str, int], dict[str, Any]] = {}
        self._ends: list[dict[str, Any]] = []  # every end record, in the order they were read
        self._lock = threading.Lock()

    def _read(self) -> None:
        for path in sorted(self.directory.glob("*.jsonl")):
            offset = self._offsets.get(path, 0)
            try:
                if path.stat().st_size <= offset:
                    continue  # nothing new: a stat is cheaper than an open
            except OSError:
                continue
            with open(path, "rb") as fh:
                fh.seek(offset)
                data = fh.read()
            complete = data.rfind(b"\n") + 1  # a line being written waits for the next look
            self._offsets[path] = offset + complete
            for line in data[:complete].splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                key = (record.get("id"), record.get("retries", 0))
                if record["ev"] == "start":
                    self._open[key] = record
                elif record["ev"] == "end":
                    self._open.pop(key, None)
                    self._ends.append(record)

    def open_runs(self) -> list[dict[str, Any]]:
        """Start records of the runs with no end record (their process may be dead)."""
        with self._lock:
            self._read()
            return list(self._open.values())

    def wait_end(self, match: Callable[[dict[str, Any]], bool], *, timeout: float,
                 poll: float = 0.02) -> dict[str, Any] | None:
        """The first end record read from now on that ``match`` accepts, or None after
        ``timeout`` seconds."""
        with self._lock:
            self._read()
            seen = len(self._ends)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(poll)
            with self._lock:
                self._read()
                fresh, seen = self._ends[seen:], len(self._ends)
            for record in fresh:
                if match(record):
                    return record
        return None

    def end_of(self, task_id: str) -> dict[str, Any] | None:
        """The end record of ``task_id`` read so far (its last attempt's), or None."""
        with self._lock:
            self._read()
            return next((r for r in reversed(self._ends) if r.get("id") == task_id), None)
