"""``OfficeReporter``, the spec's hand-called API, against real PostgreSQL and SQLite databases.

Every test checks what a user would check: the ``office_agent_status`` row, read back with SQL
(or ``agent_statuses``) over a connection of its own.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from celery_office import AgentStatus, OfficeReporter, agent_statuses, create_office_engine
from celery_office import reporter as reporter_module
from celery_office.core.errors import FieldError, OfficeConfigError
from celery_office.db.engine import safe_url
from celery_office.db.models import OfficeAgentStatus
from celery_office.registry import RegistryError, parse_registry

STATUS = OfficeAgentStatus.__table__
ELLIPSIS = "…"
TICK = 0.01  # both dialects keep at least milliseconds
CLOCK_SLACK = timedelta(seconds=5)


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def engines() -> Iterator[Any]:
    """``create_office_engine`` whose engines are disposed after the test."""
    made: list[Engine] = []

    def make(url: str, **kwargs: Any) -> Engine:
        made.append(create_office_engine(url, **kwargs))
        return made[-1]

    yield make
    for engine in made:
        engine.dispose()


def _reader(url: str) -> Engine:
    return create_engine(url, poolclass=NullPool)


def read_row(url: str, agent_id: str) -> Any:
    """The agent's row, read over a new connection (so only committed data is seen)."""
    engine = _reader(url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(STATUS).where(STATUS.c.agent_id == agent_id)).one_or_none()
    finally:
        engine.dispose()


def count_rows(url: str) -> int:
    engine = _reader(url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(STATUS)).scalar_one()
    finally:
        engine.dispose()


def read_statuses(url: str) -> dict[str, Any]:
    engine = _reader(url)
    try:
        with engine.connect() as conn:
            return {row.agent_id: row for row in agent_statuses(conn)}
    finally:
        engine.dispose()


def make_reporter(
    engine: Engine, agent_id: str = "watcher_price_monitor", **kwargs: Any
) -> OfficeReporter:
    values: dict[str, Any] = {
        "department": "watcher",
        "name": "Мониторинг цен",
        "brand": "ohana_market",
        "salary_equivalent": 75000,
        "fte_coefficient": Decimal("1.50"),
    }
    values.update(kwargs)
    return OfficeReporter(agent_id, engine=engine, **values)


def assert_aware_and_recent(*stamps: datetime) -> None:
    now = datetime.now(timezone.utc)
    for stamp in stamps:
        assert stamp is not None
        assert stamp.tzinfo is not None and stamp.utcoffset() is not None, stamp
        assert abs(stamp - now) < CLOCK_SLACK, (stamp, now)


def assert_metadata(row: Any) -> None:
    assert row.department == "watcher"
    assert row.name == "Мониторинг цен"
    assert row.brand == "ohana_market"
    assert row.salary_equivalent == 75000
    assert isinstance(row.fte_coefficient, Decimal)
    assert row.fte_coefficient == Decimal("1.50")
    assert str(row.fte_coefficient) == "1.50"


# --------------------------------------------------------------------------- each method


def test_report_working(db_url: str, engines: Any) -> None:
    reporter = make_reporter(engines(db_url))
    reporter.report_working("Сканирование цен конкурентов", {"products_scanned": 100})

    row = read_row(db_url, "watcher_price_monitor")
    assert row.status is AgentStatus.ok
    assert row.task == "Сканирование цен конкурентов"
    assert row.metrics == {"products_scanned": 100}
    assert_metadata(row)
    assert_aware_and_recent(row.last_activity, row.updated_at, row.created_at)
    assert row.created_at <= row.last_activity

    shown = read_statuses(db_url)["watcher_price_monitor"]
    assert shown.status is AgentStatus.ok
    assert shown.effective_status is AgentStatus.ok
    assert shown.task == "Сканирование цен конкурентов"
    assert shown.metrics == {"products_scanned": 100}
    assert shown.fte_coefficient == Decimal("1.50")
    assert 0 <= shown.silent_for < CLOCK_SLACK.total_seconds()


def test_report_working_without_metrics_registers_empty_metrics(db_url: str, engines: Any) -> None:
    make_reporter(engines(db_url)).report_working("Сканирование")
    row = read_row(db_url, "watcher_price_monitor")
    assert row.status is AgentStatus.ok
    assert row.task == "Сканирование"
    assert row.metrics == {}


def test_report_idle_replaces_metrics_when_given_and_keeps_them_when_none(
    db_url: str, engines: Any
) -> None:
    reporter = make_reporter(engines(db_url))
    reporter.report_working("Сканирование", {"products_scanned": 100})

    reporter.report_idle()
    row = read_row(db_url, "watcher_price_monitor")
    assert row.status is AgentStatus.ok
    assert row.task is None
    assert row.metrics == {"products_scanned": 100}  # kept: None means "no new metrics"

    reporter.report_idle(metrics={"products_scanned": 150, "price_changes": 12})
    row = read_row(db_url, "watcher_price_monitor")
    assert row.status is AgentStatus.ok
    assert row.task is None
    assert row.metrics == {"products_scanned": 150, "price_changes": 12}  # replaced, not merged

    reporter.report_idle(metrics={"queue_size": 0})
    assert read_row(db_url, "watcher_price_monitor").metrics == {"queue_size": 0}

    reporter.report_idle(metrics={})
    assert read_row(db_url, "watcher_price_monitor").metrics == {}


