"""Reading the tasks' records while they are written: which runs are in progress right now.

The load (revokes with terminate) and the faults (a pool process to kill) need the runs in
progress during the run, many times a second: :class:`RecordTail` reads only what each
process's file gained since the last look.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

__all__ = ["RecordTail"]


class RecordTail:
    """Follows every ``*.jsonl`` file of ``directory``; keeps the starts not yet ended."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._offsets: dict[Path, int] = {}
        self._open: dict[tuple[str, int], dict[str, Any]] = {}
        self._lock = threading.Lock()

    def _read(self) -> None:
        for path in sorted(self.directory.glob("*.jsonl")):
            offset = self._offsets.get(path, 0)
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

    def open_runs(self) -> list[dict[str, Any]]:
        """Start records of the runs with no end record (their process may be dead)."""
        with self._lock:
            self._read()
            return list(self._open.values())
