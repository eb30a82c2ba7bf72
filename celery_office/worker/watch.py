"""The worker's judgement of what did not happen: missed schedules and overlong runs.

Nothing fails when a nightly task silently stops being scheduled, or when a run hangs for
hours: the signals say nothing. So the main process of each worker looks, at every heartbeat,
inside its heartbeat's transaction:

- **Overlong runs**: the tasks it runs now (Celery's own list of active requests, with their
  start times) against their limit (``max_runtime:`` in agents.yaml, else the task's
  ``soft_time_limit`` or ``time_limit``). A run past it turns its agent to warning until it
  ends.
- **Missed schedules**: every expected run of an agent (``app.conf.beat_schedule`` entries of
  its tasks, ``schedule:`` in agents.yaml) against the last start of a matching task, by the
  database clock. Whether beat runs as its own process, inside a worker, or not at all, a run
  that did not start within its grace turns the agent to warning until a matching task starts.
  Every live worker serving the agent judges alike from the same rows, so they agree: one
  warning, not one per worker.
"""

from __future__ import annotations

import copy
import fnmatch
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from ..core.statuses import MISSED, OVERLONG
from ..core.texts import RU, Words
from ..db.alerts import WATCHED_SINCE, Alert, apply_alerts, last_starts
from ..db.base import db_now
from ..db.statements import run_key
from ..registry.timing import ANY_TASK

__all__ = ["Watch", "Expected", "Limit"]



@dataclass(frozen=True)
class Expected:
    """Runs of ``task`` (a name or glob) an agent is expected to start on ``schedule``."""

    agent_id: str
    task: str
    text: str
    schedule: Any  # celery.schedules.schedule or crontab
    grace: float


@dataclass(frozen=True)
class Limit:
    """How long a run of a task may take before its agent deserves a look."""

    agent_id: str
    text: str
    seconds: float


class Watch:
    """Judges this worker's agents; built by the bootstep, called by the duties at each beat."""

    def __init__(
        self,
        *,
        expected: Iterable[Expected],
        limits: Mapping[str, Limit],
        timezone: str = "UTC",
        words: Words = RU,
    ) -> None:
        self.expected = tuple(expected)
        self.limits = dict(limits)  # task name -> limit
        self.timezone = timezone
        self.words = words
        self.watched_agents = frozenset(e.agent_id for e in self.expected)

    def __bool__(self) -> bool:
        return bool(self.expected or self.limits)

    def judge(self, conn: Any, *, node_name: str, running: Iterable[Any]) -> list[str]:
        """Set and clear this worker's alerts; returns the agents whose row changed."""
        desired: dict[str, dict[tuple[str, str], Alert]] = {}
        judged: set[tuple[str, str]] = {
            (limit.agent_id, OVERLONG) for limit in self.limits.values()
        }
        for agent_id, alert in self._overlong(running):
            desired.setdefault(agent_id, {})[(OVERLONG, alert.subject)] = alert
        if self.expected:
            now = conn.execute(select(db_now())).scalar_one()
            starts = last_starts(conn, self.watched_agents)
            judged |= {(agent_id, MISSED) for agent_id in self.watched_agents}
            for agent_id, alert in self._missed(now, starts):
                desired.setdefault(agent_id, {}).setdefault((MISSED, alert.subject), alert)
        if not judged:
            return []
        return apply_alerts(conn, desired, judged=judged, node_name=node_name)

    def _overlong(self, running: Iterable[Any]) -> Iterable[tuple[str, Alert]]:
        now = time.time()
        for request in running:
            limit = self.limits.get(getattr(request, "name", None) or "")
            started = getattr(request, "time_start", None)
            if limit is None or not started or getattr(request, "id", None) is None:
                continue
            took = now - started
            if took > limit.seconds:
                text = self.words.overlong_text(limit.text, took, limit.seconds)
                yield limit.agent_id, Alert(OVERLONG, run_key(request.id), text)

    def _missed(
        self, now: datetime, starts: Mapping[str, Mapping[str, datetime]]
    ) -> Iterable[tuple[str, Alert]]:
        for expected in sorted(self.expected, key=lambda e: (e.agent_id, e.task)):
            seen = starts.get(expected.agent_id, {})
            last = seen.get(WATCHED_SINCE, now)
            for task_name, at in seen.items():
                if (task_name != WATCHED_SINCE and at > last
                        and fnmatch.fnmatchcase(task_name, expected.task)):
                    last = at
            due = next_due(expected.schedule, last, now)
            if due + timedelta(seconds=expected.grace) < now:
                shown = due.astimezone(ZoneInfo(self.timezone)).strftime("%Y-%m-%d %H:%M:%S")
                text = self.words.missed_text(expected.text, shown, self.timezone)
                yield expected.agent_id, Alert(MISSED, expected.task, text)


