"""The Alembic migrations against real databases: they must build exactly ``Base.metadata``.

Autogenerate finding no difference after an upgrade is what keeps the models, the revisions and
the shipped plain SQL files from drifting apart.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.pool import NullPool

from celery_office.core.errors import MigrationError
from celery_office.db.models import DAY_VIEW, EFFECTIVE_STATUS_VIEW, STATUS_TABLE, Base
from celery_office.db.revisions import VERSION_TABLE, head_revision
from celery_office.db.schema import ADVISORY_LOCK_KEY, current_revision, downgrade, migrate
from celery_office.db.sql_scripts import render_sql_script, sql_script

TABLES = {
    "office_agent_status", "office_worker", "office_agent_run", "office_agent_outcome",
    "office_agent_day", "office_agent_alert", "office_agent_start", "office_agent_notice",
    "office_agent_timeline", "office_notify_event", "office_notify_delivery",
    "office_notify_target",
    "office_agent_total",
    "office_writer",
}
REPO = Path(__file__).resolve().parents[2]
SHIPPED_SQL = REPO / "migrations" / "sql"


@pytest.fixture
def fresh_sqlite_url(tmp_path: Path) -> str:
    """URL of a SQLite file that does not exist yet."""
    return f"sqlite:///{tmp_path / 'office.db'}"


@pytest.fixture(params=["postgresql", "sqlite"])
def fresh_url(request: pytest.FixtureRequest) -> str:
    """An empty database of each kind."""
    fixture = "fresh_pg_url" if request.param == "postgresql" else "fresh_sqlite_url"
    return request.getfixturevalue(fixture)


@pytest.fixture
def engine_of() -> Iterator[Any]:
    """Make engines without a pool (a pooled connection would block DROP DATABASE)."""
    engines: list[Engine] = []

    def make(url: str) -> Engine:
        engines.append(create_engine(url, poolclass=NullPool))
        return engines[-1]

    yield make
    for engine in engines:
        engine.dispose()


def schema_diff(engine: Engine) -> list[Any]:
    """What autogenerate would change to make the database match ``Base.metadata``."""
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "version_table": VERSION_TABLE}
        )
        return compare_metadata(context, Base.metadata)


def enum_exists(engine: Engine) -> bool:
    with engine.connect() as conn:
        return bool(
            conn.scalar(text("SELECT count(*) FROM pg_type WHERE typname = 'agentstatus'"))
        )


def test_migrate_fresh_postgres_creates_everything_once(fresh_pg_url: str, engine_of) -> None:
    engine = engine_of(fresh_pg_url)
    assert current_revision(fresh_pg_url) is None

    migrate(fresh_pg_url)

    inspector = inspect(engine)
    assert set(inspector.get_table_names()) == TABLES | {VERSION_TABLE}
    assert sorted(inspector.get_view_names()) == [DAY_VIEW, EFFECTIVE_STATUS_VIEW]
    assert enum_exists(engine)
    assert current_revision(fresh_pg_url) == head_revision()

    # A second run (every worker start) finds nothing to do and changes nothing.
    with engine.connect() as conn:
        before = conn.scalar(text("SELECT xmin::text::bigint FROM office_alembic_version"))
    migrate(fresh_pg_url)
    with engine.connect() as conn:
        after = conn.scalar(text("SELECT xmin::text::bigint FROM office_alembic_version"))
    assert before == after
    assert current_revision(fresh_pg_url) == head_revision()


def test_migrate_accepts_an_engine_and_leaves_it_usable(fresh_pg_url: str, engine_of) -> None:
    engine = engine_of(fresh_pg_url)
    migrate(engine)
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:  # the advisory lock was released, the engine still works
        assert not conn.scalar(text(  # this database's: other databases' migrations may run
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())"
        ))


def test_migrate_waits_for_the_advisory_lock(fresh_pg_url: str, engine_of) -> None:
    """While another worker holds the lock, migrate() waits instead of racing it."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            migrate(fresh_pg_url)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    with engine_of(fresh_pg_url).connect() as holder:
        holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        worker = threading.Thread(target=run)
        worker.start()
        worker.join(timeout=1.5)
        assert worker.is_alive(), "migrate() did not wait for the lock"
        assert current_revision(fresh_pg_url) is None
        holder.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})
    worker.join(timeout=60)
    assert not worker.is_alive() and not errors
    assert current_revision(fresh_pg_url) == head_revision()