def test_report_idle_as_first_call_registers_the_agent(db_url: str, engines: Any) -> None:
    make_reporter(engines(db_url)).report_idle()
    row = read_row(db_url, "watcher_price_monitor")
    assert row.status is AgentStatus.ok
    assert row.task is None
    assert row.metrics == {}
    assert_metadata(row)


def test_report_warning(db_url: str, engines: Any) -> None:
    reporter = make_reporter(engines(db_url))
    reporter.report_working("Сканирование", {"products_scanned": 1})
    reporter.report_warning("Очередь растёт", {"queue_size": 500})

    row = read_row(db_url, "watcher_price_monitor")
    assert row.status is AgentStatus.warning
    assert row.task == "Очередь растёт"
    assert row.metrics == {"queue_size": 500}
    assert_metadata(row)
    assert read_statuses(db_url)["watcher_price_monitor"].effective_status is AgentStatus.warning


def test_report_error(db_url: str, engines: Any) -> None:
    reporter = make_reporter(engines(db_url))
    reporter.report_working("Сканирование", {"products_scanned": 7})

    reporter.report_error("API timeout")
    row = read_row(db_url, "watcher_price_monitor")
    assert row.status is AgentStatus.error
    assert row.task == "Ошибка: API timeout"
    assert row.metrics == {"products_scanned": 7}  # no metrics given: kept
    assert_metadata(row)

    reporter.report_error("HTTP 503", {"retries": 3})
    row = read_row(db_url, "watcher_price_monitor")
    assert row.status is AgentStatus.error
    assert row.task == "Ошибка: HTTP 503"
    assert row.metrics == {"retries": 3}


def test_report_offline(db_url: str, engines: Any) -> None:
    reporter = make_reporter(engines(db_url))
    reporter.report_working("Сканирование", {"products_scanned": 100})

    reporter.report_offline()
    row = read_row(db_url, "watcher_price_monitor")
    assert row.status is AgentStatus.offline
    assert row.task is None
    assert row.metrics == {}
    assert_metadata(row)
    assert_aware_and_recent(row.last_activity, row.updated_at)
    assert read_statuses(db_url)["watcher_price_monitor"].effective_status is AgentStatus.offline


def test_heartbeat_changes_only_last_activity_and_updated_at(db_url: str, engines: Any) -> None:
    reporter = make_reporter(engines(db_url))
    reporter.report_error("API timeout", {"retries": 3, "nested": {"a": [1, 2]}})
    before = read_row(db_url, "watcher_price_monitor")

    time.sleep(TICK)
    reporter.heartbeat()
    after = read_row(db_url, "watcher_price_monitor")

    assert after.last_activity > before.last_activity
    assert after.updated_at > before.updated_at
    assert after.created_at == before.created_at
    unchanged = {"last_activity", "updated_at"}
    for column in STATUS.c.keys():
        if column not in unchanged:
            assert getattr(after, column) == getattr(before, column), column
    assert after.status is AgentStatus.error
    assert after.task == "Ошибка: API timeout"
    assert after.metrics == {"retries": 3, "nested": {"a": [1, 2]}}
    assert_aware_and_recent(after.last_activity, after.updated_at)


def test_heartbeat_keeps_an_offline_agent_offline(db_url: str, engines: Any) -> None:
    reporter = make_reporter(engines(db_url))
    reporter.report_offline()
    reporter.heartbeat()
    row = read_row(db_url, "watcher_price_monitor")
    assert row.status is AgentStatus.offline
    assert row.task is None
    assert row.metrics == {}


def test_heartbeat_of_an_agent_with_no_row_registers_it_idle(db_url: str, engines: Any) -> None:
    assert read_row(db_url, "watcher_price_monitor") is None
    make_reporter(engines(db_url)).heartbeat()

    row = read_row(db_url, "watcher_price_monitor")
    assert row is not None
    assert row.status is AgentStatus.ok
    assert row.task is None
    assert row.metrics == {}
    assert_metadata(row)
    assert_aware_and_recent(row.last_activity, row.updated_at, row.created_at)
    assert count_rows(db_url) == 1


def test_heartbeat_touches_only_its_own_agent(db_url: str, engines: Any) -> None:
    engine = engines(db_url)
    first = make_reporter(engine, "agent_one")
    second = make_reporter(engine, "agent_two")
    first.report_idle()
    second.report_idle()
    other_before = read_row(db_url, "agent_two")
    time.sleep(TICK)
    first.heartbeat()
    assert read_row(db_url, "agent_two") == other_before
    assert read_row(db_url, "agent_one").last_activity > other_before.last_activity


