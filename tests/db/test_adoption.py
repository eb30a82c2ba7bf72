"""An ``office_agent_status`` made by the ADOLF spec's own model, with rows, is adopted.

The database celery-office joins in production already has the dashboard's table (the spec's
checklist creates it). Migration must build only what is missing around it, keep every row as
it is, and then let the plugin, the spec's hand-called reporter and the spec's model (the
dashboard's view of the table) share it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, inspect, select, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from celery_office import AgentStatus, OfficeReporter, agent_statuses, create_office_engine
from celery_office.core.changes import Batch, Outcome, RunChange
from celery_office.db.batches import apply_batch
from celery_office.db.models import DAY_VIEW, EFFECTIVE_STATUS_VIEW, STATUS_TABLE
from celery_office.db.revisions import VERSION_TABLE, head_revision
from celery_office.db.schema import current_revision, migrate
from celery_office.db.workers import register_worker

from . import spec_model
from .test_store import Agent

SIDE_TABLES = {"office_worker", "office_agent_run", "office_agent_outcome"}
NODE = "adolf1@host"


@pytest.fixture(params=["postgresql", "sqlite"])
def spec_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database where the spec's model created the table and its reporter wrote rows."""
    url = (
        request.getfixturevalue("fresh_pg_url")
        if request.param == "postgresql"
        else f"sqlite:///{tmp_path / 'adolf.db'}"
    )
    engine = create_engine(url, poolclass=NullPool)
    try:
        spec_model.Base.metadata.create_all(engine)
        with Session(engine) as db:
            watcher = spec_model.OfficeReporter(
                "watcher_price_monitor", "watcher", "Мониторинг цен", brand="ohana_market"
            )
            watcher.report_working("Сканирование цен конкурентов", {"products_scanned": 100}, db=db)
            watcher.report_idle(metrics={"products_scanned": 150, "price_changes": 12}, db=db)
            wb = spec_model.OfficeReporter("reputation_wb", "reputation", "WB отзывы",
                                           brand="ohana_market", fte_coefficient=0.5)
            wb.report_error("API timeout", db=db)
            spec_model.OfficeReporter("content_descriptions", "content_factory",
                                      "Генератор описаний").report_offline(db=db)
    finally:
        engine.dispose()
    return url


@pytest.fixture
def engine(spec_url: str) -> Iterator[Engine]:
    engine = create_office_engine(spec_url)
    yield engine
    engine.dispose()