def test_migration_is_one_transaction_under_a_transaction_scoped_lock(
    fresh_pg_url: str, engine_of
) -> None:
    """Behind PgBouncer in transaction pooling, session state does not survive a COMMIT: the lock
    must be pg_advisory_xact_lock, taken first in the one transaction Alembic runs in."""
    engine = engine_of(fresh_pg_url)
    statements: list[str] = []
    commits: list[int] = []
    event.listen(engine, "before_cursor_execute",
                 lambda conn, cursor, statement, *args: statements.append(statement))
    event.listen(engine, "commit", lambda conn: commits.append(len(statements)))

    migrate(engine)

    assert "pg_advisory_lock" not in " ".join(statements)
    locks = [i for i, sql in enumerate(statements) if "pg_advisory_xact_lock" in sql]
    assert len(locks) == 1 and len(commits) == 1, (locks, commits)
    # before it only the look without a lock at the revision (tables at head: nothing to do)
    before = statements[:locks[0]]
    assert all(sql.lstrip().upper().startswith("SELECT") for sql in before), before
    assert any("CREATE TABLE office_agent_status" in sql for sql in statements)


def test_two_migrations_at_once_in_threads_both_succeed(fresh_pg_url: str) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            migrate(fresh_pg_url)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors and current_revision(fresh_pg_url) == head_revision()