def test_created_at_fixed_while_last_activity_and_updated_at_move_forward(
    db_url: str, engines: Any
) -> None:
    reporter = make_reporter(engines(db_url))
    calls = [
        lambda: reporter.report_working("Сканирование", {"n": 1}),
        lambda: reporter.report_idle(),
        lambda: reporter.report_warning("Медленно"),
        lambda: reporter.report_error("boom"),
        lambda: reporter.heartbeat(),
        lambda: reporter.report_offline(),
        lambda: reporter.report_idle({"n": 2}),
    ]
    calls[0]()
    first = read_row(db_url, "watcher_price_monitor")
    assert_aware_and_recent(first.created_at, first.last_activity, first.updated_at)
    previous = first
    for call in calls[1:]:
        time.sleep(TICK)
        call()
        row = read_row(db_url, "watcher_price_monitor")
        assert row.created_at == first.created_at
        assert row.last_activity > previous.last_activity
        assert row.updated_at > previous.updated_at
        assert_aware_and_recent(row.created_at, row.last_activity, row.updated_at)
        previous = row
    assert count_rows(db_url) == 1


def test_metadata_columns_read_back(db_url: str, engines: Any) -> None:
    engine = engines(db_url)
    OfficeReporter(
        "reputation_wb",
        "reputation",
        "WB отзывы",
        brand="ohana_market",
        salary_equivalent=55000,
        fte_coefficient=Decimal("1.50"),
        engine=engine,
    ).report_idle()
    OfficeReporter("content_descriptions", "content_factory", "Генератор описаний",
                   engine=engine).report_idle()
    OfficeReporter("scout_niche", "scout", "Ниши", fte_coefficient=0.25,
                   engine=engine).report_idle()

    wb = read_row(db_url, "reputation_wb")
    assert (wb.department, wb.name, wb.brand, wb.salary_equivalent) == (
        "reputation", "WB отзывы", "ohana_market", 55000,
    )
    assert wb.fte_coefficient == Decimal("1.50") and str(wb.fte_coefficient) == "1.50"

    content = read_row(db_url, "content_descriptions")  # the spec's defaults
    assert content.brand is None
    assert content.salary_equivalent == 60000
    assert content.fte_coefficient == Decimal("1.00")

    assert read_row(db_url, "scout_niche").fte_coefficient == Decimal("0.25")

    shown = read_statuses(db_url)
    assert shown["reputation_wb"].fte_coefficient == Decimal("1.50")
    assert shown["reputation_wb"].salary_equivalent == 55000
    assert shown["reputation_wb"].brand == "ohana_market"


def test_texts_at_the_column_limits_are_stored_whole(db_url: str, engines: Any) -> None:
    agent_id = "a" * 100  # an agent id is Latin, as in agents.yaml; the other texts Cyrillic:
    # limits are characters, not bytes
    OfficeReporter(
        agent_id,
        "д" * 50,
        "и" * 100,
        brand="б" * 20,
        salary_equivalent=2**31 - 1,
        fte_coefficient=Decimal("9.99"),
        engine=engines(db_url),
    ).report_working("т" * 255)
    row = read_row(db_url, agent_id)
    assert row.department == "д" * 50
    assert row.name == "и" * 100
    assert row.brand == "б" * 20
    assert row.task == "т" * 255
    assert row.salary_equivalent == 2**31 - 1
    assert row.fte_coefficient == Decimal("9.99")


# --------------------------------------------------------------------------- db=


def test_db_accepts_a_session(db_url: str, engines: Any) -> None:
    engine = engines(db_url)
    reporter = make_reporter(engine)
    with Session(engine) as session:
        reporter.report_working("Сканирование", {"n": 1}, db=session)
        # committed: another connection sees it while the session is still open
        row = read_row(db_url, "watcher_price_monitor")
        assert row.status is AgentStatus.ok and row.task == "Сканирование"
        assert row.metrics == {"n": 1}

        reporter.report_error("boom", db=session)
        assert read_row(db_url, "watcher_price_monitor").task == "Ошибка: boom"
        before = read_row(db_url, "watcher_price_monitor")
        time.sleep(TICK)
        reporter.heartbeat(db=session)
        after = read_row(db_url, "watcher_price_monitor")
        assert after.last_activity > before.last_activity
        assert after.status is AgentStatus.error

        reporter.report_offline(db=session)
        assert read_row(db_url, "watcher_price_monitor").status is AgentStatus.offline


def test_db_accepts_a_connection(db_url: str, engines: Any) -> None:
    engine = engines(db_url)
    reporter = make_reporter(engine)
    with engine.connect() as conn:
        reporter.report_working("Сканирование", {"n": 1}, db=conn)
        row = read_row(db_url, "watcher_price_monitor")
        assert row is not None
        assert row.status is AgentStatus.ok and row.task == "Сканирование"
        assert row.metrics == {"n": 1}

        reporter.report_idle(db=conn)
        reporter.report_warning("Медленно", db=conn)
        assert read_row(db_url, "watcher_price_monitor").status is AgentStatus.warning

        before = read_row(db_url, "watcher_price_monitor")
        time.sleep(TICK)
        reporter.heartbeat(db=conn)
        after = read_row(db_url, "watcher_price_monitor")
        assert after.last_activity > before.last_activity
        assert after.status is AgentStatus.warning


def test_heartbeat_with_a_connection_registers_a_missing_agent(db_url: str, engines: Any) -> None:
    engine = engines(db_url)
    with engine.connect() as conn:
        make_reporter(engine).heartbeat(db=conn)
        row = read_row(db_url, "watcher_price_monitor")
        assert row is not None and row.status is AgentStatus.ok and row.task is None


