"""What the user's code hands the plugin cannot keep a run from being recorded: exceptions
whose message cannot be rendered, metric values that cannot be rendered (real prefork worker,
PostgreSQL)."""

from __future__ import annotations

import pytest

from celery_office import AgentStatus

from .test_worker import ALL_AGENTS, _is

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

AGENT = "watcher_price_monitor"


@pytest.mark.parametrize(
    "kind, shown",
    [
        ("raises", "Ошибка: UnprintableError: Wildberries API said no"),
        ("non-string", "Ошибка: NonStringError: Wildberries API said no"),
    ],
)
def test_a_failure_whose_message_cannot_be_rendered_still_shows_as_an_error(
    office_pg, kind, shown
):
    """The exception's ``__str__`` raises or returns a non-string: the row reads error with
    the type and whatever of the message can be rendered, and replaces an earlier error's
    text (it used to stay ok and idle, or keep the old error)."""
    office_pg.worker()
    office_pg.wait_for(lambda r: set(r) == ALL_AGENTS, what="registration")
    office_pg.send("fail_scan", message="earlier failure").get(timeout=20, propagate=False)
    office_pg.wait_for(_is(AGENT, AgentStatus.error, "Ошибка: ScanError: earlier failure"))
    result = office_pg.send("fail_unprintable", kind=kind)
    result.get(timeout=20, propagate=False)
    assert result.failed()
    rows = office_pg.wait_for(_is(AGENT, AgentStatus.error, shown), what=shown)
    assert rows[AGENT].effective_status is AgentStatus.error


def test_metrics_that_cannot_be_rendered_are_skipped_and_the_run_still_ends(office_pg):
    """An extractor returns a value whose str() and repr() raise an unprintable exception:
    the value is stored as a placeholder naming its type, the task succeeds, and the agent
    goes idle (it used to stay working after the task ended, with a logging traceback)."""
    worker = office_pg.worker()
    office_pg.wait_for(lambda r: set(r) == ALL_AGENTS, what="registration")
    for _ in range(3):
        result = office_pg.send("unrenderable_metrics_reviews", duration=0.3)
        assert result.get(timeout=20) == "done"
    rows = office_pg.wait_for(_is("reputation_wb", AgentStatus.ok, None), what="idle")
    assert rows["reputation_wb"].metrics == {
        "reviews_today": 3, "odd": "<unprintable Unrenderable>",
    }
    assert "--- Logging error ---" not in worker.log
