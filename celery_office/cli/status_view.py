"""What ``celery office status`` shows: the table's cells and colours, the footer, the JSON.

A status value a team added to the dashboard's enum (say ``'paused'``) is shown as it is,
uncoloured, and counted after the four of the spec.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import click

from ..render import counted
from ..db.daily import DayNumbers
from ..db.models import AgentStatus
from ..db.read import AgentRow
from ..jsonsafe import json_safe
from .table import Styler, render_table

__all__ = [
    "human_duration", "format_amount", "salary_total", "status_counts", "compact_metrics",
    "status_table", "status_footer", "status_json", "today_json", "failing"
]


THIN_SPACE = "\u2009"


EMPTY = "—"


STATUS_ORDER = (AgentStatus.ok, AgentStatus.warning, AgentStatus.error, AgentStatus.offline)


STATUS_STYLE: Mapping[str, dict[str, Any]] = {
    AgentStatus.ok.value: {"fg": "green"},
    AgentStatus.warning.value: {"fg": "yellow"},
    AgentStatus.error.value: {"fg": "red", "bold": True},
    AgentStatus.offline.value: {"fg": "bright_black"},
}


# TODAY and FAIL: the agent's runs started and runs failed today (the app's timezone); short
# headers, so the table still fits 100 columns with room for the task
HEADERS = (
    "AGENT", "DEPARTMENT", "BRAND", "STATUS", "LAST SEEN", "TODAY", "FAIL", "TASK", "METRICS"
)
STATUS_COLUMN = HEADERS.index("STATUS")


SHRINKABLE = (HEADERS.index("TASK"), HEADERS.index("METRICS"))  # cut to fit the terminal


def status_name(status: Any) -> str:
    """A status as text: one of the spec's four, or a value a team added to the enum."""
    return status.value if isinstance(status, AgentStatus) else str(status)


def human_duration(seconds: float | None) -> str:
    """``5s``, ``3m``, ``2h``, ``4d``: the largest whole unit (rounded down); ``None`` -> ``—``."""
    if seconds is None:
        return EMPTY
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def format_amount(value: Decimal | int | float) -> str:
    """A whole amount with thin-space thousands separators: ``345 000`` (``-1 500``)."""
    whole = int(Decimal(str(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return f"{whole:,}".replace(",", THIN_SPACE)


def salary_total(rows: Iterable[AgentRow]) -> Decimal:
    """Sum of salary_equivalent x fte_coefficient of the agents not (effectively) offline."""
    total = Decimal(0)
    for row in rows:
        if row.effective_status is AgentStatus.offline:
            continue
        fte = Decimal(1) if row.fte_coefficient is None else Decimal(str(row.fte_coefficient))
        total += Decimal(row.salary_equivalent or 0) * fte
    return total


def status_counts(rows: Iterable[AgentRow]) -> dict[str, int]:
    """How many agents have each effective status; every status present, in a fixed order."""
    counts = {status.value: 0 for status in STATUS_ORDER}
    for row in rows:
        name = status_name(row.effective_status)
        counts[name] = counts.get(name, 0) + 1
    return counts


def _metric_value(value: Any) -> str:
    if isinstance(value, str) and value and not re.search(r"[\s,=\"]", value):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def compact_metrics(metrics: Mapping[str, Any] | None) -> str:
    """``errors=0, products_scanned=150``: the metrics as a short ``k=v`` list, keys sorted
    (PostgreSQL's JSONB keeps no order of its own)."""
    if not metrics:
        return ""
    return ", ".join(f"{key}={_metric_value(metrics[key])}" for key in sorted(metrics, key=str))


def _row_cells(row: AgentRow) -> list[str]:
    seen = EMPTY if row.silent_for is None else f"{human_duration(row.silent_for)} ago"
    return [
        row.agent_id,
        row.department,
        row.brand or EMPTY,
        status_name(row.effective_status),
        seen,
        EMPTY if row.today is None else str(row.today.runs),
        EMPTY if row.today is None else str(row.today.failed),
        row.task or EMPTY,
        compact_metrics(row.metrics),
    ]


def _styler(rows: Sequence[AgentRow]) -> Styler:
    def style(index: int, col: int, text: str) -> str:
        if not text.strip():
            return text
        if index < 0:
            return click.style(text, bold=True)
        style = STATUS_STYLE.get(status_name(rows[index].effective_status))
        if style is None:  # a status a team added: shown as it is
            return text
        if col == STATUS_COLUMN or rows[index].effective_status == AgentStatus.offline:
            return click.style(text, **style)
        return text

    return style


def status_table(
    rows: Sequence[AgentRow], *, max_width: int | None = None, color: bool = False
) -> list[str]:
    """The status table's lines: one row per agent; task and metrics cut to ``max_width``."""
    return render_table(
        HEADERS,
        [_row_cells(row) for row in rows],
        max_width=max_width,
        shrinkable=SHRINKABLE,
        style=_styler(rows) if color else None,
    )


def status_footer(rows: Sequence[AgentRow], *, color: bool = False) -> list[str]:
    """Counts per effective status and the salary equivalent of the agents not offline."""
    counts = status_counts(rows)
    parts = []
    for name, count in counts.items():
        label = f"{count} {name}"
        if color and count:
            label = click.style(label, **STATUS_STYLE.get(name, {}))
        parts.append(label)
    return [
        f"{counted(len(rows), 'agent')}: " + ", ".join(parts),
        f"Salary equivalent: {format_amount(salary_total(rows))} ₽/month (agents not offline)",
    ]


def _agent_json(row: AgentRow) -> dict[str, Any]:
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
) -> dict[str, Any]:
    """``{"agents": [...], "summary": {...}}``: every value JSON-encodable as is. With
    ``fail_on`` (the health check) the summary names it and the agents ``failing`` it."""
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
    }
    if fail_on:
        summary["fail_on"] = list(fail_on)
        summary["failing"] = [row.agent_id for row in failing(rows, fail_on)]
    return {"agents": [_agent_json(row) for row in rows], "summary": summary}


def failing(rows: Iterable[AgentRow], fail_on: Sequence[str]) -> list[AgentRow]:
    """The agents whose effective status is one of ``fail_on`` (``--fail-on``)."""
    return [row for row in rows if status_name(row.effective_status) in fail_on]
