"""What migration accepts in an existing ``office_agent_status``, and what it names and refuses.

Each variant starts from the table the spec's model creates, with rows, and changes one thing a
team may have done. Accepted ones are adopted and written; refused ones give one line (table,
column, expected, found, the fix), change nothing in the schema, and the fix they name works.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from celery_office import OfficeReporter, agent_statuses, create_office_engine
from celery_office.core.changes import Batch, RunChange
from celery_office.db.batches import apply_batch
from celery_office.db.contract import ContractError
from celery_office.db.models import STATUS_TABLE
from celery_office.db.revisions import head_revision
from celery_office.db.schema import check, current_revision, migrate
from celery_office.db.workers import register_worker

from . import spec_model
from .test_store import Agent

CASES = Path(__file__).resolve().parents[1] / "cli" / "cli_cases"


def spec_table(url: str, *changes: str) -> Engine:
    """The spec's table with two rows, then ``changes`` (SQL) applied; an engine without pool."""
    engine = create_engine(url, poolclass=NullPool)
    spec_model.Base.metadata.create_all(engine)
    with Session(engine) as db:
        spec_model.OfficeReporter(
            "watcher_price_monitor", "watcher", "Мониторинг цен", brand="ohana_market"
        ).report_idle({"products_scanned": 150}, db=db)
        spec_model.OfficeReporter("reputation_wb", "reputation", "WB отзывы").report_error(
            "API timeout", db=db)
    with engine.begin() as conn:
        for change in changes:
            conn.exec_driver_sql(change)
    return engine


def pg_schema(url: str) -> str:
    """``pg_dump --schema-only``, without its per-run ``\\restrict`` key lines."""
    parsed = make_url(url)
    dump = subprocess.run(
        ["pg_dump", "--schema-only", "-h", parsed.host or "127.0.0.1",
         "-p", str(parsed.port or 5432), "-U", parsed.username or "postgres", parsed.database],
        capture_output=True, text=True, check=True,
        env={**os.environ, "PGPASSWORD": parsed.password or ""},
    ).stdout
    return "\n".join(line for line in dump.splitlines()
                     if not line.startswith(("\\restrict", "\\unrestrict")))


