"""``@metrics`` on a task whose result is no dict: said once, never ignored without a word."""

from __future__ import annotations

import logging

from celery import Celery

from celery_office.worker.task_metrics import metrics, metrics_of

app = Celery("task_metrics_test", set_as_current=False)


@app.task(name="t.listed")
@metrics
def listed() -> list[int]:
    return [1, 2, 3]


@app.task(name="t.counted")
@metrics
def counted() -> dict[str, int]:
    return {"reviews": 3}


@app.task(name="t.nothing")
@metrics
def nothing() -> None:
    return None


def test_a_list_returned_under_metrics_is_said_once_and_skipped(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="celery_office"):
        assert metrics_of(listed, [1, 2, 3]) is None
        assert metrics_of(listed, [4]) is None  # the same task again: no second line
    lines = [r.getMessage() for r in caplog.records if "t.listed" in r.getMessage()]
    assert len(lines) == 1, lines
    assert ("metrics must be a dict" in lines[0] and "got list" in lines[0]
            and "extract=" in lines[0])


def test_a_dict_is_the_metrics_and_none_keeps_them(caplog) -> None:
    assert metrics_of(counted, {"reviews": 3}) == {"reviews": 3}
    assert metrics_of(nothing, None) is None
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
