"""The notifier's looks at a real database: first sight recorded, each transition handed to
the webhooks once, a database that is down said once and without its password."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from sqlalchemy import Engine, text

from celery_office import OfficeReporter, create_office_engine
from celery_office.web.notifier import Notifier
from celery_office.web.webhooks import WebhookSender

SECRET = "s3cret-pw"


class Recording(WebhookSender):
    """A sender that keeps what it is handed instead of posting it."""

    def __init__(self) -> None:
        super().__init__(["https://hooks.example.com/services/T/B/token"])
        self.sent: list[Mapping[str, Any]] = []

    def send(self, message: Mapping[str, Any], *, label: str = "") -> None:
        self.sent.append(message)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = create_office_engine(db_url)
    yield engine
    engine.dispose()


def reporter(engine: Engine, agent_id: str = "reputation_wb") -> OfficeReporter:
    return OfficeReporter(agent_id, "reputation", "WB отзывы", engine=engine)


def test_each_transition_is_handed_over_once(engine: Engine) -> None:
    reporter(engine).report_idle()
    reporter(engine, "scout_niche").report_error("down before anyone watched")
    sender = Recording()
    notifier = Notifier(engine, sender, offline_after=300)
    assert notifier.look() == [] and sender.sent == []  # first sight: recorded, not posted

    reporter(engine).report_error("API timeout")
    won = notifier.look()
    assert [(t.agent.agent_id, t.previous, t.state) for t in won] == [
        ("reputation_wb", "ok", "error")]
    assert notifier.look() == []  # the same state again: nothing
    assert [m["state"] for m in sender.sent] == ["error"]
    assert sender.sent[0]["text"].endswith(": ошибка — API timeout")

    reporter(engine).report_warning("Повтор: Обработка отзывов — ScanError: 429")
    assert notifier.look() == []  # a retry's warning says nothing either way
    reporter(engine).report_idle()
    assert [t.state for t in notifier.look()] == ["ok"]
    reporter(engine).report_offline()
    assert [t.state for t in notifier.look()] == ["offline"]
    assert [m["event"] for m in sender.sent] == ["entered", "recovered", "entered"]


def test_silence_is_offline_as_the_dashboard_decides(engine: Engine) -> None:
    reporter(engine).report_working("Обработка отзывов")
    sender = Recording()
    notifier = Notifier(engine, sender, offline_after=300)
    notifier.look()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            ago = "now() - interval '6 minutes'"
        else:
            ago = "strftime('%Y-%m-%d %H:%M:%f000', 'now', '-6 minutes')"
        conn.execute(text(f"UPDATE office_agent_status SET last_activity = {ago}"))
    assert [t.state for t in notifier.look()] == ["offline"]
    assert "последняя активность 6 мин назад" in sender.sent[0]["text"]


def test_a_database_that_is_down_is_said_once_without_its_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    engine = create_office_engine(f"postgresql+psycopg2://office:{SECRET}@127.0.0.1:1/adolf",
                                  connect_timeout=2)
    try:
        notifier = Notifier(engine, Recording(), offline_after=300)
        assert notifier.look() == [] and notifier.look() == []
    finally:
        engine.dispose()
    lines = [r.getMessage() for r in caplog.records if "notifications wait" in r.getMessage()]
    assert len(lines) == 1, caplog.text
    assert "127.0.0.1:1" in lines[0] and SECRET not in caplog.text