def next_due(schedule: Any, last: datetime, now: datetime) -> datetime:
    """When the first run after ``last`` was due, by ``now`` as the database tells it (not
    the worker's clock): Celery's own schedule arithmetic, its clock replaced."""
    judged = copy.copy(schedule)
    judged.nowfun = lambda: now
    return now + judged.remaining_estimate(last)


def any_task_text(agent: Any) -> str:
    """What an agent-wide expectation (``schedule:`` without ``task:``) is called: its name."""
    return str(agent.name)


def task_text(agent: Any, pattern: str) -> str:
    """The registry's text for a task pattern, else the pattern itself."""
    if pattern == ANY_TASK:
        return any_task_text(agent)
    text = agent.tasks.get(pattern)
    return text if text else pattern


def watch_for(
    app: Any, routes: Mapping[str, Any], *, schedule_grace: float, words: Words = RU
) -> Watch:
    """The expectations and limits of the agents this worker serves: from the app's beat
    schedule and task limits, and from agents.yaml (``schedule:``, ``grace:``,
    ``max_runtime:``)."""
    agents = {route.agent.agent_id: route.agent for route in routes.values()}
    expected = []
    for entry in (app.conf.get("beat_schedule") or {}).values():
        route = routes.get(str(entry.get("task"))) if isinstance(entry, Mapping) else None
        schedule = _as_schedule(entry.get("schedule")) if route is not None else None
        if route is None or schedule is None:
            continue
        grace = route.agent.grace or schedule_grace
        expected.append(Expected(route.agent.agent_id, entry["task"], route.text, schedule, grace))
    for agent in agents.values():
        for spec in agent.schedules:
            grace = agent.grace or schedule_grace
            expected.append(
                Expected(agent.agent_id, spec.task, task_text(agent, spec.task), spec.schedule,
                         grace)
            )
    limits = {}
    for task_name, route in routes.items():
        seconds = _limit_of(app, task_name, route.agent)
        if seconds:
            limits[task_name] = Limit(route.agent.agent_id, route.text, seconds)
    return Watch(expected=expected, limits=limits, timezone=str(app.conf.timezone or "UTC"),
                 words=words)


def _as_schedule(value: Any) -> Any:
    """A beat entry's schedule as an object with Celery's schedule arithmetic, or None."""
    from celery.schedules import schedule

    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return schedule(timedelta(seconds=value))
    if isinstance(value, timedelta):
        return schedule(value)
    return value if hasattr(value, "remaining_estimate") else None


def _limit_of(app: Any, task_name: str, agent: Any) -> float | None:
    """``max_runtime:`` for the task (exact name, then a glob, then the agent's own), else
    the task's soft or hard time limit, whichever comes first."""
    limits = agent.max_runtime
    if task_name in limits:
        return float(limits[task_name])
    for pattern, seconds in limits.items():
        if pattern != ANY_TASK and fnmatch.fnmatchcase(task_name, pattern):
            return float(seconds)
    if ANY_TASK in limits:
        return float(limits[ANY_TASK])
    task = app.tasks.get(task_name)
    found = [
        getattr(task, "soft_time_limit", None) or app.conf.get("task_soft_time_limit"),
        getattr(task, "time_limit", None) or app.conf.get("task_time_limit"),
    ]
    numbers = [
        float(v) for v in found
        if isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < math.inf
    ]
    return min(numbers) if numbers else None
