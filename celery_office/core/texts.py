"""The texts the worker, the CLI and the notifications write: the table's task texts, the
notifications' words, the durations and the counts (the page's words live beside the page, in
:mod:`celery_office.web.texts`).

The task texts say why an agent is not simply working or idle, in the ADOLF spec's words
(``report_error`` writes ``Ошибка: ...``); the dashboard and ``status --fail-on`` read them.
The page's words are the spec's own too (``report_working``: "работает над задачей",
``report_idle``: "ожидает задачу", ``report_warning``: "требует внимания", ``report_error``:
"ошибка", ``report_offline``: "не в сети"); notifications are built from :data:`NOTIFY`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

__all__ = [
    "ERROR_PREFIX", "RETRY_PREFIX", "MISSED_PREFIX", "OVERLONG_PREFIX", "EMPTY",
    "error_text", "retry_text", "retry_due", "missed_text", "overlong_text",
    "human_duration", "counted", "plural", "NOTIFY",
]

# ---------------------------------------------------------------------- the table's task texts

ERROR_PREFIX = "Ошибка: "
RETRY_PREFIX = "Повтор: "
MISSED_PREFIX = "Пропущен запуск: "
OVERLONG_PREFIX = "Выполняется дольше лимита: "
EMPTY = "—"  # a cell with nothing to show


def error_text(described: str) -> str:
    """``Ошибка: ScanError: Wildberries API timeout``."""
    return f"{ERROR_PREFIX}{described}"


def retry_due(when: Any) -> str:
    """When the next try is due, as the retry's text says it (seconds, or a moment)."""
    if isinstance(when, (int, float)) and not isinstance(when, bool):
        return f"следующая попытка через {when:g} с"
    if isinstance(when, datetime):
        return f"следующая попытка в {when.strftime('%H:%M:%S')}"
    return ""


def retry_text(text: str | None, reason: str) -> str:
    """``Повтор: <the run's text> — RateLimitError: 429 (следующая попытка через 30 с)``."""
    return f"{RETRY_PREFIX}{text} — {reason}"


def missed_text(text: str, due: str, zone: str) -> str:
    """``Пропущен запуск: Отчёт — ожидался 2026-11-25 03:00:00 (Europe/Moscow)``."""
    return f"{MISSED_PREFIX}{text} — ожидался {due} ({zone})"


def overlong_text(text: str | None, took: float, limit: float) -> str:
    """``Выполняется дольше лимита: Отчёт — идёт 2 ч 05 мин, лимит 1 ч``."""
    return (f"{OVERLONG_PREFIX}{text} — идёт {human_duration(took, style='long')}, "
            f"лимит {human_duration(limit, style='long')}")


# ---------------------------------------------------------------------- durations and counts


def human_duration(seconds: float | None, *, style: str = "short") -> str:
    """A duration as people read it; ``None`` is ``—``.

    ``short`` (the CLI's table): the largest whole unit, rounded down: ``5s``, ``3m``, ``2h``,
    ``4d``. ``long`` (the dashboard's texts, in its Russian): ``45 с``, ``12 мин``,
    ``2 ч 05 мин``.
    """
    if seconds is None:
        return EMPTY
    seconds = max(0, int(seconds))
    if style == "long":
        if seconds < 60:
            return f"{seconds} с"
        minutes = seconds // 60
        if minutes < 60:
            return f"{minutes} мин"
        return f"{minutes // 60} ч {minutes % 60:02d} мин"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def counted(number: int, noun: str) -> str:
    """``1 agent``, ``2 agents``, ``0 agents``: the one place a count meets its English noun."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def plural(number: int, forms: tuple[str, str, str] | list[str]) -> str:
    """A count with its Russian noun: ``forms`` for 1, 2 and 5 (``ошибка``, ``ошибки``,
    ``ошибок``): 1 ошибка, 2 ошибки, 5 ошибок, 11 ошибок, 21 ошибка, 0 ошибок."""
    n = abs(number)
    if n % 10 == 1 and n % 100 != 11:
        form = forms[0]
    elif 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        form = forms[1]
    else:
        form = forms[2]
    return f"{number} {form}"


# ---------------------------------------------------------------------- notifications

NOTIFY: dict[str, Any] = {
    "icons": {"error": "🔴", "offline": "⚫", "missed": "🟡", "overlong": "🟡", "ok": "🟢"},
    "states": {
        "error": "ошибка",
        "offline": "не в сети",
        "missed": "пропущен запуск",
        "overlong": "выполняется дольше лимита",
        "ok": "снова в порядке",
    },
    "headline": "{icon} {name} ({agent_id}, {department}): {state}",
    "detail": " — {detail}",
    "previous": " (было: {state})",
    "since": " с {since}",  # appended to the headline: when the state began (UTC)
    "last_seen": "последняя активность {ago} назад",
}
