"""Missed schedules and overlong runs with real prefork workers (PostgreSQL, Redis), short
intervals set through the settings."""

from __future__ import annotations

import time

import pytest

from celery_office import AgentStatus

from .conftest import HERE
from .test_worker import _is

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

JUDGING = {
    "OFFICE_AGENTS_FILE": str(HERE / "schedule_agents.yaml"),
    "OFFICE_HEARTBEAT_INTERVAL": "0.5",
    "OFFICE_SCHEDULE_GRACE": "1",
}
SCHEDULED = {"nightly_agent", "report_agent", "scan_agent"}


def _send(office, task: str, **kwargs):
    return office.app.send_task(f"schedule_app.{task}", kwargs=kwargs, queue=office.queue)


def _starts_with(agent: str, status: AgentStatus, prefix: str):
    def check(rows):
        row = rows.get(agent)
        return row is not None and row.status is status and (row.task or "").startswith(prefix)

    return check


def test_a_beat_entry_nobody_runs_is_missed_and_a_run_clears_it(office_pg):
    office_pg.worker(app="schedule_app", env=JUDGING)
    rows = office_pg.wait_for(
        _starts_with("nightly_agent", AgentStatus.warning, "Пропущен запуск: Ночная сверка — "),
        timeout=20, what="the missed beat entry",
    )
    assert rows["nightly_agent"].task.endswith("(Europe/Moscow)")  # the app's timezone
    assert _send(office_pg, "nightly").get(timeout=20) == "reconciled"
    office_pg.wait_for(_is("nightly_agent", AgentStatus.ok, None), what="cleared by the run")


def test_with_beat_running_the_entry_is_never_missed(office_pg, tmp_path):
    worker = office_pg.worker(
        app="schedule_app", env=JUDGING,
        extra=["-B", "--schedule", str(tmp_path / "beat-schedule")],
    )
    office_pg.wait_for(lambda r: SCHEDULED <= set(r), what="registration")
    deadline = time.monotonic() + 8  # four intervals, many judgements
    while time.monotonic() < deadline:
        row = office_pg.row("nightly_agent")
        assert row.status is not AgentStatus.warning, (row.task, worker.log)
        time.sleep(0.2)
    assert "schedule_app.nightly" in worker.log and "succeeded" in worker.log


def test_a_schedule_from_agents_yaml_is_judged_once_across_two_workers(office_pg):
    office_pg.worker(app="schedule_app", env=JUDGING, name="w1")
    office_pg.worker(app="schedule_app", env=JUDGING, name="w2")
    office_pg.wait_for(
        _starts_with("report_agent", AgentStatus.warning, "Пропущен запуск: Формирование отчёта"),
        timeout=20, what="the missed schedule: entry",
    )
    time.sleep(1.5)  # several judgements by both workers
    alerts = office_pg.sql(
        "select kind, subject from office_agent_alert where agent_id = 'report_agent'"
    )
    assert [(a.kind, a.subject) for a in alerts] == [("missed", "schedule_app.report")]
    assert _send(office_pg, "report").get(timeout=20) == "reported"
    office_pg.wait_for(_is("report_agent", AgentStatus.ok, None), what="cleared by the run")


def test_a_run_past_its_max_runtime_warns_until_it_ends(office_pg):
    office_pg.worker(app="schedule_app", env=JUDGING)
    office_pg.wait_for(lambda r: SCHEDULED <= set(r), what="registration")
    result = _send(office_pg, "slow_scan", duration=5.0)
    rows = office_pg.wait_for(
        _starts_with("scan_agent", AgentStatus.warning,
                     "Выполняется дольше лимита: Долгое сканирование — идёт "),
        timeout=15, what="the overlong warning",
    )
    assert rows["scan_agent"].task.endswith("лимит 2 с")
    assert result.get(timeout=20) == "scanned"
    office_pg.wait_for(_is("scan_agent", AgentStatus.ok, None), what="cleared by its end")


def test_a_run_past_its_soft_time_limit_warns_then_its_hard_limit_is_the_error(office_pg):
    office_pg.worker(app="schedule_app", env=JUDGING)
    office_pg.wait_for(lambda r: SCHEDULED <= set(r), what="registration")
    _send(office_pg, "stuck_scan")
    office_pg.wait_for(
        _starts_with("scan_agent", AgentStatus.warning, "Выполняется дольше лимита: Зависшее"),
        timeout=15, what="the overlong warning past the soft limit",
    )
    office_pg.wait_for(
        _starts_with("scan_agent", AgentStatus.error, "Ошибка: TimeLimitExceeded"),
        timeout=20, what="the hard time limit's error",
    )
