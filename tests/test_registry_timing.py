"""agents.yaml's timing keys: schedule:, grace:, max_runtime:, with file:line errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from celery.schedules import crontab, schedule

from celery_office.registry import RegistryError, parse_registry

AGENT = """agents:
  cfo_report:
    department: cfo
    name: Отчёт P&L
    tasks:
      app.cfo.report: Формирование отчёта
      "app.cfo.*": null
{extra}
"""


def _agent(extra: str):
    return parse_registry(AGENT.format(extra=extra)).agents["cfo_report"]


def test_schedules_grace_and_limits_are_read() -> None:
    agent = _agent(
        '    schedule: ["0 3 * * *", {every: 15m, task: "app.cfo.*"}, 90]\n'
        "    grace: 10m\n"
        '    max_runtime: {"app.cfo.report": 2h, "*": 45}\n'
    )
    cron, every, seconds = agent.schedules
    assert (cron.task, isinstance(cron.schedule, crontab)) == ("*", True)
    assert every.task == "app.cfo.*" and every.schedule.run_every == timedelta(minutes=15)
    assert isinstance(seconds.schedule, schedule) and seconds.schedule.run_every == timedelta(seconds=90)
    assert agent.grace == 600.0
    assert dict(agent.max_runtime) == {"app.cfo.report": 7200.0, "*": 45.0}


def test_an_agent_without_them_has_none() -> None:
    agent = _agent("")
    assert (agent.schedules, agent.grace, dict(agent.max_runtime)) == ((), None, {})


@pytest.mark.parametrize(
    "extra, message",
    [
        ('    schedule: "61 3 * * *"', "field 'schedule': not a valid cron expression '61 3 * * *'"),
        ("    schedule: []", "field 'schedule': an empty schedule"),
        ('    schedule: {cron: "0 3 * *"}', "field 'schedule': cron: expects five fields"),
        ("    schedule: {every: 5m, at: 3}", "field 'schedule': a schedule entry is"),
        ("    grace: soon", "field 'grace': expected a duration such as 90, '90s', '30m' or '2h'"),
        ("    max_runtime: -5", "field 'max_runtime': a duration must be positive, got -5"),
        ("    max_runtime: {}", "field 'max_runtime': an empty max_runtime"),
    ],
)
def test_a_bad_timing_value_names_file_line_agent_and_field(extra: str, message: str) -> None:
    with pytest.raises(RegistryError) as info:
        _agent(extra)
    text = str(info.value)
    assert text.startswith("agents.yaml:8: agent 'cfo_report': "), text
    assert message in text, text
