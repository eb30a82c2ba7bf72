"""Every word the office page shows, beside the page: the server formats with them
(:mod:`.view`) and the page gets the rest as JSON inside its HTML (:mod:`.page`), so the script
holds no text of its own.

The statuses are the ADOLF spec's words (``report_working``: "работает над задачей",
``report_idle``: "ожидает задачу", ``report_warning``: "требует внимания", ``report_error``:
"ошибка", ``report_offline``: "не в сети"), the departments its modules' names (its table
"Модули для интеграции"). Counts take three forms, for 1, 2 and 5
(:func:`celery_office.core.texts.plural`).
"""

from __future__ import annotations

from typing import Any

__all__ = ["LANG", "PAGE"]

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
