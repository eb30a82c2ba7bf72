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
    assert isinstance(seconds.schedule, schedule)
    assert seconds.schedule.run_every == timedelta(seconds=90)
    assert agent.grace == 600.0
    assert dict(agent.max_runtime) == {"app.cfo.report": 7200.0, "*": 45.0}


def test_an_agent_without_them_has_none() -> None:
    agent = _agent("")
    assert (agent.schedules, agent.grace, dict(agent.max_runtime)) == ((), None, {})


@pytest.mark.parametrize(
    "extra, message",
    [
        ('    schedule: "61 3 * * *"',
         "field 'schedule': not a valid cron expression '61 3 * * *'"),
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


@pytest.mark.parametrize(
    "extra, field",
    [
        ("    grace: .inf", "grace"),
        ("    grace: 99999999999d", "grace"),
        ("    schedule: 1000000000d", "schedule"),
        ("    schedule: every 99999999999999999999d", "schedule"),
        ("    schedule: {every: .inf}", "schedule"),
        ("    max_runtime: .inf", "max_runtime"),
        ("    max_runtime: 1.0e+309", "max_runtime"),
        ('    max_runtime: {"app.cfo.report": .nan}', "max_runtime"),
        ("    grace: 367d", "grace"),
    ],
)
def test_an_infinite_or_huge_duration_is_one_line_naming_the_bound(extra: str, field: str) -> None:
    """Once accepted ("0 errors"), then an OverflowError at every heartbeat, or a 71-line
    traceback from ``office check``: every duration is finite and at most 366 days."""
    with pytest.raises(RegistryError) as info:
        _agent(extra)
    text = str(info.value)
    assert text.startswith(f"agents.yaml:8: agent 'cfo_report': field '{field}': "), text
    assert "\n" not in text
    assert "at most 366 days" in text or "a finite duration" in text, text
    assert "infs" not in text


def test_the_longest_duration_allowed_is_366_days() -> None:
    agent = _agent("    grace: 366d\n    max_runtime: 366d\n    schedule: every 366d\n")
    assert agent.grace == 366 * 86400
    assert agent.schedules[0].schedule.run_every == timedelta(days=366)
