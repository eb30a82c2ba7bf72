"""The office as the page, the API and the metrics read it: one snapshot, shared for a moment.

Why shared: every open page polls, and Prometheus scrapes; the database should see one read a
second, however many readers there are. Why bounded: the engine's connect and statement
timeouts bound every wait, so a hung database answers the page with an error, not silence.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from ..core.days import today
from ..db.engine import db_error_reason, is_missing_table, safe_url
from ..db.read import AgentRow, active_alerts, agent_statuses
from ..core.errors import OfficeError

__all__ = ["OfficeReader", "Snapshot", "ReadError", "MIGRATE_HINT"]

MIGRATE_HINT = "run `celery -A <app> office migrate` (or start a worker) to create the tables"


class ReadError(OfficeError):
    """The office could not be read: one line, the database's URL without its password."""


@dataclass(frozen=True)
class Snapshot:
    """Every agent (with today's numbers) and its active alerts, as read at ``taken_at``."""

    rows: list[AgentRow]
    alerts: dict[str, tuple[str, ...]] = field(default_factory=dict)
    taken_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


class OfficeReader:
    """Reads snapshots of the office, at most one per ``max_age`` seconds.

    Parameters:
        engine: a read engine (:func:`~celery_office.db.engine.create_read_engine`).
        offline_after: silence (seconds) after which an agent reads as offline.
        timezone: the zone whose day "today" is (the app's ``timezone``).
        max_age: seconds a snapshot is served before the next read.
    """

    def __init__(
        self, engine: Engine, *, offline_after: float, timezone: str = "UTC",
        max_age: float = 1.0,
    ) -> None:
        self.engine = engine
        self.offline_after = offline_after
        self.timezone = timezone
        self.max_age = max_age
        self._lock = threading.Lock()
        self._last: Snapshot | None = None
        self._last_at = 0.0

    @property
    def where(self) -> str:
        return safe_url(self.engine)

    def snapshot(self) -> Snapshot:
        """The office now, or a snapshot younger than ``max_age``; :class:`ReadError` when the
        database cannot be read."""
        with self._lock:
            if self._last is not None and time.monotonic() - self._last_at < self.max_age:
                return self._last
            snapshot = self._read()
            self._last, self._last_at = snapshot, time.monotonic()
            return snapshot

    def _read(self) -> Snapshot:
        try:
            with self.engine.connect() as conn:
                rows = agent_statuses(conn, self.offline_after, day=today(self.timezone))
                alerts = active_alerts(conn)
        except SQLAlchemyError as exc:
            raise self._error("cannot read the office from", exc) from None
        except (LookupError, ValueError, TypeError) as exc:  # e.g. a value no type reads
            raise ReadError(f"cannot read the office from {self.where}: "
                            f"{type(exc).__name__}: {exc}") from None
        return Snapshot(rows, alerts)

    def problem(self) -> str | None:
        """Why the database does not answer (one line, no password), or None when it does."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            return str(self._error("cannot reach", exc))
        return None

    def _error(self, doing: str, exc: BaseException) -> ReadError:
        hint = f"; {MIGRATE_HINT}" if is_missing_table(exc) else ""
        return ReadError(f"{doing} {self.where}: {db_error_reason(exc, self.engine)}{hint}")
