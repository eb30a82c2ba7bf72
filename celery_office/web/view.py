"""What the page shows, in its words, added to ``/api/agents``' JSON as ``shown`` (per agent and
in the summary), so the page's script only places text: the statuses, why a warning is one,
since when, the durations (one format: :func:`~celery_office.core.texts.human_duration`'s
long one), the money, and the counts with their plurals (Russian's three forms:
:func:`~celery_office.core.texts.plural`), in the language of ``texts``
(:func:`.texts.page_texts`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from ..core.texts import human_duration
from .texts import PAGE, counted_in

__all__ = ["add_shown", "money", "clock"]

THIN = "\u2009"  # between thousands
NBSP = "\u00a0"  # between a number and its unit


def money(amount: Any, texts: Mapping[str, Any] = PAGE) -> str:
    """``152 500 ₽/мес``, rounded to the whole unit."""
    whole = int(Decimal(str(amount or 0)).quantize(Decimal(1)))
    return f"{whole:,}".replace(",", THIN) + NBSP + texts["per_month"]


def clock(moment: datetime, *, zone: ZoneInfo, now: datetime) -> str:
    """``14:02`` in the app's zone; ``03.12 14:02`` when not today."""
    local, today = moment.astimezone(zone), now.astimezone(zone)
    time = local.strftime("%H:%M")
    return time if local.date() == today.date() else local.strftime("%d.%m ") + time


def _status(agent: Mapping[str, Any], texts: Mapping[str, Any]) -> str:
    status = agent["effective_status"]
    if status == "ok":
        return str(texts["status"]["working" if agent["task"] else "idle"])
    return str(texts["status"].get(status, status))  # a status a team added, as it is


def _duration(seconds: float, texts: Mapping[str, Any]) -> str:
    return human_duration(seconds, style="long", language=texts["language"])


def _since(agent: Mapping[str, Any], texts: Mapping[str, Any], zone: ZoneInfo,
           now: datetime) -> str | None:
    if not agent.get("since"):
        return None
    since = datetime.fromisoformat(agent["since"])
    took = (now - since).total_seconds()
    held = texts["under_minute"] if took < 60 else _duration(took, texts)
    return str(texts["since"]).format(clock(since, zone=zone, now=now), held)


def _seen(silent: float | None, texts: Mapping[str, Any]) -> str:
    """How long ago, to the minute (as since when): a fleet's texts then change once a minute,
    not at each poll."""
    if silent is None:
        return str(texts["never"])
    if silent < 60:
        return str(texts["just_now"])
    return str(texts["ago"]).format(_duration(silent, texts))


def _metrics(metrics: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in sorted(metrics.items()))


def shown_agent(agent: Mapping[str, Any], *, texts: Mapping[str, Any], zone: ZoneInfo,
                now: datetime) -> dict[str, Any]:
    """One agent's texts."""
    silent = agent["silent_for"]
    fte = 1 if agent["fte_coefficient"] is None else agent["fte_coefficient"]
    return {
        "status": _status(agent, texts),
        "badge": texts["badges"].get(agent["alert"]) if agent["alert"] else None,
        "since": _since(agent, texts, zone, now),
        "task_label": texts["last_error"] if agent["last_error"] else None,
        "task": agent["last_error"] or agent["task"],
        "seen": _seen(silent, texts),
        "runtime": _duration(agent["today"]["runtime_s"], texts),
        "metrics": _metrics(agent["metrics"]),
        "salary": f"{money(agent['salary_equivalent'], texts)} × {fte} {texts['fte']}",
        "department": texts["departments"].get(agent["department"], agent["department"]),
    }


def _count(status: str, number: int, texts: Mapping[str, Any]) -> str:
    forms = texts["counts"].get(status)
    return counted_in(texts, number, forms) if forms else f"{number} {status}"


def add_shown(
    payload: dict[str, Any], *, office_counts: Mapping[str, int], office_total: int,
    departments: list[str], brands: list[str], filtered: bool, zone: str, now: datetime,
    texts: Mapping[str, Any] = PAGE,
) -> dict[str, Any]:
    """``payload`` (``status_json`` of the agents asked for) with its texts: ``shown`` on each
    agent and on the summary; the chips count the whole office (``office_counts``), its
    ``departments`` and ``brands`` are what the filters offer."""
    where = ZoneInfo(zone)
    for agent in payload["agents"]:
        agent["shown"] = shown_agent(agent, texts=texts, zone=where, now=now)
    summary = payload["summary"]
    summary["shown"] = {
        "counts": [{"status": status, "count": count, "text": _count(status, count, texts)}
                   for status, count in office_counts.items()],
        "salary": money(summary["salary_equivalent"], texts),
        "departments": {
            department: {"title": texts["departments"].get(department, department),
                         "agents": counted_in(texts, numbers["agents"], texts["agents"]),
                         "salary": money(numbers["salary_equivalent"], texts)}
            for department, numbers in summary["by_department"].items()},
        "matched": (str(texts["shown"]).format(summary["total"], office_total)
                    if filtered else None),
        "filters": {"department": [[department, texts["departments"].get(department, department)]
                                   for department in departments],
                    "brand": [[brand, brand] for brand in brands]},
    }
    return payload