def test_connection_in_a_savepoint_writes_in_the_callers_transaction(
    db_url: str, engines: Any
) -> None:
    engine = engines(db_url)
    reporter = make_reporter(engine)
    with engine.connect() as conn:
        conn.begin()
        conn.begin_nested()
        reporter.report_working("Сканирование", db=conn)
        assert conn.in_transaction()
        own = conn.execute(
            select(STATUS.c.task).where(STATUS.c.agent_id == "watcher_price_monitor")
        ).scalar_one()
        assert own == "Сканирование"
        assert read_row(db_url, "watcher_price_monitor") is None  # not committed yet
        conn.rollback()
    assert read_row(db_url, "watcher_price_monitor") is None


def test_session_in_a_savepoint_leaves_the_commit_to_the_caller(db_url: str, engines: Any) -> None:
    engine = engines(db_url)
    reporter = make_reporter(engine)
    with Session(engine) as session:
        session.begin_nested()
        reporter.report_working("Сканирование", db=session)
        assert session.in_nested_transaction()  # the caller's savepoint is still open
        assert read_row(db_url, "watcher_price_monitor") is None  # not committed yet
        session.rollback()  # the savepoint
        session.rollback()  # the outer transaction
    assert read_row(db_url, "watcher_price_monitor") is None


@pytest.mark.parametrize(
    "wrong", ["sqlite:///office.db", object(), 42], ids=["str", "object", "int"]
)
def test_db_of_a_wrong_type_raises_type_error(sqlite_url: str, engines: Any, wrong: Any) -> None:
    reporter = make_reporter(engines(sqlite_url))
    message = f"db must be a SQLAlchemy Session or Connection, got {type(wrong).__name__}"
    for call in (
        lambda: reporter.report_working("x", db=wrong),
        lambda: reporter.report_idle(db=wrong),
        lambda: reporter.report_warning("x", db=wrong),
        lambda: reporter.report_error("x", db=wrong),
        lambda: reporter.report_offline(db=wrong),
        lambda: reporter.heartbeat(db=wrong),
    ):
        with pytest.raises(TypeError, match="^" + re.escape(message) + "$"):
            call()
    assert count_rows(sqlite_url) == 0


def test_db_given_an_engine_raises_type_error(sqlite_url: str, engines: Any) -> None:
    engine = engines(sqlite_url)
    with pytest.raises(
        TypeError,
        match="^" + re.escape("db must be a SQLAlchemy Session or Connection, got Engine") + "$",
    ):
        make_reporter(engine).report_idle(db=engine)
    assert count_rows(sqlite_url) == 0


# --------------------------------------------------------------------------- default engine


