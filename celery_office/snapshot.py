"""The office as data: counts, the salary equivalent, and the JSON of ``celery office status
--json``, which ``/api/agents`` of the office page returns unchanged.

Why here and not in the CLI: the web app and the terminal show the same office, so one builder
serves both, and the web app imports it without the command line's modules.

A status value a team added to the dashboard's enum (say ``'paused'``) is shown as it is and
counted after the four of the spec.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from .core.statuses import AgentStatus
from .core.texts import PREFIXES, human_duration
from .db.daily import DayNumbers
from .db.read import AgentRow
from .jsonsafe import json_safe

__all__ = [
    "STATUS_ORDER", "status_name", "salary_total", "salary_of", "status_counts", "alert_of",
    "agent_json", "today_json", "status_json", "failing", "stale_json", "by_department",
    "since_of",
]


STATUS_ORDER = (AgentStatus.ok, AgentStatus.warning, AgentStatus.error, AgentStatus.offline)


def status_name(status: Any) -> str:
    """A status as text: one of the spec's four, or a value a team added to the enum."""
    return status.value if isinstance(status, AgentStatus) else str(status)


def salary_of(row: AgentRow) -> Decimal:
    """salary_equivalent x fte_coefficient, zero while the agent is (effectively) offline."""
    if row.effective_status is AgentStatus.offline:
        return Decimal(0)
    fte = Decimal(1) if row.fte_coefficient is None else Decimal(str(row.fte_coefficient))
    return Decimal(row.salary_equivalent or 0) * fte


def salary_total(rows: Iterable[AgentRow]) -> Decimal:
    """Sum of salary_equivalent x fte_coefficient of the agents not (effectively) offline."""
    return sum((salary_of(row) for row in rows), Decimal(0))


def by_department(rows: Iterable[AgentRow]) -> dict[str, dict[str, Any]]:
    """Each department's agents and salary total (:func:`salary_of`), by department."""
    found: dict[str, tuple[int, Decimal]] = {}
    for row in rows:
        agents, salary = found.get(row.department, (0, Decimal(0)))
        found[row.department] = (agents + 1, salary + salary_of(row))
    return {department: {"agents": agents, "salary_equivalent": json_safe(salary)}
            for department, (agents, salary) in sorted(found.items())}


# the kinds a warning's task text names (the worker writes them: core.texts), first match wins
_PREFIXES = tuple((kind, PREFIXES[kind]) for kind in ("overlong", "missed", "retry"))


def alert_of(row: AgentRow, alerts: Sequence[str] = ()) -> str | None:
    """Why a warning is one: its first active alert (``overlong``, ``missed``), else what its
    task text says (``retry`` too); None for an agent not in warning."""
    if row.effective_status is not AgentStatus.warning:
        return None
    if alerts:
        return alerts[0]
    for kind, prefix in _PREFIXES:
        if row.task and row.task.startswith(prefix):  # a tuple: any language's
            return kind
    return None


def status_counts(rows: Iterable[AgentRow]) -> dict[str, int]:
    """How many agents have each effective status; every status present, in a fixed order."""
    counts = {status.value: 0 for status in STATUS_ORDER}
    for row in rows:
        name = status_name(row.effective_status)
        counts[name] = counts.get(name, 0) + 1
    return counts


def agent_json(
    row: AgentRow, *, alerts: Sequence[str] = (), since: datetime | None = None,
    last_error: str | None = None,
) -> dict[str, Any]:
    """One agent of ``{"agents": [...]}``: every value JSON-encodable as is. ``alert``: why
    a warning is one (:func:`alert_of`); ``since``: when its current status began (the
    timeline's open period), null when not known; ``last_error``: the error an agent now
    offline was in before (its row's task, or the timeline's when going offline cleared it)."""
    if last_error is None and row.effective_status is AgentStatus.offline \
            and row.status is AgentStatus.error:
        last_error = row.task
    return {
        "agent_id": row.agent_id,
        "department": row.department,
        "name": row.name,
        "brand": row.brand,
        "status": status_name(row.status),
        "effective_status": status_name(row.effective_status),
        "task": row.task,
        "metrics": json_safe(row.metrics or {}),
        "salary_equivalent": row.salary_equivalent,
        "fte_coefficient": json_safe(row.fte_coefficient),
        "last_activity": json_safe(row.last_activity),
        "silent_for": None if row.silent_for is None else round(row.silent_for, 3),
        "updated_at": json_safe(row.updated_at),
        "today": today_json(row.today),
        "alert": alert_of(row, alerts),
        "since": json_safe(since),
        "last_error": last_error,
    }


def today_json(numbers: DayNumbers | None) -> dict[str, Any]:
    """An agent's numbers of today for ``--json``: always these seven keys, zeros when it ran
    nothing (or when they were not read)."""
    numbers = numbers or DayNumbers()
    return {
        "runs": numbers.runs,
        "succeeded": numbers.succeeded,
        "failed": numbers.failed,
        "retried": numbers.retried,
        "revoked": numbers.revoked,
        "runtime_s": round(numbers.runtime_s, 3),
        "max_runtime_s": round(numbers.max_runtime_s, 3),
    }


def status_json(
    rows: Sequence[AgentRow],
    *,
    offline_after: float,
    departments: Sequence[str] = (),
    brands: Sequence[str] = (),
    now: datetime | None = None,
    fail_on: Sequence[str] = (),
    alerts: Mapping[str, Sequence[str]] | None = None,
    since: Mapping[str, datetime] | None = None,
    last_errors: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``{"agents": [...], "summary": {...}}``: every value JSON-encodable as is. With
    ``fail_on`` (the health check) the summary names it and the agents ``failing`` it;
    ``alerts``, ``since`` and ``last_errors`` (by agent id) as the office page's reader has
    them."""
    alerts, since, last_errors = alerts or {}, since or {}, last_errors or {}
    now = now or datetime.now(timezone.utc)
    summary: dict[str, Any] = {
        "total": len(rows),
        "counts": status_counts(rows),
        "salary_equivalent": json_safe(salary_total(rows)),
        "currency": "RUB",
        "offline_after": offline_after,
        "departments": list(departments),
        "brands": list(brands),
        "generated_at": now.isoformat(),
        "by_department": by_department(rows),
    }
    if fail_on:
        summary["fail_on"] = list(fail_on)
        summary["failing"] = [row.agent_id for row in failing(rows, fail_on)]
    agents = [agent_json(row, alerts=alerts.get(row.agent_id, ()), since=since_of(row, since),
                         last_error=last_errors.get(row.agent_id)) for row in rows]
    return {"agents": agents, "summary": summary}


def since_of(row: AgentRow, since: Mapping[str, datetime]) -> datetime | None:
    """When the agent's effective status began: its timeline's open period, or its last
    activity when silence, not a write, made it offline."""
    if row.effective_status is AgentStatus.offline and row.status is not AgentStatus.offline:
        return row.last_activity
    return since.get(row.agent_id)


def failing(rows: Iterable[AgentRow], fail_on: Sequence[str]) -> list[AgentRow]:
    """The agents whose effective status is one of ``fail_on`` (``--fail-on``)."""
    return [row for row in rows if status_name(row.effective_status) in fail_on]


def stale_json(*, age: float, reason: str, language: str = "ru") -> dict[str, Any]:
    """``"stale"`` of the office page's ``/api/agents`` while the database does not answer:
    how old the snapshot shown is (seconds, and as people read it) and why it is not newer
    (no secret)."""
    return {"age_s": round(age, 3), "reason": reason, "age": human_duration(age, style="long",
                                                                      language=language)}
