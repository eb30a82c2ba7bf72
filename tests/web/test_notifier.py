"""The notifier's looks at a real database (PostgreSQL and SQLite): every state entered
between two looks, an agent's first error, a recovery only on a successful end, silence
judged only after workers had time to write, a database that is down said once."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from celery_office import AgentStatus, OfficeReporter, create_office_engine
from celery_office.core.changes import Batch, Outcome, RunChange
from celery_office.db.batches import apply_batch
from celery_office.web.notifier import SLOW_LOOK, Notifier
from celery_office.web.targets import check_targets

SECRET = "s3cret-pw"
HOOK = "https://hooks.example.com/services/T/B/token"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = create_office_engine(db_url)
    yield engine
    engine.dispose()


def reporter(engine: Engine, agent_id: str = "reputation_wb") -> OfficeReporter:
    return OfficeReporter(agent_id, "reputation", "WB отзывы", engine=engine)


def notifier(engine: Engine, **kwargs: float) -> Notifier:
    return Notifier(engine, check_targets([HOOK]), offline_after=kwargs.pop("offline_after", 300),
                    heartbeat_interval=kwargs.pop("heartbeat_interval", 60), **kwargs)


def stored(engine: Engine) -> list[tuple[str, str, str]]:
    """(agent, state, event id) of every event in the outbox, and each has its delivery."""
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT e.key, e.agent_id, e.state, e.body, count(d.target) AS n "
            "FROM office_notify_event e LEFT JOIN office_notify_delivery d ON d.event_id = e.id "
            "GROUP BY e.id, e.key, e.agent_id, e.state, e.body ORDER BY e.id")).all()
    assert all(row.n == 1 for row in rows)
    assert all(json.loads(row.body)["event_id"] == row.key for row in rows)
    return [(row.agent_id, row.state, row.key) for row in rows]


def states(engine: Engine) -> list[tuple[str, str]]:
    return [(agent, state) for agent, state, _ in stored(engine)]


def test_every_state_entered_between_two_looks_is_an_event(engine: Engine) -> None:
    watch = notifier(engine)
    reporter(engine).report_idle()
    assert watch.look() == []  # first sight of a fine agent: nothing to say
    reporter(engine).report_error("API timeout")
    reporter(engine).report_idle()  # a recovery before anyone looked
    reporter(engine).report_warning("Повтор: Обработка отзывов — 429")  # says nothing
    reporter(engine).report_error("API timeout again")
    reporter(engine).report_offline()
    found = watch.look()
    assert [e.state for e in found] == ["error", "ok", "error", "offline"]
    assert states(engine) == [("reputation_wb", s) for s in ("error", "ok", "error", "offline")]
    assert watch.look() == []  # read once
    keys = [key for _, _, key in stored(engine)]
    assert len(set(keys)) == 4 and all(key.isdigit() for key in keys)  # timeline row ids


def test_a_new_agents_first_error_is_announced(engine: Engine) -> None:
    watch = notifier(engine)
    watch.look()
    reporter(engine, "scout_niche").report_error("down from the start")
    assert [(e.agent_id, e.state, e.previous) for e in watch.look()] == [
        ("scout_niche", "error", None)]
    body = json.loads(_bodies(engine)[0])
    assert body["text"].startswith("🔴 WB отзывы (scout_niche, reputation): ошибка с ")
    assert body["text"].endswith(" — down from the start")


def _bodies(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT body FROM office_notify_event ORDER BY id"))
                    .scalars())


def test_a_new_run_after_a_failure_is_no_recovery(engine: Engine) -> None:
    watch = notifier(engine)
    reporter(engine).report_idle()
    watch.look()
    reporter(engine).report_error("API timeout")
    watch.look()
    reporter(engine).report_working("Обработка отзывов")  # the next run starts
    assert watch.look() == []
    reporter(engine).report_error("API timeout")  # and fails too: said already
    assert watch.look() == []
    reporter(engine).report_working("Обработка отзывов")
    reporter(engine).report_idle()  # a successful end
    assert [e.state for e in watch.look()] == ["ok"]
    assert states(engine) == [("reputation_wb", "error"), ("reputation_wb", "ok")]


def test_a_failure_while_another_run_goes_on_is_an_error(engine: Engine) -> None:
    """The row shows the run still in progress (same status, same text), yet the agent
    failed: announced, with the failure's text; the other run's successful end recovers."""
    agent = reporter(engine)
    agent.report_idle()
    watch = notifier(engine)
    watch.look()

    def flush(**changes: object) -> None:
        with engine.begin() as conn:
            apply_batch(conn, Batch(touched={agent.agent_id}, **changes),  # type: ignore[arg-type]
                        {agent.agent_id: agent}, "w1@host")

    now = time.time()
    flush(runs={"a": RunChange(agent.agent_id, "Обработка отзывов", now),
                "b": RunChange(agent.agent_id, "Обработка отзывов", now)})
    assert watch.look() == []  # runs starting: nothing to say
    flush(runs={"a": RunChange(agent.agent_id, "Обработка отзывов", now, ended=True)},
          outcomes={agent.agent_id: Outcome(AgentStatus.error, "Ошибка: API timeout", now + 1)})
    assert [(e.state, e.task) for e in watch.look()] == [("error", "Ошибка: API timeout")]
    flush(runs={"b": RunChange(agent.agent_id, "Обработка отзывов", now, ended=True)},
          outcomes={agent.agent_id: Outcome(AgentStatus.ok, None, now + 2)})
    assert [e.state for e in watch.look()] == ["ok"]


def _silence(engine: Engine, minutes: int) -> None:
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            ago = f"now() - interval '{minutes} minutes'"
        else:
            ago = f"strftime('%Y-%m-%d %H:%M:%f000', 'now', '-{minutes} minutes')"
        conn.execute(text(f"UPDATE office_agent_status SET last_activity = {ago}"))


def test_silence_is_offline_as_the_dashboard_decides(engine: Engine) -> None:
    reporter(engine).report_working("Обработка отзывов")
    watch = notifier(engine)
    watch.look()
    _silence(engine, 6)
    assert [e.state for e in watch.look()] == ["offline"]
    assert "последняя активность 6 мин назад" in json.loads(_bodies(engine)[0])["text"]
    reporter(engine).heartbeat()
    assert [(e.state, e.previous) for e in watch.look()] == [("ok", "offline")]
    assert len(set(key for *_, key in stored(engine))) == 2


class _Broken:
    """Makes the notifier's next look fail as if the database were down."""

    def __init__(self, watch: Notifier) -> None:
        self.watch, self.engine = watch, watch.engine

    def __enter__(self) -> None:
        self.watch.engine = create_office_engine(
            "postgresql+psycopg2://office@127.0.0.1:1/adolf", connect_timeout=1)

    def __exit__(self, *exc: object) -> None:
        self.watch.engine.dispose()
        self.watch.engine = self.engine