def test_default_engine_from_office_database_url(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OFFICE_DATABASE_URL", sqlite_url)
    reporter = OfficeReporter("cfo_report", "cfo", "Отчёт CFO")
    try:
        reporter.report_working("Сверка", {"rows": 10})
        row = read_row(sqlite_url, "cfo_report")
        assert row is not None
        assert (row.status, row.task, row.metrics) == (AgentStatus.ok, "Сверка", {"rows": 10})
        assert (row.department, row.name) == ("cfo", "Отчёт CFO")
        reporter.heartbeat()
        reporter.report_offline()
        assert read_row(sqlite_url, "cfo_report").status is AgentStatus.offline
    finally:
        reporter_module.default_engine(sqlite_url).dispose()


# ------------------------------------------------------------------------ time zones (PostgreSQL)


def _same_transaction_now(conn: Connection, agent_id: str) -> Any:
    return conn.execute(
        text(
            "SELECT last_activity, updated_at, now() AS now, "
            "last_activity = now() AS la_is_now, updated_at = now() AS ua_is_now "
            "FROM office_agent_status WHERE agent_id = :a"
        ),
        {"a": agent_id},
    ).one()


def test_last_activity_is_the_right_instant_with_set_time_zone_on_the_connection(
    pg_url: str, engines: Any
) -> None:
    engine = engines(pg_url)
    reporter = make_reporter(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("SET TIME ZONE 'Asia/Vladivostok'")
        reporter.report_working("Сканирование", db=conn)  # commits, the setting stays
        assert conn.execute(text("SHOW TIME ZONE")).scalar_one() == "Asia/Vladivostok"

        seen_here = conn.execute(
            select(STATUS.c.last_activity).where(STATUS.c.agent_id == "watcher_price_monitor")
        ).scalar_one()
        assert seen_here.utcoffset() == timedelta(hours=10)
        assert_aware_and_recent(seen_here)
        server_now = conn.execute(select(func.now())).scalar_one()
        assert timedelta(0) <= server_now - seen_here < CLOCK_SLACK

        # inside the caller's transaction: exactly the server's now() of that transaction
        conn.begin_nested()
        reporter.heartbeat(db=conn)
        same = _same_transaction_now(conn, "watcher_price_monitor")
        assert same.la_is_now is True and same.ua_is_now is True
        assert same.last_activity == same.now
        conn.begin_nested()
        reporter.report_error("boom", db=conn)
        same = _same_transaction_now(conn, "watcher_price_monitor")
        assert same.la_is_now is True and same.ua_is_now is True
        conn.commit()

    row = read_row(pg_url, "watcher_price_monitor")  # a UTC session
    assert row.status is AgentStatus.error
    assert row.last_activity >= seen_here
    assert_aware_and_recent(row.last_activity, row.updated_at, row.created_at)


def test_last_activity_is_the_right_instant_with_a_non_utc_engine(
    pg_url: str, engines: Any
) -> None:
    engine = engines(pg_url, connect_args={"options": "-c timezone=America/Los_Angeles"})
    reporter = make_reporter(engine)
    with engine.connect() as conn:
        server_before = conn.execute(select(func.now())).scalar_one()
        conn.rollback()
    reporter.report_working("Сканирование", {"n": 1})
    with engine.connect() as conn:
        assert conn.execute(text("SHOW TIME ZONE")).scalar_one() == "America/Los_Angeles"
        row = conn.execute(select(STATUS).where(STATUS.c.agent_id == "watcher_price_monitor")).one()
        server_after = conn.execute(select(func.now())).scalar_one()
    assert row.last_activity.utcoffset() in (timedelta(hours=-7), timedelta(hours=-8))
    assert_aware_and_recent(row.last_activity, row.updated_at, row.created_at)
    assert server_before <= row.last_activity <= server_after

    with engine.connect() as conn:
        conn.begin()
        conn.begin_nested()
        reporter.report_idle(db=conn)
        same = _same_transaction_now(conn, "watcher_price_monitor")
        assert same.la_is_now is True and same.ua_is_now is True
        conn.commit()

    # read from a UTC session: the stored instant is UTC now, not shifted by the zone
    reader = _reader(pg_url)
    try:
        with reader.connect() as conn:
            stored_utc = conn.execute(
                text(
                    "SELECT last_activity AT TIME ZONE 'UTC' FROM office_agent_status "
                    "WHERE agent_id = 'watcher_price_monitor'"
                )
            ).scalar_one()
    finally:
        reader.dispose()
    naive_utc_now = datetime.now(timezone.utc).replace(tzinfo=None)
    assert abs(stored_utc - naive_utc_now) < CLOCK_SLACK


# --------------------------------------------------------------------------- bad input


def _exact(message: str) -> str:
    return "^" + re.escape(message) + "$"


BAD_ARGUMENTS = [
    pytest.param(
        {"agent_id": "a" * 101},
        "field 'agent_id': must be at most 100 characters, got 101",
        id="agent_id-101",
    ),
    pytest.param(
        {"name": "n" * 101},
        "field 'name': must be at most 100 characters, got 101",
        id="name-101",
    ),
    pytest.param(
        {"department": "d" * 51},
        "field 'department': must be at most 50 characters, got 51",
        id="department-51",
    ),
    pytest.param(
        {"brand": "b" * 21},
        "field 'brand': must be at most 20 characters, got 21",
        id="brand-21",
    ),
    pytest.param({"agent_id": ""}, "field 'agent_id': must not be empty", id="agent_id-empty"),
    pytest.param({"agent_id": "   "}, "field 'agent_id': must not be empty", id="agent_id-blank"),
    pytest.param(
        {"department": ""},
        "field 'department': must not be empty",
        id="department-empty",
    ),
    pytest.param({"name": ""}, "field 'name': must not be empty", id="name-empty"),
    pytest.param(
        {"brand": ""},
        "field 'brand': must not be empty; use null for none",
        id="brand-empty",
    ),
    pytest.param(
        {"agent_id": 42},
        "field 'agent_id': must be a string, got 42 (int)",
        id="agent_id-int",
    ),
    pytest.param(
        {"name": b"n"},
        "field 'name': expected a string, got b'n' (bytes)",
        id="name-bytes",
    ),
    # The registry's rules, stricter than the reporter's own once were (issue 10):
    pytest.param(
        {"agent_id": "price monitor"},
        "field 'agent_id': must use only Latin letters, digits, '_', '.', ':' and '-' (no spaces)",
        id="agent_id-space",
    ),
    pytest.param(
        {"agent_id": "мониторинг"},
        "field 'agent_id': must use only Latin letters, digits, '_', '.', ':' and '-' (no spaces)",
        id="agent_id-cyrillic",
    ),
    pytest.param(
        {"fte_coefficient": "1.5"},
        "field 'fte_coefficient': expected a number such as 1.0 or 0.5, got '1.5' (str)",
        id="fte-text-number",
    ),
    pytest.param(
        {"name": "Мониторинг\x00цен"},
        "field 'name': contains a NUL character (U+0000) at character 11, which the database "
        "cannot store; remove it",
        id="name-nul",
    ),
    pytest.param(
        {"department": "watch\udcffer"},
        "field 'department': contains a lone surrogate (U+DCFF) at character 6, which the "
        "database cannot store; remove it",
        id="department-surrogate",
    ),
    pytest.param(
        {"agent_id": "w" * 500},
        "field 'agent_id': must be at most 100 characters, got 500",
        id="agent_id-500",
    ),
    pytest.param(
        {"fte_coefficient": "x" * 500},
        f"field 'fte_coefficient': expected a number such as 1.0 or 0.5, got '{'x' * 98}… (str)",
        id="fte-long-text-cut",
    ),
    pytest.param(
        {"fte_coefficient": 10},
        "field 'fte_coefficient': must be at most 9.99, got 10",
        id="fte-10",
    ),
    pytest.param(
        {"fte_coefficient": -0.5},
        "field 'fte_coefficient': must be 0 or more, got -0.5",
        id="fte-negative",
    ),
    pytest.param(
        {"fte_coefficient": 1.234},
        "field 'fte_coefficient': must have at most 2 decimal places, got 1.234",
        id="fte-3-decimals",
    ),
    pytest.param(
        {"fte_coefficient": float("nan")},
        "field 'fte_coefficient': must be a finite number, got nan",
        id="fte-nan",
    ),
    pytest.param(
        {"fte_coefficient": Decimal("Infinity")},
        "field 'fte_coefficient': must be a finite number, got Infinity",
        id="fte-decimal-infinity",
    ),
    pytest.param(
        {"fte_coefficient": "abc"},
        "field 'fte_coefficient': expected a number such as 1.0 or 0.5, got 'abc' (str)",
        id="fte-text",
    ),
    pytest.param(
        {"fte_coefficient": True},
        "field 'fte_coefficient': expected a number such as 1.0 or 0.5, got True (bool)",
        id="fte-bool",
    ),
    pytest.param(
        {"salary_equivalent": -1},
        "field 'salary_equivalent': must be 0 or more, got -1",
        id="salary-negative",
    ),
    pytest.param(
        {"salary_equivalent": 2**31},
        "field 'salary_equivalent': must be at most 2147483647, got 2147483648",
        id="salary-over-integer",
    ),
    pytest.param(
        {"salary_equivalent": 60000.5},
        "field 'salary_equivalent': expected an integer, got 60000.5 (float)",
        id="salary-float",
    ),
    pytest.param(
        {"salary_equivalent": "60000"},
        "field 'salary_equivalent': expected an integer, got '60000' (str)",
        id="salary-str",
    ),
    pytest.param(
        {"salary_equivalent": True},
        "field 'salary_equivalent': expected an integer, got True (bool)",
        id="salary-bool",
    ),
]


@pytest.mark.parametrize(("override", "message"), BAD_ARGUMENTS)
def test_bad_constructor_arguments_raise_value_error(
    override: dict[str, Any], message: str
) -> None:
    arguments: dict[str, Any] = {
        "agent_id": "watcher_price_monitor",
        "department": "watcher",
        "name": "Мониторинг цен",
        "brand": "ohana_market",
        "salary_equivalent": 60000,
        "fte_coefficient": 1.0,
    }
    arguments.update(override)
    with pytest.raises(ValueError, match=_exact(message)) as info:
        OfficeReporter(**arguments)
    assert isinstance(info.value, FieldError)  # an OfficeError, as every error celery-office raises
    assert info.value.field == next(iter(override))


@pytest.mark.parametrize("fte", [0, 0.0, 9.99, Decimal("2.25"), 1, Decimal("0.5")])
def test_valid_fte_coefficients_are_accepted(fte: Any) -> None:
    assert OfficeReporter("a", "d", "n", fte_coefficient=fte).fte_coefficient == Decimal(str(fte))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("agent_id", "price monitor"),
        ("agent_id", "a" * 101),
        ("department", "d" * 51),
        ("name", "n\x00"),
        ("brand", "b" * 21),
        ("brand", ""),
        ("salary_equivalent", -1),
        ("salary_equivalent", "60000"),
        ("fte_coefficient", "1.5"),
        ("fte_coefficient", 10),
        ("fte_coefficient", 0.125),
    ],
)
def test_reporter_and_registry_refuse_a_value_for_the_same_reason(field: str, value: Any) -> None:
    """One validator: what agents.yaml refuses, OfficeReporter refuses, in the same words."""
    arguments: dict[str, Any] = {"agent_id": "w", "department": "d", "name": "n"}
    with pytest.raises(FieldError) as by_reporter:
        OfficeReporter(**{**arguments, field: value})
    if field == "agent_id":
        document = {"agents": {value: {"department": "d", "name": "n", "tasks": {"t": None}}}}
    else:
        document = {
            "agents": {"w": {"department": "d", "name": "n", field: value, "tasks": {"t": None}}}
        }
    with pytest.raises(RegistryError) as by_registry:
        parse_registry(json.dumps(document))  # JSON is YAML: exact values, no YAML guessing
    expected = by_reporter.value.problem
    if field == "agent_id":
        assert by_registry.value.problem == f"agent id {expected}"
    else:
        assert by_registry.value.problem.startswith(expected), (by_registry.value.problem, expected)
        assert by_registry.value.field == field


