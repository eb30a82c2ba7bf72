"""@metrics and progress() against a real prefork worker (PostgreSQL, Redis)."""

from __future__ import annotations

import pytest

from celery_office import AgentStatus

from .test_worker import ALL_AGENTS, _is

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


def _metrics(office, expected):
    return office.wait_for(
        lambda r: r.get("reputation_wb") is not None and r["reputation_wb"].metrics == expected,
        what=f"metrics {expected}",
    )


def test_returned_dict_becomes_the_metrics_and_the_result_is_unchanged(office_pg):
    office_pg.worker()
    result = office_pg.send("metered_reviews", count=51)
    assert result.get(timeout=20) == {"reviews_today": 51, "avg_response_min": 12}
    rows = _metrics(office_pg, {"reviews_today": 51, "avg_response_min": 12})
    assert rows["reputation_wb"].status is AgentStatus.ok and rows["reputation_wb"].task is None


def test_derived_metrics_and_retries_untouched(office_pg):
    office_pg.worker()
    result = office_pg.send("derived_reviews", ids=[5, 6, 7, 8], fail_first=True)
    assert result.get(timeout=20) == [5, 6, 7, 8]  # retried once, then the task's own result
    _metrics(office_pg, {"reviews_today": 4})
    assert office_pg.app.tasks["office_app.derived_reviews"].name == "office_app.derived_reviews"


def test_metrics_that_fail_are_skipped_and_the_task_succeeds(office_pg):
    worker = office_pg.worker()
    office_pg.send("metered_reviews", count=3).get(timeout=20)
    _metrics(office_pg, {"reviews_today": 3, "avg_response_min": 12})
    for _ in range(3):
        assert office_pg.send("bad_metrics_reviews").get(timeout=20) == {"a": 1, "b": 0}
    office_pg.wait_for(_is("reputation_wb", AgentStatus.ok, None), what="idle")
    assert office_pg.row("reputation_wb").metrics == {"reviews_today": 3, "avg_response_min": 12}
    lines = [line for line in worker.log.splitlines() if "could not be computed" in line]
    assert 1 <= len(lines) <= 2, lines  # once per pool process at most, not once per task
    assert "ZeroDivisionError" in lines[0]


def test_metrics_json_cannot_encode_are_converted(office_pg):
    office_pg.worker()
    office_pg.send("odd_metrics_reviews").get(timeout=20)
    _metrics(office_pg, {"when": "2026-01-02T03:04:05", "amount": 1.5,
                         "id": "00000000-0000-0000-0000-000000000001", "tags": ["a", "b"]})


def test_progress_updates_the_working_text_and_metrics(office_pg):
    office_pg.worker()
    result = office_pg.send("progress_reviews", hold=3.0)
    rows = office_pg.wait_for(
        _is("reputation_wb", AgentStatus.ok, "Обработано 40 из 120"), what="progress text"
    )
    assert rows["reputation_wb"].metrics == {"processed": 40}
    assert result.get(timeout=20) == "done"
    office_pg.wait_for(_is("reputation_wb", AgentStatus.ok, None), what="idle")


def test_progress_outside_a_task_of_an_agent_does_nothing(office_pg):
    worker = office_pg.worker()
    office_pg.wait_for(lambda r: set(r) == ALL_AGENTS, what="registration")
    assert office_pg.send("progress_outside_agent").get(timeout=20) is False
    worker.wait_log("progress() called outside a running task of an agent", timeout=5)