def test_after_an_outage_silence_counts_from_the_databases_return(engine: Engine) -> None:
    """Issue 30.4: serve could not read while workers could not write; once it reads again,
    agents are not offline (nor then "recovered") before workers had time to write."""
    reporter(engine).report_idle()
    watch = notifier(engine, heartbeat_interval=0.5, interval=0.1, offline_after=1.0)
    watch.look()
    with _Broken(watch):
        assert watch.look() == []  # the outage, as serve sees it
    _silence(engine, 6)  # longer than office_offline_after: the workers were cut off too
    assert watch.look() == []  # back: no false offline
    time.sleep(1.3)  # past offline_after and a look since the return: silence counts again
    reporter(engine).heartbeat()  # the worker wrote again in time
    assert watch.look() == []  # nobody was offline, so nobody recovered
    _silence(engine, 6)
    assert [e.state for e in watch.look()] == ["offline"]  # real silence still counts


def _hold(engine: Engine, seconds: float, taken: threading.Event) -> None:
    """Keep the notifier's look waiting, as a database that stopped answering for a while and
    then went on does: the look is answered, late (on SQLite, the write lock held)."""
    with engine.connect() as conn:
        conn.begin()  # SQLite: BEGIN IMMEDIATE, the database's write lock
        if conn.dialect.name == "postgresql":
            conn.execute(text("LOCK TABLE office_notify_target IN ACCESS EXCLUSIVE MODE"))
        taken.set()
        time.sleep(seconds)
        conn.rollback()


def test_a_look_that_waited_on_the_database_judges_no_silence_yet(engine: Engine) -> None:
    """A hang that ended answers serve's look late while the workers' writes of that time
    failed: their silence proves nothing until they had time to write again."""
    reporter(engine).report_idle()
    watch = notifier(engine, heartbeat_interval=0.5, interval=0.1, offline_after=1.0)
    watch.look()
    _silence(engine, 6)  # the workers' writes are cut off by the same hang
    taken = threading.Event()
    holder = threading.Thread(target=_hold, args=(engine, SLOW_LOOK + 0.5, taken))
    holder.start()
    assert taken.wait(10)
    try:
        assert watch.look() == []  # answered late: no false offline
    finally:
        holder.join()
    assert watch.look() == []  # nor right after it
    time.sleep(1.3)  # past offline_after and a look since: silence counts again
    assert [e.state for e in watch.look()] == ["offline"]


def test_a_database_that_is_down_is_said_once_without_its_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    engine = create_office_engine(f"postgresql+psycopg2://office:{SECRET}@127.0.0.1:1/adolf",
                                  connect_timeout=2)
    try:
        watch = Notifier(engine, check_targets([HOOK]), offline_after=300)
        assert watch.look() == [] and watch.look() == []
    finally:
        engine.dispose()
    lines = [r.getMessage() for r in caplog.records if "notifications wait" in r.getMessage()]
    assert len(lines) == 1, caplog.text
    assert "127.0.0.1:1" in lines[0] and SECRET not in caplog.text
