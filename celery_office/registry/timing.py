"""The timing keys of an agent in agents.yaml: ``schedule:``, ``grace:`` and ``max_runtime:``.

Why here and not in Celery's beat: these say what the office must *expect* of an agent whose
tasks another scheduler starts (cron on a host, a Kubernetes CronJob, a web hook), and how long a
run may take before it deserves a look. Each value is checked when the file is read and a bad
one raises :class:`TimingError` with what to write instead; the parser adds file and line.

Durations are seconds as a number, or text such as ``90s``, ``30m``, ``2h``, ``1d``. A schedule
is a cron expression of five fields (``"0 3 * * *"``, in the app's timezone), a duration
(``every 15m``, or just ``15m``), or a list of them; an entry may be limited to a task pattern:
``{cron: "0 3 * * *", task: "app.tasks.cfo.*"}``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from celery.schedules import crontab, schedule

__all__ = ["TimingError", "ScheduleSpec", "parse_duration", "parse_schedules", "parse_limits"]

_DURATION = re.compile(r"^\s*(?:every\s+)?(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$", re.IGNORECASE)
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
ANY_TASK = "*"
MAX_DURATION_DAYS = 366  # a longer grace, limit or interval is a typo, and past Celery's
MAX_DURATION = MAX_DURATION_DAYS * 86400.0  # and Python's date arithmetic it overflows


class TimingError(ValueError):
    """A timing value that cannot be read; the message says what to write."""


class DurationOutOfRange(TimingError):
    """A duration that reads as one but is infinite, not a number, or longer than allowed."""


@dataclass(frozen=True)
class ScheduleSpec:
    """When runs of an agent's tasks (those ``task`` matches) are expected to start."""

    task: str  # a task name or glob; "*" is any task of the agent
    text: str  # as written, for messages
    schedule: Any  # a celery.schedules.schedule or crontab


def parse_duration(value: Any) -> float:
    """Seconds from ``90``, ``1.5``, ``"90s"``, ``"30m"``, ``"2h"``, ``"1d"``."""
    if isinstance(value, bool) or value is None:
        raise TimingError(f"expected a duration such as 90, '90s', '30m' or '2h', got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if match is None:
            raise TimingError(
                f"expected a duration such as 90, '90s', '30m' or '2h', got {value!r}"
            )
        seconds = float(match.group(1)) * _UNIT[(match.group(2) or "").lower() or None]
    if math.isnan(seconds) or math.isinf(seconds):
        raise DurationOutOfRange(
            f"expected a finite duration such as 90, '90s', '30m' or '2h', got {value!r}"
        )
    if not seconds > 0:
        raise TimingError(f"a duration must be positive, got {value!r}")
    if seconds > MAX_DURATION:
        raise DurationOutOfRange(
            f"a duration must be at most {MAX_DURATION_DAYS} days ('{MAX_DURATION_DAYS}d'), "
            f"got {value!r}"
        )
    return seconds


def _one_schedule(value: Any, task: str) -> ScheduleSpec:
    if isinstance(value, str) and len(value.split()) == 5:
        minute, hour, day_of_month, month_of_year, day_of_week = value.split()
        try:
            cron = crontab(minute=minute, hour=hour, day_of_month=day_of_month,
                           month_of_year=month_of_year, day_of_week=day_of_week)
        except Exception as exc:  # celery's own words for a bad field
            raise TimingError(f"not a valid cron expression {value!r}: {exc}") from None
        return ScheduleSpec(task, value, cron)
    try:
        every = parse_duration(value)
    except DurationOutOfRange:
        raise  # a duration after all: its own words say what is wrong with it
    except TimingError:
        raise TimingError(
            f"expected a cron expression of five fields such as '0 3 * * *', or an interval "
            f"such as 'every 15m', got {value!r}"
        ) from None
    text = str(value) if str(value).lower().startswith("every") else f"every {value}"
    return ScheduleSpec(task, text, schedule(timedelta(seconds=every)))


def parse_schedules(value: Any) -> tuple[ScheduleSpec, ...]:
    """``schedule:`` as a tuple of specs (a single entry, or a list of entries)."""
    entries = value if isinstance(value, list) else [value]
    if not entries:
        raise TimingError("an empty schedule; remove the key, or give a cron expression")
    specs = []
    for entry in entries:
        if isinstance(entry, Mapping):
            unknown = set(entry) - {"cron", "every", "task"}
            kinds = [k for k in ("cron", "every") if k in entry]
            if unknown or len(kinds) != 1:
                raise TimingError(
                    "a schedule entry is {cron: '0 3 * * *'} or {every: 15m}, with an optional "
                    f"task: pattern; got {dict(entry)!r}"
                )
            task = entry.get("task", ANY_TASK)
            if not isinstance(task, str) or not task:
                raise TimingError(f"task: must be a task name or glob pattern, got {task!r}")
            raw = entry[kinds[0]]
            if kinds[0] == "cron" and not (isinstance(raw, str) and len(raw.split()) == 5):
                raise TimingError(f"cron: expects five fields such as '0 3 * * *', got {raw!r}")
            if kinds[0] == "every":
                parse_duration(raw)  # an interval, never read as a cron expression
                raw = raw if isinstance(raw, str) else f"{raw}s"
            specs.append(_one_schedule(raw, task))
        else:
            specs.append(_one_schedule(entry, ANY_TASK))
    return tuple(specs)


def parse_limits(value: Any) -> dict[str, float]:
    """``max_runtime:``: one duration for every task of the agent, or pattern -> duration."""
    if isinstance(value, Mapping):
        limits = {}
        for pattern, duration in value.items():
            if not isinstance(pattern, str) or not pattern:
                raise TimingError(f"a task name or glob pattern is expected, got {pattern!r}")
            limits[pattern] = parse_duration(duration)
        if not limits:
            raise TimingError("an empty max_runtime; remove the key, or give a duration")
        return limits
    return {ANY_TASK: parse_duration(value)}