def schema_dump(url: str) -> str:
    """The whole schema, as the database describes it, and every row of the dashboard's table."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(f"SELECT * FROM {STATUS_TABLE} ORDER BY id").all()
            if engine.dialect.name == "sqlite":
                schema = conn.exec_driver_sql(
                    "SELECT type, name, sql FROM sqlite_master ORDER BY name").all()
                return f"{schema}\n{rows}"
    finally:
        engine.dispose()
    return f"{pg_schema(url)}\n{rows}"


@pytest.fixture
def sqlite_file_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'adolf.db'}"


@dataclass(frozen=True)
class Refused:
    changes: tuple[str, ...]
    column: str
    expected: str
    found: str
    fix: str


REFUSED_ON_POSTGRESQL = {
    "missing column": Refused(
        (f"ALTER TABLE {STATUS_TABLE} DROP COLUMN task",),
        "task", "VARCHAR(255)", "no such column",
        f"ALTER TABLE {STATUS_TABLE} ADD COLUMN task VARCHAR(255)"),
    "shorter length": Refused(
        (f"ALTER TABLE {STATUS_TABLE} ALTER COLUMN brand TYPE VARCHAR(12)",),
        "brand", "VARCHAR(20) or longer", "VARCHAR(12)",
        f"ALTER TABLE {STATUS_TABLE} ALTER COLUMN brand TYPE VARCHAR(20) USING brand::VARCHAR(20)"),
    "agent_id not unique": Refused(
        ("DROP INDEX ix_office_agent_status_agent_id",
         f"CREATE INDEX ix_office_agent_status_agent_id ON {STATUS_TABLE} (agent_id)"),
        "agent_id", "a unique index or unique constraint on (agent_id)", "none",
        f"CREATE UNIQUE INDEX CONCURRENTLY uq_{STATUS_TABLE}_agent_id"
        f" ON {STATUS_TABLE} (agent_id)"),
    "partial unique index": Refused(
        ("DROP INDEX ix_office_agent_status_agent_id",
         f"CREATE UNIQUE INDEX ix_office_agent_status_agent_id ON {STATUS_TABLE} (agent_id) "
         "WHERE brand IS NOT NULL"),
        "agent_id", "a unique index or unique constraint on (agent_id)", "none",
        f"CREATE UNIQUE INDEX CONCURRENTLY uq_{STATUS_TABLE}_agent_id"
        f" ON {STATUS_TABLE} (agent_id)"),
    "enum value missing": Refused(
        (f"ALTER TABLE {STATUS_TABLE} ALTER COLUMN status TYPE text",
         "DROP TYPE agentstatus",
         "CREATE TYPE agentstatus AS ENUM ('ok', 'warning', 'error')",
         f"ALTER TABLE {STATUS_TABLE} ALTER COLUMN status TYPE agentstatus"
         " USING status::agentstatus"),
        "status", "enum values ok, warning, error, offline", "ok, warning, error",
        "ALTER TYPE agentstatus ADD VALUE 'offline'"),
    "timestamp without time zone": Refused(
        (f"ALTER TABLE {STATUS_TABLE} ALTER COLUMN last_activity TYPE timestamp",),
        "last_activity", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP WITHOUT TIME ZONE",
        f"ALTER TABLE {STATUS_TABLE} ALTER COLUMN last_activity TYPE TIMESTAMP WITH TIME ZONE "
        "USING last_activity::TIMESTAMP WITH TIME ZONE"),
    "smallint salary": Refused(
        (f"ALTER TABLE {STATUS_TABLE} ALTER COLUMN salary_equivalent TYPE smallint "
         "USING (salary_equivalent / 1000)::smallint",),
        "salary_equivalent", "INTEGER", "SMALLINT",
        f"ALTER TABLE {STATUS_TABLE} ALTER COLUMN salary_equivalent TYPE INTEGER "
        "USING salary_equivalent::INTEGER"),
    "NOT NULL where celery-office writes NULL": Refused(
        (f"ALTER TABLE {STATUS_TABLE} ALTER COLUMN metrics SET NOT NULL",),
        "metrics", "NULL allowed", "NOT NULL",
        f"ALTER TABLE {STATUS_TABLE} ALTER COLUMN metrics DROP NOT NULL"),
    "extra NOT NULL column without a default": Refused(
        (f"ALTER TABLE {STATUS_TABLE} ADD COLUMN team_id integer NOT NULL DEFAULT 1",
         f"ALTER TABLE {STATUS_TABLE} ALTER COLUMN team_id DROP DEFAULT"),
        "team_id", "an extra column to be nullable or to have a default",
        "NOT NULL without a default",
        f"ALTER TABLE {STATUS_TABLE} ALTER COLUMN team_id DROP NOT NULL"),
    "id without a default": Refused(
        (f"ALTER TABLE {STATUS_TABLE} ALTER COLUMN id DROP DEFAULT",),
        "id", "a value the database fills in", "no default",
        f"ALTER TABLE {STATUS_TABLE} ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY"),
}

REFUSED_ON_SQLITE = {
    "missing column": Refused(
        (f"ALTER TABLE {STATUS_TABLE} DROP COLUMN task",),
        "task", "VARCHAR(255)", "no such column",
        f"ALTER TABLE {STATUS_TABLE} ADD COLUMN task VARCHAR(255)"),
    "agent_id not unique": Refused(
        ("DROP INDEX ix_office_agent_status_agent_id",
         f"CREATE INDEX ix_office_agent_status_agent_id ON {STATUS_TABLE} (agent_id)"),
        "agent_id", "a unique index or unique constraint on (agent_id)", "none",
        f"CREATE UNIQUE INDEX uq_{STATUS_TABLE}_agent_id ON {STATUS_TABLE} (agent_id)"),
}


def assert_refused(url: str, case: Refused) -> None:
    """migrate() and check() name the case in one line and leave the schema as it was; the fix
    they name makes the table adoptable."""
    spec_table(url, *case.changes).dispose()
    before = schema_dump(url)
    for attempt in (migrate, check):
        with pytest.raises(ContractError) as raised:
            attempt(url)
        line = str(raised.value)
        assert "\n" not in line
        assert f"table {STATUS_TABLE}, column {case.column}: expected {case.expected}" in line
        assert f"found {case.found}" in line
        assert f"fix: {case.fix}" in line
        assert schema_dump(url) == before
    assert current_revision(url) is None

    engine = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:  # CREATE INDEX CONCURRENTLY runs outside a transaction
            for statement in case.fix.split("; "):
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()
    migrate(url)
    assert current_revision(url) == head_revision()


@pytest.mark.parametrize("case", REFUSED_ON_POSTGRESQL.values(), ids=REFUSED_ON_POSTGRESQL.keys())
def test_incompatible_postgresql_table_is_named_and_left_alone(
    fresh_pg_url: str, case: Refused
) -> None:
    assert_refused(fresh_pg_url, case)


@pytest.mark.parametrize("case", REFUSED_ON_SQLITE.values(), ids=REFUSED_ON_SQLITE.keys())
def test_incompatible_sqlite_table_is_named_and_left_alone(
    sqlite_file_url: str, case: Refused
) -> None:
    assert_refused(sqlite_file_url, case)


def test_a_lone_agentstatus_type_without_a_value_is_named(fresh_pg_url: str) -> None:
    engine = create_engine(fresh_pg_url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TYPE agentstatus AS ENUM ('ok', 'error')")
    engine.dispose()
    before = pg_schema(fresh_pg_url)
    with pytest.raises(ContractError) as raised:
        migrate(fresh_pg_url)
    assert ("type agentstatus: expected enum values ok, warning, error, offline, found ok, error; "
            "fix: ALTER TYPE agentstatus ADD VALUE 'warning'; ALTER TYPE agentstatus ADD VALUE "
            "'offline'") in str(raised.value)
    assert pg_schema(fresh_pg_url) == before


def test_celery_office_migrate_gives_the_one_line(fresh_pg_url: str) -> None:
    spec_table(fresh_pg_url, *REFUSED_ON_POSTGRESQL["shorter length"].changes).dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OFFICE_", "CELERY_"))}
    env.update(PYTHONPATH=os.pathsep.join(filter(None, [str(CASES), os.environ.get("PYTHONPATH")])),
               OFFICE_DATABASE_URL=fresh_pg_url, PYTHONIOENCODING="utf-8")
    result = subprocess.run([sys.executable, "-m", "celery", "-A", "cli_app", "office", "migrate"],
                            cwd=CASES, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("celery office migrate: ")
    assert "column brand: expected VARCHAR(20) or longer, found VARCHAR(12)" in lines[0]
    assert current_revision(fresh_pg_url) is None


E2E = Path(__file__).resolve().parents[1] / "e2e"  # office_app: an app that installs the office


def _celery(*args: str, url: str, app: str = "cli_app") -> subprocess.CompletedProcess[str]:
    where = CASES if app == "cli_app" else E2E
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OFFICE_", "CELERY_"))}
    env.update(PYTHONPATH=os.pathsep.join(filter(None, [str(where), os.environ.get("PYTHONPATH")])),
               OFFICE_DATABASE_URL=url, PYTHONIOENCODING="utf-8", CELERY_BROKER_URL="memory://",
               OFFICE_AGENTS_FILE=str(CASES / "agents_clean.yaml" if app == "cli_app"
                                      else E2E / "agents.yaml"))
    return subprocess.run([sys.executable, "-m", "celery", "-A", app, *args],
                          cwd=where, env=env, capture_output=True, text=True, timeout=60)


def test_celery_office_check_names_a_table_the_worker_could_not_adopt(fresh_pg_url: str) -> None:
    spec_table(fresh_pg_url, *REFUSED_ON_POSTGRESQL["agent_id not unique"].changes).dispose()
    before = pg_schema(fresh_pg_url)
    result = _celery("office", "check", url=fresh_pg_url)
    assert result.returncode == 1, (result.stdout, result.stderr)
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("celery office check: "), result.stderr
    assert "a unique index or unique constraint on (agent_id)" in errors[0]
    assert pg_schema(fresh_pg_url) == before


def test_a_worker_stops_at_start_on_a_table_it_cannot_adopt(fresh_pg_url: str) -> None:
    """Nothing half-configured runs: one line, a non-zero exit, the table untouched."""
    spec_table(fresh_pg_url, *REFUSED_ON_POSTGRESQL["shorter length"].changes).dispose()
    before = pg_schema(fresh_pg_url)
    result = _celery("worker", "-P", "solo", "--without-mingle", "--without-gossip",
                     url=fresh_pg_url, app="office_app")
    assert result.returncode != 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.startswith("celery-office: ")]
    assert len(lines) == 1, result.stderr
    assert "column brand: expected VARCHAR(20) or longer, found VARCHAR(12)" in lines[0]
    assert pg_schema(fresh_pg_url) == before and current_revision(fresh_pg_url) is None


# ------------------------------------------------------------------------ accepted variants

ACCEPTED_ON_POSTGRESQL = {
    "extra columns": (
        f"ALTER TABLE {STATUS_TABLE} ADD COLUMN team text",
        f"ALTER TABLE {STATUS_TABLE} ADD COLUMN region text NOT NULL DEFAULT 'ru'",
    ),
    "other names, a unique constraint instead of the index": (
        "DROP INDEX ix_office_agent_status_agent_id",
        f"ALTER TABLE {STATUS_TABLE} ADD CONSTRAINT agent_uq UNIQUE (agent_id)",
        "ALTER INDEX ix_office_agent_status_brand RENAME TO by_brand",
        f"ALTER TABLE {STATUS_TABLE} RENAME CONSTRAINT office_agent_status_pkey TO status_pk",
    ),
    "an extra enum value": ("ALTER TYPE agentstatus ADD VALUE 'paused'",),
    "status as VARCHAR (native_enum=False)": (
        f"ALTER TABLE {STATUS_TABLE} ALTER COLUMN status TYPE VARCHAR(7) USING status::text",
        "DROP TYPE agentstatus",
    ),
    "longer and wider": (
        f"ALTER TABLE {STATUS_TABLE} ALTER COLUMN task TYPE text",
        f"ALTER TABLE {STATUS_TABLE} ALTER COLUMN brand TYPE VARCHAR(40)",
        f"ALTER TABLE {STATUS_TABLE} ALTER COLUMN salary_equivalent TYPE bigint",
        f"ALTER TABLE {STATUS_TABLE} ALTER COLUMN fte_coefficient TYPE numeric(5, 3)",
        f"ALTER TABLE {STATUS_TABLE} ALTER COLUMN department DROP NOT NULL",
    ),
}


@pytest.fixture(params=["psycopg2", "psycopg"])
def driver_url(request: pytest.FixtureRequest, fresh_pg_url: str) -> str:
    return make_url(fresh_pg_url).set(drivername=f"postgresql+{request.param}").render_as_string(
        hide_password=False)


@pytest.mark.parametrize(
    "changes", ACCEPTED_ON_POSTGRESQL.values(), ids=ACCEPTED_ON_POSTGRESQL.keys()
)
def test_compatible_variants_are_adopted_and_written(
    driver_url: str, changes: tuple[str, ...]
) -> None:
    spec_table(driver_url, *changes).dispose()
    before = schema_dump(driver_url).split("\n")[-1]  # the rows

    migrate(driver_url)

    assert schema_dump(driver_url).split("\n")[-1] == before
    engine = create_office_engine(driver_url)
    try:
        agent = Agent("watcher_price_monitor")
        with engine.begin() as conn:
            register_worker(conn, node_name="w1@host", hostname="host", pid=1, agents=[agent],
                            since=time.time() - 1)
        batch = Batch()
        batch.runs["t1"] = RunChange(agent.agent_id, "Сканирование цен", time.time())
        batch.touched.add(agent.agent_id)
        with engine.begin() as conn:
            apply_batch(conn, batch, {agent.agent_id: agent}, "w1@host")
        OfficeReporter("lex_monitor", "lex", "Мониторинг законов", engine=engine).report_offline()
        with engine.connect() as conn:
            rows = {row.agent_id: row for row in agent_statuses(conn, 300)}
            effective = dict(conn.execute(text(
                "SELECT agent_id, effective_status FROM office_agent_status_effective")).all())
    finally:
        engine.dispose()
    assert rows["watcher_price_monitor"].task == "Сканирование цен"
    assert rows["lex_monitor"].effective_status.value == "offline"
    assert effective == {"watcher_price_monitor": "ok", "reputation_wb": "error",
                         "lex_monitor": "offline"}

