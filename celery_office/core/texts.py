"""Every text the office shows, in one place: the table's task texts, the page's and the
notifications' words, the durations and the counts.

The task texts say why an agent is not simply working or idle, in the ADOLF spec's words
(``report_error`` writes ``Ошибка: ...``); the dashboard and ``status --fail-on`` read them.
The page's words are the spec's own too (``report_working``: "работает над задачей",
``report_idle``: "ожидает задачу", ``report_warning``: "требует внимания", ``report_error``:
"ошибка", ``report_offline``: "не в сети"), and so are the modules' names (its table "Модули
для интеграции"). The page receives :data:`PAGE` as JSON inside its HTML and never shows a text
of its own; notifications are built from :data:`NOTIFY`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

__all__ = [
    "ERROR_PREFIX", "RETRY_PREFIX", "MISSED_PREFIX", "OVERLONG_PREFIX", "EMPTY",
    "error_text", "retry_text", "retry_due", "missed_text", "overlong_text",
    "human_duration", "counted", "LANG", "PAGE", "NOTIFY",
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
    """``1 agent``, ``2 agents``, ``0 agents``: the one place a count meets its noun."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


# ---------------------------------------------------------------------- the office page

LANG = "ru"

PAGE: dict[str, Any] = {
    "title": "ADOLF Office",
    "subtitle": "Офис агентов ADOLF",
    "noscript": "Для этой страницы нужен JavaScript: она обновляет статусы агентов сама.",
    "status": {
        "working": "работает над задачей",
        "idle": "ожидает задачу",
        "warning": "требует внимания",
        "error": "ошибка",
        "offline": "не в сети",
    },
    # the summary's counts, per effective status
    "counts": {"ok": "в порядке", "warning": "внимание", "error": "ошибка", "offline": "не в сети"},
    "departments": {
        "watcher": "Watcher",
        "reputation": "Reputation",
        "content_factory": "Content Factory",
        "marketing": "Marketing",
        "scout": "Scout",
        "cfo": "CFO",
        "knowledge": "Knowledge",
        "lex": "Lex",
    },
    "badges": {"missed": "пропущен запуск", "overlong": "дольше лимита", "retry": "повтор"},
    "agents": "агентов",
    "last_seen": "активность",
    "ago": "{0} назад",
    "never": "нет активности",
    "units": {"s": "с", "m": "мин", "h": "ч", "d": "дн"},
    "today": "сегодня",
    "runs": "запуски",
    "failed": "сбои",
    "runtime": "время работы",
    "salary": "зарплатный эквивалент",
    "salary_note": "агенты не в сети не считаются",
    "total": "всего",
    "per_month": "₽/мес",
    "fte": "FTE",
    "updated": "обновлено {0}",
    "empty": "Ни один агент ещё не сообщил о себе.",
    "loading": "Загрузка…",
    "lost": "Нет связи с сервером офиса: показано состояние на {0}.",
    "database": "База данных офиса недоступна: {0}",
    "stale": "База данных офиса не отвечает ({1}): показано состояние {0} назад.",
}

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
