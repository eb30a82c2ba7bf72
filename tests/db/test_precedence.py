"""Which status wins, as the README's table says: every pair of reasons an agent can have at
once, and the row the rule makes of them."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from celery_office.core.changes import Outcome
from celery_office.core.state import NEWEST, AgentState, AlertState
from celery_office.core.statuses import MISSED, OVERLONG, AgentStatus

ERROR = Outcome(AgentStatus.error, "Ошибка: Timeout", 1.0)
RETRY = Outcome(AgentStatus.warning, "Повтор: Сбор — RateLimitError: 429", 1.0)
DONE = Outcome(AgentStatus.ok, None, 1.0)
RUN = {"t-1": (5.0, "Сканирование цен")}
AT = datetime(2026, 11, 25, 3, 5, tzinfo=timezone.utc)
LATER = datetime(2026, 11, 25, 4, 5, tzinfo=timezone.utc)
LATE = ((OVERLONG, "t-1"),
        AlertState("Выполняется дольше лимита: Сканирование цен — идёт 2 ч 05 мин", "w1", AT))
SKIPPED = ((MISSED, "app.nightly"),
           AlertState("Пропущен запуск: Ночной отчёт — ожидался 03:00", None, AT))
SKIPPED_TOO = ((MISSED, "app.hourly"),
               AlertState("Пропущен запуск: Ежечасный сбор — ожидался 04:00", None, LATER))


@pytest.mark.parametrize(
    "runs, outcome, alerts, expected",
    [
        ({}, None, [], (AgentStatus.ok, None)),
        ({}, DONE, [], (AgentStatus.ok, None)),
        ({}, RETRY, [], (AgentStatus.warning, RETRY.task)),
        ({}, ERROR, [], (AgentStatus.error, ERROR.task)),
        (RUN, ERROR, [], (AgentStatus.ok, "Сканирование цен")),  # working again
        (RUN, ERROR, [SKIPPED], (AgentStatus.warning, SKIPPED[1].task)),
        ({}, ERROR, [SKIPPED], (AgentStatus.warning, SKIPPED[1].task)),
        (RUN, None, [LATE], (AgentStatus.warning, LATE[1].task)),
        (RUN, ERROR, [LATE, SKIPPED], (AgentStatus.warning, LATE[1].task)),
        ({}, None, [SKIPPED_TOO, SKIPPED], (AgentStatus.warning, SKIPPED[1].task)),
    ],
    ids=["idle", "succeeded", "retried", "failed", "running-beats-error",
         "missed-beats-running", "missed-beats-error", "overlong", "overlong-beats-missed",
         "the-first-missed-shows"],
)
def test_which_status_wins(runs, outcome, alerts, expected) -> None:
    state = AgentState(runs=dict(runs), outcome=outcome, alerts=dict(alerts))
    assert state.status() == expected


def test_of_runs_that_started_at_one_instant_the_smallest_task_id_shows() -> None:
    """SQL's ``ORDER BY started_at DESC, task_id``: never the order the runs were read in."""
    for runs in ({"t-b": (5.0, "B"), "t-a": (5.0, "A")}, {"t-a": (5.0, "A"), "t-b": (5.0, "B")}):
        assert AgentState(runs=runs).status() == (AgentStatus.ok, "A")
    assert AgentState(runs={"t-a": (5.0, "A"), "t-b": (6.0, "B")}).status() == (
        AgentStatus.ok, "B")
    assert AgentState(runs={"t-a": (5.0, None)}, outcome=ERROR).status() == (AgentStatus.ok, None)


def test_an_alert_with_no_time_shows_after_one_set_in_this_transaction() -> None:
    """SQL's ``since NULLS LAST``: an alert just set (the database's now) comes before a row
    with no time, whatever their subjects; two without a time go by subject."""
    untimed = AlertState("Пропущен запуск: без времени", None, None)
    just_set = AlertState("Пропущен запуск: только что", "w1", NEWEST)
    state = AgentState(alerts={(MISSED, "app.a"): untimed, (MISSED, "app.b"): just_set})
    assert state.status() == (AgentStatus.warning, just_set.task)
    state.alerts[(MISSED, "app.b")] = AlertState("Пропущен запуск: тоже без времени", None, None)
    assert state.status() == (AgentStatus.warning, untimed.task)