@pytest.mark.parametrize(
    "bad",
    [["products_scanned", 1], "products_scanned=1", 5, ("a", 1)],
    ids=["list", "str", "int", "tuple"],
)
def test_metrics_not_a_dict_raise_type_error(sqlite_url: str, engines: Any, bad: Any) -> None:
    reporter = make_reporter(engines(sqlite_url))
    message = f"metrics must be a dict of JSON-compatible values, got {type(bad).__name__}"
    with pytest.raises(TypeError, match=_exact(message)):
        reporter.report_working("Сканирование", bad)
    with pytest.raises(TypeError, match=_exact(message)):
        reporter.report_idle(bad)
    with pytest.raises(TypeError, match=_exact(message)):
        reporter.report_idle(metrics=bad)
    with pytest.raises(TypeError, match=_exact(message)):
        reporter.report_warning("x", bad)
    with pytest.raises(TypeError, match=_exact(message)):
        reporter.report_error("x", bad)
    assert count_rows(sqlite_url) == 0


def test_long_task_is_cut_to_255_characters(db_url: str, engines: Any) -> None:
    reporter = make_reporter(engines(db_url))
    long_task = "я" * 1000  # two bytes each in UTF-8: the limit is in characters
    reporter.report_working(long_task)
    row = read_row(db_url, "watcher_price_monitor")
    assert len(row.task) == 255
    assert row.task == "я" * 254 + ELLIPSIS

    reporter.report_warning("w" * 1000)
    row = read_row(db_url, "watcher_price_monitor")
    assert row.status is AgentStatus.warning
    assert row.task == "w" * 254 + ELLIPSIS


