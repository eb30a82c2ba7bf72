"""Shared fixtures: real PostgreSQL databases, SQLite files, and Celery's classic test worker.

PostgreSQL tests run against ``OFFICE_TEST_PG_URL`` (default: the local server, user
``postgres``). Each fixture makes a database of its own and drops it afterwards. Where the server
cannot be reached they skip, except in CI (``CI=true``), where a skipped PostgreSQL test would
hide a broken path: there they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

# pytest-celery 1.x replaces `celery_worker` with a Docker-based fixture; restore the classic one.
from celery.contrib.pytest import celery_worker  # noqa: F401

PG_ADMIN_URL = os.environ.get(
    "OFFICE_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _admin_engine():
    return create_engine(
        PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
    )


def _pg_available() -> str | None:
    try:
        engine = _admin_engine()
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # pragma: no cover - depends on the machine
        return f"{type(exc).__name__}: {exc}"


_PG_PROBLEM: str | None | bool = False  # False: not probed yet


def require_postgres() -> None:
    """Skip (or fail, in CI) when PostgreSQL cannot be reached."""
    global _PG_PROBLEM
    if _PG_PROBLEM is False:
        _PG_PROBLEM = _pg_available()
    if _PG_PROBLEM:
        message = f"PostgreSQL at {make_url(PG_ADMIN_URL).render_as_string(hide_password=True)} unreachable: {_PG_PROBLEM}"
        if IN_CI:
            pytest.fail(message + " (CI requires the PostgreSQL tests)")
        pytest.skip(message)


def make_pg_database(prefix: str = "office_test") -> str:
    """Create an empty database and return its URL."""
    require_postgres()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    engine = _admin_engine()
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    name = make_url(url).database
    engine = _admin_engine()
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """URL of a new, empty PostgreSQL database (no tables), dropped after the test."""
    url = make_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture
def pg_url(fresh_pg_url: str) -> str:
    """URL of a new PostgreSQL database migrated to head."""
    from celery_office import migrate

    migrate(fresh_pg_url)
    return fresh_pg_url


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    """URL of a new SQLite file migrated to head."""
    from celery_office import migrate

    url = f"sqlite:///{tmp_path / 'office.db'}"
    migrate(url)
    return url


@pytest.fixture(params=["postgresql", "sqlite"])
def db_url(request) -> str:
    """A migrated database of each kind: tests using it run once on each."""
    if request.param == "postgresql":
        return request.getfixturevalue("pg_url")
    return request.getfixturevalue("sqlite_url")
