"""Which transitions are announced, and what the message says: pure rules, no database."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from celery_office.core.statuses import AgentStatus
from celery_office.db.notices import Notice
from celery_office.db.read import AgentRow
from celery_office.web.transitions import (
    ERROR, MISSED, OFFLINE, OK, OVERLONG, Transition, changes, chat_escape, message, state_of,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)


def agent(status: AgentStatus = AgentStatus.ok, *, task: str | None = None,
          effective: AgentStatus | None = None, silent_for: float = 3.0,
          agent_id: str = "watcher_price_monitor") -> AgentRow:
    return AgentRow(
        agent_id=agent_id, department="watcher", name="Мониторинг цен", brand="ohana_market",
        status=status, effective_status=effective or status, task=task, metrics={},
        salary_equivalent=60000, fte_coefficient=Decimal("1.00"), last_activity=NOW,
        silent_for=silent_for, updated_at=NOW,
    )


@pytest.mark.parametrize("row, alerts, expected", [
    (agent(), (), OK),
    (agent(task="Сканирование цен"), (), OK),  # working is fine
    (agent(AgentStatus.error, task="Ошибка: ScanError: timeout"), (), ERROR),
    (agent(AgentStatus.offline), (), OFFLINE),
    (agent(AgentStatus.error, effective=AgentStatus.offline, silent_for=900), (), OFFLINE),
    (agent(AgentStatus.warning, task="Выполняется дольше лимита: …"), ("overlong",), OVERLONG),
    (agent(AgentStatus.warning, task="Пропущен запуск: …"), ("missed",), MISSED),
    # both alerts: the row shows the overlong run (its precedence), so does the message
    (agent(AgentStatus.warning, task="Выполняется дольше лимита: …"), ("missed", "overlong"),
     OVERLONG),
    # a retry's warning announces nothing either way
    (agent(AgentStatus.warning, task="Повтор: … — RateLimitError"), (), None),
    # a status a team added to the enum: shown on the page, never announced
    (replace(agent(), status="paused", effective_status="paused"), (), None),  # type: ignore[arg-type]
    # the row decides: an error the spec's reporter wrote beats a stale alert
    (agent(AgentStatus.error, task="Ошибка: API timeout"), ("missed",), ERROR),
])
def test_state_of(row: AgentRow, alerts: tuple[str, ...], expected: str | None) -> None:
    assert state_of(row, alerts) == expected


def test_an_agent_seen_for_the_first_time_is_recorded_not_announced() -> None:
    found = changes([agent(AgentStatus.error, task="Ошибка: x")], {}, {})
    assert found.transitions == []
    assert found.first_seen == {"watcher_price_monitor": ERROR}


def test_a_changed_state_is_a_transition_from_the_version_read() -> None:
    seen = Notice(OK, 7)
    row = agent(AgentStatus.error, task="Ошибка: x")
    found = changes([row], {}, {"watcher_price_monitor": seen})
    assert found.transitions == [Transition(row, seen, ERROR)]
    assert found.first_seen == {}
    assert changes([row], {}, {"watcher_price_monitor": Notice(ERROR, 8)}).transitions == []


def test_a_retry_between_an_error_and_a_success_keeps_the_error_for_the_recovery() -> None:
    notices = {"watcher_price_monitor": Notice(ERROR, 3)}
    retrying = agent(AgentStatus.warning, task="Повтор: Сканирование — ScanError: 429")
    assert changes([retrying], {}, notices).transitions == []
    recovered = changes([agent()], {}, notices).transitions
    assert [(t.previous, t.state) for t in recovered] == [(ERROR, OK)]


def test_error_message_names_the_agent_and_the_error_once() -> None:
    row = agent(AgentStatus.error, task="Ошибка: ScanError: Wildberries API timeout after 30s")
    posted = message(Transition(row, Notice(OK, 0), ERROR), now=NOW)
    assert posted["text"] == (
        "🔴 Мониторинг цен (watcher_price_monitor, watcher): ошибка — ScanError: Wildberries "
        "API timeout after 30s"
    )
    assert posted["event"] == "entered" and posted["state"] == ERROR and posted["previous"] == OK
    assert posted["task"] == row.task and posted["status"] == "error"
    assert posted["at"] == NOW.isoformat()


def test_recovery_offline_missed_and_overlong_messages() -> None:
    recovered = message(Transition(agent(), Notice(ERROR, 1), OK))
    assert recovered["text"].endswith(": снова в порядке (было: ошибка)")
    assert recovered["event"] == "recovered"
    offline = message(Transition(agent(AgentStatus.offline, silent_for=420), Notice(OK, 1),
                                 OFFLINE))
    assert offline["text"].endswith(": не в сети — последняя активность 7 мин назад")
    missed = agent(AgentStatus.warning,
                   task="Пропущен запуск: Отчёт P&L — ожидался 2026-11-25 03:00:00 (UTC)")
    text = message(Transition(missed, Notice(OK, 1), MISSED))["text"]
    assert text.endswith(": пропущен запуск — Отчёт P&amp;L — ожидался 2026-11-25 03:00:00 (UTC)")
    overlong = agent(AgentStatus.warning,
                     task="Выполняется дольше лимита: Поиск — идёт 2 ч 05 мин, лимит 1 ч")
    text = message(Transition(overlong, Notice(OK, 1), OVERLONG))["text"]
    assert text.endswith(": выполняется дольше лимита — Поиск — идёт 2 ч 05 мин, лимит 1 ч")


def test_markup_in_a_task_is_escaped_for_chats_and_kept_raw_in_its_field() -> None:
    task = "Ошибка: ScanError: <!channel> <script>alert(1)</script> & <b>x</b>"
    posted = message(Transition(agent(AgentStatus.error, task=task), Notice(OK, 0), ERROR))
    assert "<" not in posted["text"] and ">" not in posted["text"]
    assert "&lt;!channel&gt; &lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;x&lt;/b&gt;" in (
        posted["text"])
    assert posted["task"] == task
    assert chat_escape("a&b<c>") == "a&amp;b&lt;c&gt;"