def test_long_error_message_is_cut_to_255_characters(db_url: str, engines: Any) -> None:
    reporter = make_reporter(engines(db_url))
    message = "Traceback " + "x" * 990
    reporter.report_error(message)
    row = read_row(db_url, "watcher_price_monitor")
    assert row.status is AgentStatus.error
    assert len(row.task) == 255
    assert row.task.startswith("Ошибка: Traceback ")
    assert row.task.endswith(ELLIPSIS)
    assert row.task == ("Ошибка: " + message)[:254] + ELLIPSIS


# --------------------------------------------------------------------------- JSON-safe metrics


def test_metrics_are_stored_json_safe(db_url: str, engines: Any) -> None:
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    metrics = {
        "decimal": Decimal("12.5"),
        "decimal_integral": Decimal("3.00"),
        "at": datetime(2025, 1, 31, 12, 30, 15, tzinfo=timezone.utc),
        "naive_at": datetime(2025, 1, 31, 12, 30),
        "id": ident,
        "tags": {"wb", "ozon", "ym"},
        "pair": (1, "a"),
        "nested": {"inner": {"values": [Decimal("0.5"), float("nan"), (2, 3)]}},
        "nan": float("nan"),
        "inf": float("inf"),
        "minus_inf": float("-inf"),
        "status": AgentStatus.warning,
        7: "int key",
        "text": "Привет",
        "flag": True,
        "none": None,
    }
    expected = {
        "decimal": 12.5,
        "decimal_integral": 3,
        "at": "2025-01-31T12:30:15+00:00",
        "naive_at": "2025-01-31T12:30:00",
        "id": "12345678-1234-5678-1234-567812345678",
        "tags": ["ozon", "wb", "ym"],
        "pair": [1, "a"],
        "nested": {"inner": {"values": [0.5, None, [2, 3]]}},
        "nan": None,
        "inf": None,
        "minus_inf": None,
        "status": "warning",
        "7": "int key",
        "text": "Привет",
        "flag": True,
        "none": None,
    }
    reporter = make_reporter(engines(db_url))
    reporter.report_working("Сканирование", metrics)
    row = read_row(db_url, "watcher_price_monitor")
    assert row.metrics == expected
    assert json.loads(json.dumps(row.metrics, allow_nan=False)) == expected

    reporter.report_idle(metrics)
    assert read_row(db_url, "watcher_price_monitor").metrics == expected
    assert read_statuses(db_url)["watcher_price_monitor"].metrics == expected

    # what the dashboard's own SQL sees: a JSON object, with real JSON nulls for NaN
    dialect = make_url(db_url).get_backend_name()
    reader = _reader(db_url)
    try:
        with reader.connect() as conn:
            if dialect == "postgresql":
                kinds = conn.execute(
                    text(
                        "SELECT jsonb_typeof(metrics), jsonb_typeof(metrics->'nan'), "
                        "jsonb_typeof(metrics->'decimal'), jsonb_typeof(metrics->'tags') "
                        "FROM office_agent_status"
                    )
                ).one()
            else:
                kinds = conn.execute(
                    text(
                        "SELECT json_type(metrics), json_type(metrics, '$.nan'), "
                        "json_type(metrics, '$.decimal'), json_type(metrics, '$.tags') "
                        "FROM office_agent_status"
                    )
                ).one()
    finally:
        reader.dispose()
    assert tuple(kinds) == (
        ("object", "null", "number", "array") if dialect == "postgresql"
        else ("object", "null", "real", "array")
    )


def test_metrics_given_are_not_mutated(sqlite_url: str, engines: Any) -> None:
    metrics = {"d": Decimal("1.5"), "s": {1, 2}}
    make_reporter(engines(sqlite_url)).report_idle(metrics)
    assert metrics == {"d": Decimal("1.5"), "s": {1, 2}}


def test_error_message_with_a_nul_character_is_stored_on_postgresql(
    pg_url: str, engines: Any
) -> None:
    make_reporter(engines(pg_url)).report_error("bad\x00byte")
    row = read_row(pg_url, "watcher_price_monitor")
    assert row.status is AgentStatus.error
    assert row.task.startswith("Ошибка: bad")


