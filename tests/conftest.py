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

# pytest-celery 1.x replaces `celery_worker` with a Docker-based fixture; restore the classic one.
from celery.contrib.pytest import celery_worker  # noqa: F401
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from .pgbouncer import PgBouncer, pgbouncer_binary

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
        where = make_url(PG_ADMIN_URL).render_as_string(hide_password=True)
        message = f"PostgreSQL at {where} unreachable: {_PG_PROBLEM}"
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


# --------------------------------------------------------------------------- PostgreSQL drivers

# In these modules every test on PostgreSQL runs with both drivers: psycopg 3 sends typed
# parameters (the status enum) and would prepare statements, so the store's SQL must be proven
# on it too. Elsewhere the driver of OFFICE_TEST_PG_URL (psycopg2) alone keeps the suite short.
BOTH_DRIVERS_MODULES = ("test_store", "test_flusher")
PG_DRIVERS = ("psycopg2", "psycopg")


def with_pg_driver(url: str, driver: str | None) -> str:
    """``url`` with its PostgreSQL driver replaced (``None``: unchanged)."""
    if driver is None:
        return url
    parsed = make_url(url)
    return parsed.set(drivername=f"{parsed.get_backend_name()}+{driver}").render_as_string(
        hide_password=False
    )


@pytest.fixture
def pg_driver() -> str | None:
    """The PostgreSQL driver of ``fresh_pg_url`` and ``pg_url``; ``None``: that of
    OFFICE_TEST_PG_URL. Parametrized with both drivers in ``BOTH_DRIVERS_MODULES``."""
    return None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    names = set(metafunc.fixturenames)
    if module in BOTH_DRIVERS_MODULES and names & {"pg_driver", "db_url"}:
        if "pg_driver" not in names:  # db_url reaches pg_url at run time only
            metafunc.fixturenames.append("pg_driver")
        metafunc.parametrize("pg_driver", PG_DRIVERS, ids=["psycopg2", "psycopg3"])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A SQLite run of a both-drivers test is the same with either PostgreSQL driver: once."""
    keep, drop = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        other_driver = params.get("pg_driver", PG_DRIVERS[0]) != PG_DRIVERS[0]
        if params.get("db_url") == "sqlite" and other_driver:
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def drop_pg_database(url: str) -> None:
    name = make_url(url).database
    engine = _admin_engine()
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture
def fresh_pg_url(pg_driver: str | None) -> Iterator[str]:
    """URL of a new, empty PostgreSQL database (no tables), dropped after the test."""
    url = with_pg_driver(make_pg_database(), pg_driver)
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


# --------------------------------------------------------------------------- Redis (the broker)

REDIS_URL = os.environ.get("OFFICE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_problem() -> str | None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
        return None
    except Exception as exc:  # pragma: no cover - depends on the machine
        return f"{type(exc).__name__}: {exc}"


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The tests' broker; each test uses queues of its own. Skips where Redis cannot be
    reached, except in CI: fails."""
    problem = _redis_problem()
    if problem:
        message = f"Redis at {REDIS_URL} unreachable: {problem}"
        if IN_CI:
            pytest.fail(message + " (CI requires the end-to-end tests)")
        pytest.skip(message)
    return REDIS_URL


# --------------------------------------------------------------------------- PgBouncer


@pytest.fixture(scope="session")
def pgbouncer() -> Iterator[PgBouncer]:
    """A real PgBouncer (transaction pooling, stock settings) in front of the tests' PostgreSQL,
    on a free loopback port. Skips where pgbouncer is not installed, except in CI: fails."""
    require_postgres()
    if pgbouncer_binary() is None:
        message = "pgbouncer is not installed (Debian: apt-get install -y pgbouncer)"
        if IN_CI:
            pytest.fail(message + " (CI requires the PgBouncer tests; .ci/run installs it)")
        pytest.skip(message)
    bouncer = PgBouncer(PG_ADMIN_URL).start()
    yield bouncer
    bouncer.stop()


@pytest.fixture
def fresh_pgbouncer_url(fresh_pg_url: str, pgbouncer: PgBouncer) -> str:
    """``fresh_pg_url`` (a new, empty database) reached through PgBouncer."""
    return pgbouncer.url(fresh_pg_url)


@pytest.fixture
def pgbouncer_url(fresh_pgbouncer_url: str) -> str:
    """A new database migrated to head through PgBouncer, and its URL through PgBouncer."""
    from celery_office import migrate

    migrate(fresh_pgbouncer_url)
    return fresh_pgbouncer_url


@pytest.fixture(scope="session", autouse=True)
def _away_from_the_checkout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Run where a user would, outside the source tree: ``python -m`` and ``python -c`` in the
    tests' subprocesses put their working directory first on ``sys.path``, where the checkout's
    ``celery_office`` folder would shadow the installed package (tests/package checks it)."""
    before = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("cwd"))
    try:
        yield
    finally:
        os.chdir(before)


@pytest.fixture(autouse=True)
def _fresh_log_once() -> Iterator[None]:
    """Each test starts with no line rate-limited: ``log_once`` remembers kinds for a minute,
    so a test would otherwise miss a line an earlier test of the same process logged."""
    from celery_office import logs

    logs._last_logged.clear()
    yield
