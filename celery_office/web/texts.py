"""Every text the office page and its notifications show, in one place.

The statuses' words are the ADOLF spec's own (``report_working``: "работает над задачей",
``report_idle``: "ожидает задачу", ``report_warning``: "требует внимания", ``report_error``:
"ошибка", ``report_offline``: "не в сети"), and so are the modules' names (its table "Модули
для интеграции"). The page receives :data:`PAGE` as JSON inside its HTML and never shows a text
of its own; notifications are built from :data:`NOTIFY`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LANG", "PAGE", "NOTIFY"]

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
    "last_seen": "последняя активность {ago} назад",
}