def test_metrics_with_a_nul_character_are_stored_on_postgresql(pg_url: str, engines: Any) -> None:
    make_reporter(engines(pg_url)).report_idle({"raw": "a\x00b", "n": 1})
    row = read_row(pg_url, "watcher_price_monitor")
    assert row.status is AgentStatus.ok
    assert row.metrics["n"] == 1
    assert row.metrics["raw"].startswith("a") and row.metrics["raw"].endswith("b")


def test_texts_with_lone_surrogates_are_stored(db_url: str, engines: Any) -> None:
    """``surrogateescape`` puts lone surrogates in file names, hence in exception messages:
    no driver encodes them, and a status write must not fail on one."""
    reporter = make_reporter(engines(db_url))
    reporter.report_error("cannot open /data/\udcffprices.csv")
    row = read_row(db_url, "watcher_price_monitor")
    assert row.task == "Ошибка: cannot open /data/\ufffdprices.csv"
    reporter.report_idle({"file": "\udcff.csv", "rows": 10 ** 5000, "n": 2 ** 70})
    row = read_row(db_url, "watcher_price_monitor")
    assert row.metrics == {"file": "\ufffd.csv", "rows": None, "n": 2 ** 70}


# ------------------------------------------------------------------------ no password in errors


SECRET = "s3cret-pw"


def _exception_texts(exc: BaseException) -> list[str]:
    texts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts += [str(current), repr(current)]
        current = current.__cause__ or current.__context__
    return texts


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql+psycopg2://office:{SECRET}@127.0.0.1:1/x",
        f"postgresql://office:{SECRET}@127.0.0.1:1/x",
        f"postgresql+psycopg2://postgres:{SECRET}@127.0.0.1:5432/office_no_such_database",
    ],
    ids=["refused", "default-driver", "no-such-database"],
)
def test_connection_errors_do_not_show_the_password(url: str, engines: Any) -> None:
    reporter = make_reporter(engines(url, connect_timeout=2))
    for call in (lambda: reporter.report_working("x"), lambda: reporter.heartbeat()):
        # The connection's own failure, not any error (a timeout, a bug in the reporter):
        with pytest.raises(OperationalError, match="refused|does not exist") as info:
            call()
        assert str(info.value)  # a message worth reading
        for shown in _exception_texts(info.value):
            assert SECRET not in shown, shown


def test_default_engine_errors_do_not_show_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"postgresql+psycopg2://office:{SECRET}@127.0.0.1:1/x"
    monkeypatch.setenv("OFFICE_DATABASE_URL", url)
    reporter = OfficeReporter("a", "d", "n")
    try:
        with pytest.raises(OperationalError, match="refused") as info:
            reporter.report_idle()
        for shown in _exception_texts(info.value):
            assert SECRET not in shown, shown
    finally:
        reporter_module.default_engine(url).dispose()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            f"postgresql+asyncpg://office:{SECRET}@127.0.0.1:1/x",
            "the database URL postgresql+asyncpg://office:***@127.0.0.1:1/x names the "
            "asynchronous driver 'asyncpg'",
        ),
        (
            f"postgresql+psycopg2://office:{SECRET}@127.0.0.1:notaport/x",
            "the database URL is not valid: its port is not a number; expected "
            "dialect+driver://user:password@host:port/database. Check OFFICE_DATABASE_URL, or "
            "pass engine= to OfficeReporter.",
        ),
    ],
    ids=["asyncpg", "port-not-a-number"],
)
def test_default_engine_url_problems_are_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, url: str, expected: str
) -> None:
    """A URL the reporter cannot use: one OfficeConfigError that says what to do, not a
    driver's traceback or greenlet_spawn error on every call."""
    monkeypatch.setenv("OFFICE_DATABASE_URL", url)
    reporter = OfficeReporter("a", "d", "n")
    for call in (reporter.report_idle, reporter.heartbeat):
        with pytest.raises(OfficeConfigError) as info:
            call()
        message = str(info.value)
        assert expected in message and "\n" not in message
        if "asyncpg" in url:  # names the synchronous driver to use instead
            assert "use postgresql+psycopg2://office:***@127.0.0.1:1/x" in message
        for shown in _exception_texts(info.value):
            assert SECRET not in shown, shown


def test_safe_url_hides_the_password() -> None:
    url = f"postgresql+psycopg2://office:{SECRET}@127.0.0.1:1/x"
    assert safe_url(url) == "postgresql+psycopg2://office:***@127.0.0.1:1/x"
    assert safe_url(make_url(url)) == "postgresql+psycopg2://office:***@127.0.0.1:1/x"
    special = "postgresql://office:p%40ss%3Aw%2Frd@db.example:5432/office"
    assert "p%40ss" not in safe_url(special) and "p@ss" not in safe_url(special)
    assert safe_url(special) == "postgresql://office:***@db.example:5432/office"
    assert safe_url("sqlite:///office.db") == "sqlite:///office.db"
    assert safe_url("not a url") == "<invalid database URL>"
    assert safe_url(None) == "<invalid database URL>"
