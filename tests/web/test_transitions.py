"""Which states entered are announced, and what the message says: pure rules, no database."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from celery_office.core.statuses import AgentStatus
from celery_office.db.notices import Notice
from celery_office.db.read import AgentRow
from celery_office.db.timeline import Period
from celery_office.web.transitions import (
    ERROR,
    MISSED,
    OFFLINE,
    OK,
    OVERLONG,
    Event,
    chat_escape,
    events,
    message,
    state_of,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
AGENT = "watcher_price_monitor"


def period(status: str = "ok", *, id: int = 1, alert: str | None = None, ok: bool = True,
           task: str | None = None) -> Period:
    return Period(id, AGENT, status, alert, ok and status == "ok", task, NOW, None)


def agent(status: AgentStatus = AgentStatus.ok, *, task: str | None = None,
          effective: AgentStatus | None = None, silent_for: float = 3.0) -> AgentRow:
    return AgentRow(
        agent_id=AGENT, department="watcher", name="Мониторинг цен", brand="ohana_market",
        status=status, effective_status=effective or status, task=task, metrics={},
        salary_equivalent=60000, fte_coefficient=Decimal("1.00"), last_activity=NOW,
        silent_for=silent_for, updated_at=NOW,
    )


@pytest.mark.parametrize("entered, expected", [
    (period(), OK),
    (period(task="Сканирование цен", ok=False), None),  # a run after a failure: no recovery
    (period("error", task="Ошибка: ScanError: timeout"), ERROR),
    (period("offline"), OFFLINE),
    (period("warning", alert="overlong"), OVERLONG),
    (period("warning", alert="missed"), MISSED),
    (period("warning"), None),  # a retry's warning announces nothing either way
    (period("paused"), None),  # a status a team added: shown on the page, never announced
])
def test_state_of(entered: Period, expected: str | None) -> None:
    assert state_of(entered) == expected


def test_first_states_count_unless_fine() -> None:
    found, moved = events([period(id=4)], {}, [], {}, judge_silence=True)
    assert found == [] and moved[AGENT] == Notice(OK, 0, 4)
    found, moved = events([period("error", id=5, task="Ошибка: x")], {}, [], {},
                          judge_silence=True)
    assert [(e.key, e.state, e.previous) for e in found] == [("5", ERROR, None)]
    assert moved[AGENT] == Notice(ERROR, 1, 5)


def test_every_period_read_is_weighed_in_order() -> None:
    read = [period("error", id=10), period(id=11, ok=False), period("error", id=12),
            period("warning", id=13), period(id=14), period("warning", id=15, alert="missed")]
    found, moved = events(read, {AGENT: Notice(OK, 3, 9)}, [], {}, judge_silence=True)
    assert [(e.key, e.previous, e.state) for e in found] == [
        ("10", OK, ERROR), ("14", ERROR, OK), ("15", OK, MISSED)]
    assert moved[AGENT] == Notice(MISSED, 6, 15)


def test_silence_is_judged_only_when_allowed_and_keyed_by_the_open_period() -> None:
    silent = agent(effective=AgentStatus.offline, silent_for=900)
    now = {AGENT: period(id=21)}
    assert events([], {AGENT: Notice(OK, 2, 21)}, [silent], now, judge_silence=False)[0] == []
    found, moved = events([], {AGENT: Notice(OK, 2, 21)}, [silent], now, judge_silence=True)
    assert [(e.key, e.state) for e in found] == [("21-offline-3", OFFLINE)]
    back, _ = events([], {AGENT: moved[AGENT]}, [agent()], now, judge_silence=True)
    assert [(e.key, e.previous, e.state) for e in back] == [("21-back-4", OFFLINE, OK)]


def _event(state: str, task: str | None = None, previous: str | None = OK,
           silent_for: float | None = None) -> Event:
    return Event("42", AGENT, state, previous, NOW, task, silent_for)


def test_error_message_names_the_agent_since_when_and_the_error_once() -> None:
    posted = message(_event(ERROR, "Ошибка: ScanError: Wildberries API timeout after 30s"),
                     agent(), now=NOW)
    assert posted["text"] == (
        "🔴 Мониторинг цен (watcher_price_monitor, watcher): ошибка с 2026-11-26 12:00:00 UTC"
        " — ScanError: Wildberries API timeout after 30s"
    )
    assert posted["event"] == "entered" and posted["state"] == ERROR and posted["previous"] == OK
    assert posted["event_id"] == "42" and posted["since"] == NOW.isoformat()
    assert posted["at"] == NOW.isoformat()


def test_recovery_offline_missed_and_overlong_messages() -> None:
    recovered = message(_event(OK, previous=ERROR), agent())
    assert recovered["text"].endswith(": снова в порядке с 2026-11-26 12:00:00 UTC "
                                      "(было: ошибка)")
    assert recovered["event"] == "recovered"
    offline = message(_event(OFFLINE, silent_for=420), agent())
    assert offline["text"].endswith(" — последняя активность 7 мин назад")
    text = message(_event(MISSED, "Пропущен запуск: Отчёт P&L — ожидался 03:00"), agent())["text"]
    assert text.endswith(": пропущен запуск с 2026-11-26 12:00:00 UTC — Отчёт P&amp;L — "
                         "ожидался 03:00")
    text = message(_event(OVERLONG, "Выполняется дольше лимита: Поиск — 2 ч"), agent())["text"]
    assert text.endswith(" — Поиск — 2 ч")


def test_markup_in_a_task_is_escaped_for_chats_and_kept_raw_in_its_field() -> None:
    task = "Ошибка: ScanError: <!channel> <script>alert(1)</script> & <b>x</b>"
    posted = message(_event(ERROR, task), agent())
    assert "<" not in posted["text"] and ">" not in posted["text"]
    assert "&lt;!channel&gt; &lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;x&lt;/b&gt;" in (
        posted["text"])
    assert posted["task"] == task
    assert chat_escape("a&b<c>") == "a&amp;b&lt;c&gt;"


def test_messages_in_english_cut_either_languages_prefix() -> None:
    """``office_language: en``: the words are English, and a fleet that mixes languages (a
    worker still on ``ru``) still has its prefix cut."""
    from celery_office.core.texts import EN

    row = agent()
    for task in ("Error: ScanError: timeout", "Ошибка: ScanError: timeout"):
        posted = message(_event(ERROR, task), row, now=NOW, words=EN)
        assert posted["text"] == ("🔴 Мониторинг цен (watcher_price_monitor, watcher): error since "
                                  "2026-11-26 12:00:00 UTC — ScanError: timeout")
    offline = message(_event(OFFLINE, silent_for=420), row, words=EN)
    assert offline["text"].endswith(
        ": offline since 2026-11-26 12:00:00 UTC — last active 7 min ago")
    recovered = message(_event(OK, previous=ERROR), row, words=EN)
    assert recovered["text"].endswith(
        ": back to normal since 2026-11-26 12:00:00 UTC (was: error)")


@pytest.mark.parametrize("task, kind", [
    ("Running over its limit: Report — running 2 h 05 min, limit 1 h 00 min", "overlong"),
    ("Выполняется дольше лимита: Отчёт — идёт 2 ч 05 мин, лимит 1 ч 00 мин", "overlong"),
    ("Missed run: Report — expected 2026-11-25 03:00:00 (UTC)", "missed"),
    ("Retry: Reviews — ScanError: 429 (next try in 3 s)", "retry"),
    ("Повтор: Отзывы — ScanError: 429 (следующая попытка через 3 с)", "retry"),
    ("Checking the ledger", None),
])
def test_a_warning_is_told_by_its_prefix_in_either_language(task: str, kind: str | None) -> None:
    from celery_office.snapshot import alert_of

    assert alert_of(agent(AgentStatus.warning, task=task)) == kind
