"""The office engine on real servers: PostgreSQL directly and through a real PgBouncer in
transaction pooling mode (stock settings), with psycopg2 and psycopg 3."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

from celery_office import OfficeConfigError, create_office_engine
from celery_office.db.engine import safe_url, scrub

from ..conftest import PG_ADMIN_URL, PG_DRIVERS, require_postgres, with_pg_driver

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize(
    ("url", "instead"),
    [
        ("postgresql+asyncpg://office:s3cret@db.internal/adolf",
         "postgresql+psycopg2://office:***@db.internal/adolf"),
        ("postgresql+psycopg_async://office:s3cret@db.internal/adolf",
         "postgresql+psycopg://office:***@db.internal/adolf"),
        ("sqlite+aiosqlite:///office.db", "sqlite:///office.db"),
    ],
)
def test_an_async_driver_is_refused_with_the_synchronous_url_to_use(url: str, instead: str) -> None:
    """A FastAPI app's URL must stop at once with the URL to use, not fail in a thread with a
    greenlet_spawn error on every write."""
    with pytest.raises(OfficeConfigError) as caught:
        create_office_engine(url)
    message = str(caught.value)
    assert instead in message and "asynchronous driver" in message
    assert "s3cret" not in message and "\n" not in message


def _url(database_url: str, driver: str) -> str:
    return with_pg_driver(database_url, driver)


@pytest.fixture(params=PG_DRIVERS, ids=["psycopg2", "psycopg3"])
def driver(request) -> str:
    return request.param


@pytest.fixture
def bounced(pgbouncer, driver: str) -> Iterator[Engine]:
    """An office engine on the tests' server through PgBouncer, with each driver."""
    engine = create_office_engine(
        pgbouncer.url(_url(PG_ADMIN_URL, driver)), statement_timeout=0.75
    )
    yield engine
    engine.dispose()


def test_pgbouncer_takes_the_connection_and_every_transaction_is_bounded(bounced) -> None:
    """No startup parameter PgBouncer refuses (``options`` was one); the timeouts are there
    in each transaction, whichever server connection it gets."""
    for _ in range(3):
        with bounced.begin() as conn:
            row = conn.execute(text(
                "SELECT current_setting('statement_timeout') AS st, "
                "current_setting('lock_timeout') AS lt, "
                "current_setting('application_name') AS app"
            )).one()
        assert (row.st, row.lt, row.app) == ("750ms", "750ms", "celery-office")


def test_a_statement_past_the_timeout_is_cancelled_through_pgbouncer(bounced) -> None:
    started = time.monotonic()
    with pytest.raises(DBAPIError, match="statement timeout"):
        with bounced.begin() as conn:
            conn.execute(text("SELECT pg_sleep(5)"))
    assert time.monotonic() - started < 3
    with bounced.begin() as conn:  # the pooled connection is fine afterwards
        assert conn.execute(text("SELECT 1")).scalar() == 1


def test_the_timeouts_end_with_their_transaction(driver: str) -> None:
    """SET LOCAL, never SET: a pooler hands the server connection to other clients next,
    and they must not inherit our timeouts."""
    require_postgres()
    engine = create_office_engine(_url(PG_ADMIN_URL, driver), statement_timeout=0.75)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "750ms"
            conn.commit()
            cursor = conn.connection.dbapi_connection.cursor()  # a transaction without our hook
            cursor.execute("SHOW statement_timeout")
            assert cursor.fetchone()[0] == "0"
            cursor.close()
            conn.connection.dbapi_connection.rollback()
    finally:
        engine.dispose()


def test_psycopg3_never_prepares_statements_behind_pgbouncer(pgbouncer) -> None:
    """psycopg 3 prepares a statement after 5 executions; through transaction pooling the
    next transaction may run on a server connection where it does not exist. Another client
    holds a server connection every other transaction, so ours alternate between two."""
    engine = create_office_engine(pgbouncer.url(_url(PG_ADMIN_URL, "psycopg")))
    other = create_engine(pgbouncer.url(_url(PG_ADMIN_URL, "psycopg2")))
    backends = set()
    try:
        with other.connect() as holder:
            for i in range(12):
                if i % 2:
                    holder.execute(text("SELECT 1"))  # keeps its server until the commit
                with engine.begin() as conn:
                    backends.add(conn.execute(
                        text("SELECT pg_backend_pid() + :v - :v"), {"v": i}
                    ).scalar())
                holder.commit()
    finally:
        engine.dispose()
        other.dispose()
    assert len(backends) == 2  # the case that breaks prepared statements did happen


def test_scrub_hides_the_password_of_a_url_sqlalchemy_can_read_or_not() -> None:
    """One home for taking a password out of a message: an engine, a URL, and a URL too broken
    for SQLAlchemy (its own parse error echoes it) all lose the password, and nothing else."""
    readable = "postgresql+psycopg2://office:hunter2@db.example/adolf"
    broken = "postgresql+psycopg2://office:hunter2@db.example:port/adolf"
    message = "FATAL: password authentication failed (hunter2) for user office"
    assert scrub(message, readable) == message.replace("hunter2", "***")
    assert scrub(message, create_engine(readable)) == message.replace("hunter2", "***")
    assert scrub(f"could not parse {broken}", broken) == f"could not parse {broken}".replace(
        "hunter2", "***")
    assert scrub(message, "sqlite:///office.db") == message


def test_scrub_and_safe_url_hide_a_password_given_as_a_query_parameter() -> None:
    """libpq reads ``?password=`` as well as the userinfo: a driver's message may echo it."""
    url = "postgresql+psycopg2://office@db.example/adolf?password=hunter2&sslmode=require"
    message = 'could not connect: "dbname=adolf password=hunter2 sslmode=require"'
    assert "hunter2" not in scrub(message, url)
    assert scrub(message, url) == message.replace("hunter2", "***")
    assert "hunter2" not in safe_url(url)


def test_a_client_frozen_inside_a_transaction_holds_its_locks_no_longer_than_the_timeout(
    driver: str,
) -> None:
    """A worker's main process paused (SIGSTOP, a frozen VM) between two statements of a
    heartbeat holds its row locks: every other writer of those agents would wait until it
    runs again. The server ends such a transaction after ``statement_timeout`` of silence."""
    require_postgres()
    engine = create_office_engine(_url(PG_ADMIN_URL, driver), statement_timeout=0.75)
    frozen = engine.connect()
    try:
        frozen.execute(text("SELECT pg_advisory_xact_lock(424242)"))  # held until its end
        time.sleep(1.5)  # says nothing, as a paused process does
        with engine.begin() as conn:
            assert conn.execute(text("SELECT pg_try_advisory_xact_lock(424242)")).scalar()
        with pytest.raises(DBAPIError):
            frozen.execute(text("SELECT 1"))  # its transaction is over, and it learns so
    finally:
        frozen.invalidate()
        frozen.close()
        engine.dispose()
