"""What ``celery office status`` shows: the table's cells and colours, the footer; the JSON
comes from :mod:`celery_office.snapshot` (the office page's ``/api/agents`` returns the same).

A status value a team added to the dashboard's enum (say ``'paused'``) is shown as it is,
uncoloured, and counted after the four of the spec.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import click

from ..core.statuses import AgentStatus
from ..core.texts import EMPTY, counted, human_duration
from ..db.read import AgentRow
from ..snapshot import failing, salary_total, status_counts, status_json, status_name, today_json
from .table import Styler, render_table, truncate

__all__ = [
    "format_amount", "salary_total", "status_counts", "compact_metrics",
    "status_table", "status_footer", "status_json", "today_json", "failing"
]


THIN_SPACE = "\u2009"




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


# Cut to fit the terminal, to no fewer columns than these; then other columns are left out.
SHRINKABLE = {HEADERS.index("TASK"): 24, HEADERS.index("METRICS"): 16}
# Left out in this order when the terminal is too narrow for all: the task (the reason of an
# error or a warning) and the status matter most.
DROPPABLE = tuple(HEADERS.index(name) for name in
                  ("METRICS", "BRAND", "DEPARTMENT", "FAIL", "TODAY", "LAST SEEN"))


def format_amount(value: Decimal | int | float) -> str:
    """A whole amount with thin-space thousands separators: ``345 000`` (``-1 500``)."""
    whole = int(Decimal(str(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return f"{whole:,}".replace(",", THIN_SPACE)


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
    """The status table's lines: one row per agent, each within ``max_width`` columns (None:
    every text whole); a last line names the columns left out to fit, if any."""
    table = render_table(
        HEADERS,
        [_row_cells(row) for row in rows],
        max_width=max_width,
        shrinkable=SHRINKABLE,
        droppable=DROPPABLE,
        style=_styler(rows) if color else None,
    )
    if not table.hidden or max_width is None:
        return table.lines
    note = f"({', '.join(table.hidden)} left out to fit {max_width} columns; --wide shows all)"
    return [*table.lines, truncate(note, max_width)]


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