def whole_rows(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT * FROM {STATUS_TABLE} ORDER BY id"))
        return [tuple(row) for row in rows]


def spec_rows(engine: Engine) -> dict[str, Any]:
    """Every row as the spec's model (the dashboard) reads it."""
    with Session(engine) as db:
        return {row.agent_id: row for row in db.scalars(select(spec_model.OfficeAgentStatus))}


def test_migrate_adopts_the_spec_table_and_keeps_every_row(spec_url: str, engine: Engine) -> None:
    before = whole_rows(engine)
    assert len(before) == 3
    indexes = inspect(engine).get_indexes(STATUS_TABLE)

    migrate(spec_url)

    assert whole_rows(engine) == before  # id, created_at, status, task, metrics: all of it
    inspector = inspect(engine)
    assert SIDE_TABLES | {STATUS_TABLE, VERSION_TABLE} <= set(inspector.get_table_names())
    assert sorted(inspector.get_view_names()) == [DAY_VIEW, EFFECTIVE_STATUS_VIEW]
    assert inspector.get_indexes(STATUS_TABLE) == indexes  # the dashboard's table untouched
    assert current_revision(spec_url) == head_revision()
    with engine.connect() as conn:
        effective = dict(conn.execute(
            text(f"SELECT agent_id, effective_status FROM {EFFECTIVE_STATUS_VIEW}")).all())
    assert effective == {"watcher_price_monitor": "ok", "reputation_wb": "error",
                         "content_descriptions": "offline"}

    migrate(spec_url)  # every later worker start: nothing to do, nothing changed
    assert whole_rows(engine) == before


def test_plugin_and_spec_reporter_share_the_adopted_table(spec_url: str, engine: Engine) -> None:
    migrate(spec_url)
    before = {row[1]: row for row in whole_rows(engine)}
    identity = {a: (row.id, row.created_at) for a, row in spec_rows(engine).items()}

    # A worker serving the Watcher agent and a new one: registers, runs a task, fails one.
    agents = {a.agent_id: a for a in (Agent("watcher_price_monitor"),
                                      Agent("watcher_night_agent", name="Ночной агент"))}
    with engine.begin() as conn:
        register_worker(conn, node_name=NODE, hostname="host", pid=1,
                        agents=list(agents.values()), since=time.time() - 1)
    batch = Batch()
    batch.runs["t1"] = RunChange("watcher_price_monitor", "Сканирование цен", time.time())
    batch.outcomes["watcher_night_agent"] = Outcome(
        AgentStatus.error, "Ошибка: TimeoutError: 30s", time.time())
    batch.metrics["watcher_night_agent"] = ({"nights": 1}, time.time())
    batch.touched.update(agents)
    with engine.begin() as conn:
        apply_batch(conn, batch, agents, NODE)
    # celery-office's own hand-called reporter, too.
    OfficeReporter("scout_niche", "scout", "Поиск ниш", engine=engine).report_warning("Мало данных")

    # A module not yet moved to the plugin keeps calling the spec's reporter.
    with Session(engine) as db:
        spec_model.OfficeReporter("reputation_wb", "reputation", "WB отзывы",
                                  brand="ohana_market").report_working("Обработка отзывов", db=db)
        spec_model.OfficeReporter("lex_monitor", "lex", "Мониторинг законов").report_idle(db=db)

    rows = spec_rows(engine)  # the dashboard reads every row, whoever wrote it
    assert set(rows) == {"watcher_price_monitor", "watcher_night_agent", "reputation_wb",
                         "content_descriptions", "scout_niche", "lex_monitor"}
    assert rows["watcher_price_monitor"].status is spec_model.AgentStatus.ok
    assert rows["watcher_price_monitor"].task == "Сканирование цен"
    for agent_id, (id_, created_at) in identity.items():  # rows keep their identity
        assert (rows[agent_id].id, rows[agent_id].created_at) == (id_, created_at)
    assert rows["watcher_night_agent"].status is spec_model.AgentStatus.error
    assert rows["watcher_night_agent"].metrics == {"nights": 1}
    assert rows["scout_niche"].status is spec_model.AgentStatus.warning
    assert rows["reputation_wb"].task == "Обработка отзывов"
    assert rows["lex_monitor"].status is spec_model.AgentStatus.ok
    # Rows the worker does not serve are left as their writers left them.
    after = {row[1]: row for row in whole_rows(engine)}
    assert after["content_descriptions"] == before["content_descriptions"]
    with engine.connect() as conn:
        read = {row.agent_id: row for row in agent_statuses(conn, 300)}
    assert read["watcher_price_monitor"].task == "Сканирование цен"
    assert read["content_descriptions"].effective_status is AgentStatus.offline


def test_an_existing_agentstatus_type_without_the_table_is_used(fresh_pg_url: str) -> None:
    engine = create_office_engine(fresh_pg_url)
    try:
        with engine.begin() as conn:  # the spec's model's type, with a value a team added
            conn.exec_driver_sql(
                "CREATE TYPE agentstatus AS ENUM ('ok', 'warning', 'error', 'offline', 'paused')")
        migrate(fresh_pg_url)
        with engine.connect() as conn:
            labels = conn.scalars(text(
                "SELECT enumlabel FROM pg_enum JOIN pg_type ON pg_type.oid = enumtypid "
                "WHERE typname = 'agentstatus' ORDER BY enumsortorder")).all()
        assert labels == ["ok", "warning", "error", "offline", "paused"]
        assert current_revision(fresh_pg_url) == head_revision()
        OfficeReporter("cfo_report", "cfo", "P&L", engine=engine).report_idle()
        assert set(spec_rows(engine)) == {"cfo_report"}
    finally:
        engine.dispose()


def test_an_extra_status_value_is_read_as_it_is(fresh_pg_url: str) -> None:
    """A team added 'paused' to the enum of its table: the read side shows it, and silence
    still makes an agent offline."""
    spec = create_engine(fresh_pg_url, poolclass=NullPool)
    try:
        spec_model.Base.metadata.create_all(spec)
        with spec.begin() as conn:
            conn.exec_driver_sql("ALTER TYPE agentstatus ADD VALUE 'paused'")
    finally:
        spec.dispose()
    migrate(fresh_pg_url)
    engine = create_office_engine(fresh_pg_url)
    try:
        for agent_id in ("scout_niche", "lex_monitor"):
            OfficeReporter(agent_id, "scout", "Агент", engine=engine).report_idle()
        with engine.begin() as conn:
            conn.exec_driver_sql(f"UPDATE {STATUS_TABLE} SET status = 'paused'")
            conn.exec_driver_sql(f"UPDATE {STATUS_TABLE} SET last_activity = now() - "
                                 "interval '10 minutes' WHERE agent_id = 'lex_monitor'")
        with engine.connect() as conn:
            rows = {row.agent_id: row for row in agent_statuses(conn, 300)}
    finally:
        engine.dispose()
    assert rows["scout_niche"].status == "paused"
    assert rows["scout_niche"].effective_status == "paused"
    assert rows["lex_monitor"].status == "paused"
    assert rows["lex_monitor"].effective_status is AgentStatus.offline
