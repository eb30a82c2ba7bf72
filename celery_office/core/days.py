"""Which day a moment belongs to, in the app's ``timezone``: the key of an agent's day numbers.

Shared by the worker (a run's end counts on its day) and the read side (``celery office status``
shows today). Celery's ``timezone`` setting names the zone, UTC by default.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

__all__ = ["DayClock", "today"]


class DayClock:
    """The day of an epoch time in one zone, cached for the current day.

    Why cached: every run's start and end asks, on the task's path; converting with zoneinfo
    each time costs more than the rest of the handler. Only the day's bounds are converted,
    once a day, so a change of the UTC offset (summer time) is honoured.
    """

    def __init__(self, zone: str | tzinfo = "UTC") -> None:
        self.zone = ZoneInfo(zone) if isinstance(zone, str) else zone
        self._day = date.min
        self._from = 0.0
        self._until = 0.0  # empty: the first call converts

    def day_of(self, at: float) -> date:
        """The day (in this zone) of the epoch time ``at``."""
        if self._from <= at < self._until:
            return self._day
        day = datetime.fromtimestamp(at, self.zone).date()
        start = datetime(day.year, day.month, day.day, tzinfo=self.zone).timestamp()
        end = datetime.combine(day + timedelta(days=1), datetime.min.time(), self.zone).timestamp()
        if start <= at < end:  # a zone whose midnight is skipped gets no cache for that day
            self._day, self._from, self._until = day, start, end
        return day


def today(zone: str | tzinfo = "UTC", *, now: float | None = None) -> date:
    """Today in ``zone`` (``now``: an epoch time instead of this host's clock)."""
    tz = ZoneInfo(zone) if isinstance(zone, str) else zone
    moment = datetime.now(tz) if now is None else datetime.fromtimestamp(now, tz)
    return moment.date()
