"""Which agents ``/api/agents`` returns, and in what order: its query parameters, Datasette-style
(``?status=error&department=watcher&brand=x&q=text&sort=status``), checked once here so the page
and any client get the same answer and the same one-line 400.

Each of ``status``, ``department`` and ``brand`` may repeat or hold a comma-separated list
(``status=error,warning``); ``q`` matches the agent's id, name, task, department or brand,
case-insensitively. The default order puts errors, then warnings, first, then every agent by
its id in natural order (``bulk_73`` before ``bulk_713``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..db.read import AgentRow
from ..snapshot import STATUS_ORDER, status_name

__all__ = ["AgentQuery", "QueryError", "parse_query", "natural_key", "PARAMETERS", "SORTS"]

PARAMETERS = ("status", "department", "brand", "q", "sort")
SORTS = ("status", "agent_id", "name")
FIRST = {"error": 0, "warning": 1}  # the default order: these first, the rest after
_DIGITS = re.compile(r"(\d+)")


class QueryError(ValueError):
    """A parameter ``/api/agents`` cannot answer: ``str()`` is the 400's one line."""


def natural_key(text: str) -> tuple[tuple[int, int, str], ...]:
    """Text compared with its numbers as numbers: ``bulk_73`` < ``bulk_713``."""
    return tuple((1, int(part), "") if part.isdigit() else (0, 0, part.casefold())
                 for part in _DIGITS.split(text) if part)


@dataclass(frozen=True)
class AgentQuery:
    """The filters and the order asked for; empty filters keep every agent."""

    statuses: tuple[str, ...] = ()
    departments: tuple[str, ...] = ()
    brands: tuple[str, ...] = ()
    text: str = ""
    sort: str = "status"

    @property
    def filtered(self) -> bool:
        return bool(self.statuses or self.departments or self.brands or self.text)

    def as_json(self) -> dict[str, object]:
        """The query as ``summary.query`` says it, so a page can show what it asked for."""
        return {"status": list(self.statuses), "department": list(self.departments),
                "brand": list(self.brands), "q": self.text, "sort": self.sort}

    def apply(self, rows: Iterable[AgentRow]) -> list[AgentRow]:
        """The rows that match, in the order asked for."""
        needle = self.text.casefold()
        kept = [row for row in rows
                if (not self.statuses or status_name(row.effective_status) in self.statuses)
                and (not self.departments or row.department in self.departments)
                and (not self.brands or (row.brand or "") in self.brands)
                and (not needle or needle in _haystack(row))]
        if self.sort == "name":
            return sorted(kept, key=lambda row: (natural_key(row.name), natural_key(row.agent_id)))
        if self.sort == "agent_id":
            return sorted(kept, key=lambda row: natural_key(row.agent_id))
        return sorted(kept, key=lambda row: (
            FIRST.get(status_name(row.effective_status), len(FIRST)), natural_key(row.agent_id)))


def _haystack(row: AgentRow) -> str:
    return " ".join((row.agent_id, row.name, row.task or "", row.department,
                     row.brand or "")).casefold()


def _values(items: Sequence[tuple[str, str]], name: str) -> tuple[str, ...]:
    """Every value of a parameter: repeated or comma-separated, blanks dropped, in order."""
    found: list[str] = []
    for key, value in items:
        if key == name:
            found.extend(part.strip() for part in value.split(",") if part.strip())
    return tuple(dict.fromkeys(found))


def parse_query(items: Sequence[tuple[str, str]], *, statuses: Iterable[str] = ()) -> AgentQuery:
    """The query of a request's parameters (``request.query_params.multi_items()``);
    :class:`QueryError` for a parameter it does not know or a status no agent can have (the
    four of the spec and ``statuses``, those a team added that agents have now)."""
    for key, _ in items:
        if key not in PARAMETERS:
            raise QueryError(f"unknown parameter {key!r}: /api/agents accepts "
                             f"{', '.join(PARAMETERS)}")
    known = list(dict.fromkeys([*(status.value for status in STATUS_ORDER), *statuses]))
    chosen = _values(items, "status")
    for status in chosen:
        if status not in known:
            raise QueryError(f"status: no status {status!r}; it accepts {', '.join(known)} "
                             "(repeated or comma-separated)")
    sorts = _values(items, "sort") or ("status",)
    if len(sorts) > 1 or sorts[0] not in SORTS:
        raise QueryError(f"sort: {','.join(sorts)!r} is no order; it accepts one of "
                         f"{', '.join(SORTS)}")
    text = " ".join(value.strip() for key, value in items if key == "q" and value.strip())
    return AgentQuery(chosen, _values(items, "department"), _values(items, "brand"), text,
                      sorts[0])