def test_concurrent_worker_processes_do_not_race(fresh_pg_url: str) -> None:
    """Workers start together: each process migrates, one does the work, none fails."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}  # the suite's own imports
    code = "import sys; from celery_office.db.schema import migrate; migrate(sys.argv[1])"
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", code, fresh_pg_url],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    failures = [worker.communicate(timeout=120)[1] for worker in workers]
    assert [worker.returncode for worker in workers] == [0] * len(workers), failures
    assert current_revision(fresh_pg_url) == head_revision()


def test_upgrade_downgrade_upgrade(fresh_url: str, engine_of) -> None:
    engine = engine_of(fresh_url)
    migrate(fresh_url)

    downgrade(fresh_url, "base")
    inspector = inspect(engine)
    assert set(inspector.get_table_names()) <= {VERSION_TABLE}
    assert inspector.get_view_names() == []
    if engine.dialect.name == "postgresql":
        assert not enum_exists(engine)
    assert current_revision(fresh_url) is None

    migrate(fresh_url)
    assert current_revision(fresh_url) == head_revision()
    assert schema_diff(engine) == []


def test_autogenerate_finds_no_difference(fresh_url: str, engine_of) -> None:
    engine = engine_of(fresh_url)
    migrate(fresh_url)
    assert schema_diff(engine) == []


def test_constraint_and_index_names_follow_the_naming_convention(
    fresh_url: str, engine_of
) -> None:
    """Autogenerate ignores most names; a later revision that drops one needs them exact."""
    migrate(fresh_url)
    inspector = inspect(engine_of(fresh_url))
    for table in Base.metadata.sorted_tables:
        assert inspector.get_pk_constraint(table.name)["name"] == table.primary_key.name
        assert {fk["name"] for fk in inspector.get_foreign_keys(table.name)} == {
            fk.name for fk in table.foreign_key_constraints
        }
        assert {(ix["name"], bool(ix["unique"])) for ix in inspector.get_indexes(table.name)} == {
            (ix.name, ix.unique) for ix in table.indexes
        }


def test_effective_status_view_marks_silent_agents_offline(fresh_url: str, engine_of) -> None:
    engine = engine_of(fresh_url)
    migrate(fresh_url)
    if engine.dialect.name == "postgresql":
        now, ten_minutes_ago = "now()", "now() - interval '10 minutes'"
    else:  # the text format SQLAlchemy stores on SQLite, in UTC
        now = "strftime('%Y-%m-%d %H:%M:%f000', 'now')"
        ten_minutes_ago = "strftime('%Y-%m-%d %H:%M:%f000', 'now', '-10 minutes')"
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"INSERT INTO {STATUS_TABLE} (agent_id, department, name, status, last_activity) "
            f"VALUES ('fresh', 'ops', 'Fresh', 'warning', {now}), "
            f"('stale', 'ops', 'Stale', 'ok', {ten_minutes_ago}), "
            f"('never', 'ops', 'Never', 'error', NULL)"
        )
    with engine.connect() as conn:
        rows = conn.execute(
            text(f"SELECT agent_id, status, effective_status FROM {EFFECTIVE_STATUS_VIEW}")
        ).all()
    assert {agent: effective for agent, _, effective in rows} == {
        "fresh": "warning",
        "stale": "offline",
        "never": "offline",
    }
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            assert (
                conn.scalar(
                    text(
                        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                        "WHERE attrelid = CAST(:view AS regclass) AND attname = 'effective_status'"
                    ),
                    {"view": EFFECTIVE_STATUS_VIEW},
                )
                == "agentstatus"
            )


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
def test_shipped_sql_matches_alembic_offline_output(dialect: str) -> None:
    expected = render_sql_script(dialect)  # type: ignore[arg-type]
    assert sql_script(dialect) == expected, (  # type: ignore[arg-type]
        f"migrations/sql/{dialect}.sql is stale: regenerate it with "
        f"`python -m celery_office.db.sql_scripts {dialect} > migrations/sql/{dialect}.sql`"
    )
    assert (SHIPPED_SQL / f"{dialect}.sql").read_text(encoding="utf-8") == expected


def test_plain_postgresql_sql_builds_the_models_schema(fresh_pg_url: str) -> None:
    engine = create_engine(fresh_pg_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:  # the script brings its own BEGIN/COMMIT, as for psql
            conn.exec_driver_sql(sql_script("postgresql"))
        assert schema_diff(engine) == []
        assert EFFECTIVE_STATUS_VIEW in inspect(engine).get_view_names()
    finally:
        engine.dispose()
    assert current_revision(fresh_pg_url) == head_revision()
    migrate(fresh_pg_url)  # takes over from the hand-applied script without a change


def test_plain_sqlite_sql_builds_the_models_schema(fresh_sqlite_url: str, engine_of) -> None:
    path = fresh_sqlite_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:  # as the sqlite3 shell would run it
        conn.executescript(sql_script("sqlite"))
    conn.close()
    assert schema_diff(engine_of(fresh_sqlite_url)) == []
    assert current_revision(fresh_sqlite_url) == head_revision()


def test_host_alembic_version_is_untouched(fresh_url: str, engine_of) -> None:
    engine = engine_of(fresh_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)"
        )
        conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('host_app_0042')")

    migrate(fresh_url)
    downgrade(fresh_url)
    migrate(fresh_url)

    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").all() == [
            ("host_app_0042",)
        ]
    assert current_revision(fresh_url) == head_revision()


def test_unreachable_database_raises_without_the_password() -> None:
    url = "postgresql+psycopg2://office:hunter2secret@127.0.0.1:1/office?connect_timeout=5"
    with pytest.raises(MigrationError) as raised:
        migrate(url)
    message = str(raised.value)
    assert "hunter2secret" not in message
    assert "127.0.0.1:1" in message and "***" in message
    assert raised.value.__cause__ is None and raised.value.__suppress_context__

    with pytest.raises(MigrationError) as raised:
        current_revision(url)
    assert "hunter2secret" not in str(raised.value)


def test_password_stays_out_of_the_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    with pytest.raises(MigrationError):
        migrate("postgresql+psycopg2://office:hunter2secret@127.0.0.1:1/office")
    assert caplog.records
    assert "hunter2secret" not in caplog.text
