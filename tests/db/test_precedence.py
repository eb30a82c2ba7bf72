"""Which status wins, as the README's table says: every pair of reasons an agent can have at
once, and the row the rule makes of them."""

from __future__ import annotations

import pytest

from celery_office.changes import Outcome
from celery_office.db.agent_rows import MISSED, OVERLONG, AgentState
from celery_office.db.models import AgentStatus

ERROR = Outcome(AgentStatus.error, "Ошибка: Timeout", 1.0)
RETRY = Outcome(AgentStatus.warning, "Повтор: Сбор — RateLimitError: 429", 1.0)
DONE = Outcome(AgentStatus.ok, None, 1.0)
RUN = {"t-1": (5.0, "Сканирование цен")}
LATE = (OVERLONG, ("t-1", "Выполняется дольше лимита: Сканирование цен — идёт 2 ч 05 мин"))
SKIPPED = (MISSED, ("app.nightly", "Пропущен запуск: Ночной отчёт — ожидался 03:00"))


@pytest.mark.parametrize(
    "runs, outcome, alerts, expected",
    [
        ({}, None, [], (AgentStatus.ok, None)),
        ({}, DONE, [], (AgentStatus.ok, None)),
        ({}, RETRY, [], (AgentStatus.warning, RETRY.task)),
        ({}, ERROR, [], (AgentStatus.error, ERROR.task)),
        (RUN, ERROR, [], (AgentStatus.ok, "Сканирование цен")),  # working again
        (RUN, ERROR, [SKIPPED], (AgentStatus.warning, SKIPPED[1][1])),
        ({}, ERROR, [SKIPPED], (AgentStatus.warning, SKIPPED[1][1])),
        (RUN, None, [LATE], (AgentStatus.warning, LATE[1][1])),
        (RUN, ERROR, [LATE, SKIPPED], (AgentStatus.warning, LATE[1][1])),
    ],
    ids=["idle", "succeeded", "retried", "failed", "running-beats-error",
         "missed-beats-running", "missed-beats-error", "overlong", "overlong-beats-missed"],
)
def test_which_status_wins(runs, outcome, alerts, expected) -> None:
    state = AgentState(runs=dict(runs), outcome=outcome, alerts=dict(alerts))
    assert state.status() == expected
