"""Every word the office page shows, beside the page: the server formats with them
(:mod:`.view`) and the page gets the rest as JSON inside its HTML (:mod:`.page`), so the script
holds no text of its own.

The statuses are the ADOLF spec's words (``report_working``: "работает над задачей",
``report_idle``: "ожидает задачу", ``report_warning``: "требует внимания", ``report_error``:
"ошибка", ``report_offline``: "не в сети"), the departments its modules' names (its table
"Модули для интеграции"). Counts take three forms, for 1, 2 and 5
(:func:`celery_office.core.texts.plural`); English's two fill the same three places (1, many,
many). ``office_language`` picks the words, ``office_title`` and ``office_currency`` the title
and the money's unit (:func:`page_texts`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..core.texts import plural

__all__ = ["PAGE", "PAGES", "page_texts", "counted_in"]

PAGE: dict[str, Any] = {
    "language": "ru",
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
    # the summary's counts, per effective status: forms for 1, 2 and 5
    "counts": {
        "ok": ["агент в порядке", "агента в порядке", "агентов в порядке"],
        "warning": ["требует внимания", "требуют внимания", "требуют внимания"],
        "error": ["ошибка", "ошибки", "ошибок"],
        "offline": ["агент не в сети", "агента не в сети", "агентов не в сети"],
    },
    "agents": ["агент", "агента", "агентов"],
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
    "since": "с {0} ({1})",  # since 14:02 (38 мин)
    "under_minute": "< 1 мин",
    "last_error": "последняя ошибка",
    "last_seen": "активность",
    "ago": "{0} назад",
    "never": "нет активности",
    "just_now": "только что",
    "today": "сегодня",
    "runs": "запуски",
    "failed": "сбои",
    "runtime": "время работы",
    "salary": "зарплатный эквивалент",
    "salary_note": "агенты не в сети не считаются",
    "total": "всего",
    "per_month": "₽/мес",
    "per_month_unit": "{0}/мес",
    "fte": "FTE",
    "updated": "обновлено {0}",
    "shown": "показано {0} из {1}",
    "empty": "Ни один агент ещё не сообщил о себе.",
    "nothing_found": "Нет агентов, подходящих под фильтр.",
    "loading": "Загрузка…",
    "lost": "Нет связи с сервером офиса: показано состояние на {0}.",
    "database": "База данных офиса недоступна: {0}",
    "stale": "База данных офиса не отвечает ({1}): показано состояние {0} назад.",
    "filters": {"all": "все", "search": "Поиск: имя, id, задача", "department": "отдел",
                "brand": "бренд", "status": "статус", "reset": "сбросить"},
    "columns": {"status": "статус", "name": "агент", "department": "отдел", "since": "с",
                "task": "задача", "seen": "активность", "runs": "запуски"},
    "day": "День",
    "strip_empty": "За сегодня периодов нет.",
    "strip_unavailable": "История статусов недоступна: {0}",
    "close": "закрыть",
    "query": "Фильтр не понят: {0}",
}

EN: dict[str, Any] = {
    "language": "en",
    "title": "ADOLF Office",
    "subtitle": "The agents' office",
    "noscript": "This page needs JavaScript: it updates the agents' statuses by itself.",
    "status": {
        "working": "working on a task",
        "idle": "waiting for a task",
        "warning": "needs attention",
        "error": "error",
        "offline": "offline",
    },
    "counts": {
        "ok": ["agent ok", "agents ok", "agents ok"],
        "warning": ["needs attention", "need attention", "need attention"],
        "error": ["error", "errors", "errors"],
        "offline": ["agent offline", "agents offline", "agents offline"],
    },
    "agents": ["agent", "agents", "agents"],
    "departments": PAGE["departments"],
    "badges": {"missed": "missed run", "overlong": "over its limit", "retry": "retry"},
    "since": "since {0} ({1})",
    "under_minute": "< 1 min",
    "last_error": "last error",
    "last_seen": "active",
    "ago": "{0} ago",
    "never": "never active",
    "just_now": "just now",
    "today": "today",
    "runs": "runs",
    "failed": "failures",
    "runtime": "time working",
    "salary": "salary equivalent",
    "salary_note": "agents offline are not counted",
    "total": "total",
    "per_month": "₽/month",
    "per_month_unit": "{0}/month",
    "fte": "FTE",
    "updated": "updated {0}",
    "shown": "{0} of {1} shown",
    "empty": "No agent has reported yet.",
    "nothing_found": "No agent matches the filter.",
    "loading": "Loading…",
    "lost": "No connection to the office server: showing the state at {0}.",
    "database": "The office database is unavailable: {0}",
    "stale": "The office database does not answer ({1}): showing the state of {0} ago.",
    "filters": {"all": "all", "search": "Search: name, id, task", "department": "department",
                "brand": "brand", "status": "status", "reset": "reset"},
    "columns": {"status": "status", "name": "agent", "department": "department",
                "since": "since", "task": "task", "seen": "active", "runs": "runs"},
    "day": "Day",
    "strip_empty": "No periods today.",
    "strip_unavailable": "The status history is unavailable: {0}",
    "close": "close",
    "query": "The filter is not understood: {0}",
}

PAGES: dict[str, dict[str, Any]] = {"ru": PAGE, "en": EN}


def page_texts(*, language: str = "ru", title: str = "ADOLF Office",
               currency: str = "₽") -> dict[str, Any]:
    """The page's words in ``language``, with the office's title and currency."""
    texts = dict(PAGES[language])
    texts["title"] = title
    texts["per_month"] = str(texts["per_month_unit"]).format(currency)
    return texts


def counted_in(texts: Mapping[str, Any], number: int, forms: Sequence[str]) -> str:
    """A count with its noun in the page's language: Russian's three forms, English's two
    (the first for 1, the last for any other number)."""
    if texts.get("language", "ru") == "ru":
        return plural(number, list(forms))
    return f"{number} {forms[0] if number == 1 else forms[-1]}"
