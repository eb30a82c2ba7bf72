"""The texts the worker, the CLI and the notifications write: the table's task texts, the
notifications' words, the durations and the counts (the page's words live beside the page, in
:mod:`celery_office.web.texts`).

The task texts say why an agent is not simply working or idle, in ``office_language``: the
ADOLF spec's Russian by default (``report_error`` writes ``Ошибка: ...``), or English
(``Error: ...``); the dashboard and ``status --fail-on`` read them, and readers know the
prefixes of every language (:data:`PREFIXES`), as a fleet may mix them. Notifications are built
from each language's :attr:`Words.notify`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "LANGUAGES", "Words", "RU", "EN", "words_for", "PREFIXES", "EMPTY",
    "human_duration", "counted", "plural",
]

EMPTY = "—"  # a cell with nothing to show

# ---------------------------------------------------------------------- the table's task texts


@dataclass(frozen=True)
class Words:
    """What celery-office writes in one language (``office_language``): the task texts, the
    long durations, the notifications."""

    language: str
    error: str  # the prefixes of the task texts: readers tell the kind by them
    retry: str
    missed: str
    overlong: str
    next_try_in: str
    next_try_at: str
    expected: str
    running: str
    units: tuple[str, str, str]  # seconds, minutes, hours (long durations)
    notify: dict[str, Any] = field(hash=False)

    def error_text(self, described: str) -> str:
        """``Error: ScanError: Wildberries API timeout``."""
        return f"{self.error}{described}"

    def retry_due(self, when: Any) -> str:
        """When the next try is due, as the retry's text says it (seconds, or a moment)."""
        if isinstance(when, (int, float)) and not isinstance(when, bool):
            return self.next_try_in.format(f"{when:g}")
        if isinstance(when, datetime):
            return self.next_try_at.format(when.strftime("%H:%M:%S"))
        return ""

    def retry_text(self, text: str | None, reason: str) -> str:
        """``Retry: <the run's text> — RateLimitError: 429 (next try in 30 s)``."""
        return f"{self.retry}{text} — {reason}"

    def missed_text(self, text: str, due: str, zone: str) -> str:
        """``Missed run: Report — expected 2026-11-25 03:00:00 (Europe/Moscow)``."""
        return f"{self.missed}{text} — {self.expected.format(due, zone)}"

    def overlong_text(self, text: str | None, took: float, limit: float) -> str:
        """``Running over its limit: Report — running 2 h 05 min, limit 1 h``."""
        return f"{self.overlong}{text} — " + self.running.format(
            self.duration(took), self.duration(limit))

    def duration(self, seconds: float | None) -> str:
        """``45 s``, ``12 min``, ``2 h 05 min``; ``None`` is ``—``."""
        return human_duration(seconds, style="long", language=self.language)


RU = Words(
    "ru", error="Ошибка: ", retry="Повтор: ", missed="Пропущен запуск: ",
    overlong="Выполняется дольше лимита: ", next_try_in="следующая попытка через {0} с",
    next_try_at="следующая попытка в {0}", expected="ожидался {0} ({1})",
    running="идёт {0}, лимит {1}", units=("с", "мин", "ч"),
    notify={
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
    },
)
EN = Words(
    "en", error="Error: ", retry="Retry: ", missed="Missed run: ",
    overlong="Running over its limit: ", next_try_in="next try in {0} s",
    next_try_at="next try at {0}", expected="expected {0} ({1})",
    running="running {0}, limit {1}", units=("s", "min", "h"),
    notify={
        "icons": RU.notify["icons"],
        "states": {
            "error": "error",
            "offline": "offline",
            "missed": "missed a run",
            "overlong": "running over its limit",
            "ok": "back to normal",
        },
        "headline": "{icon} {name} ({agent_id}, {department}): {state}",
        "detail": " — {detail}",
        "previous": " (was: {state})",
        "since": " since {since}",
        "last_seen": "last active {ago} ago",
    },
)
LANGUAGES: dict[str, Words] = {"ru": RU, "en": EN}


def words_for(language: str) -> Words:
    """The words of ``language`` (checked by the settings: ``ru`` or ``en``)."""
    return LANGUAGES[language]


# every language's prefix of each kind: a fleet may mix languages, readers know them all
PREFIXES: dict[str, tuple[str, ...]] = {
    kind: tuple(getattr(words, kind) for words in LANGUAGES.values())
    for kind in ("error", "retry", "missed", "overlong")
}


# ---------------------------------------------------------------------- durations and counts


def human_duration(seconds: float | None, *, style: str = "short", language: str = "ru") -> str:
    """A duration as people read it; ``None`` is ``—``.

    ``short`` (the CLI's table): the largest whole unit, rounded down: ``5s``, ``3m``, ``2h``,
    ``4d``. ``long`` (the dashboard's texts, in ``language``): ``45 с``, ``12 мин``,
    ``2 ч 05 мин`` (``45 s``, ``12 min``, ``2 h 05 min``).
    """
    if seconds is None:
        return EMPTY
    seconds = max(0, int(seconds))
    if style == "long":
        sec, mins, hours = LANGUAGES[language].units
        if seconds < 60:
            return f"{seconds} {sec}"
        minutes = seconds // 60
        if minutes < 60:
            return f"{minutes} {mins}"
        return f"{minutes // 60} {hours} {minutes % 60:02d} {mins}"
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
