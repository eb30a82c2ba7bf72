"""Engines whose every wait on the database is bounded, and URLs fit for logs.

PostgreSQL is reached through psycopg2 or psycopg 3, directly or behind PgBouncer in
transaction pooling mode with its stock settings. So nothing here relies on session state:
no startup parameter the pooler refuses (``options``), the timeouts are set again in every
transaction (``set_config(..., true)`` is ``SET LOCAL``), and psycopg 3 never prepares a
statement (a prepared statement lives on one server connection; the next transaction may
get another). SQLite gets ``BEGIN IMMEDIATE`` so concurrent writers queue instead of failing.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.pool import NullPool

from ..core.errors import OfficeConfigError
from ..render import one_line

__all__ = [
    "create_office_engine", "create_read_engine", "safe_url", "db_error_reason", "is_missing_table",
    "scrub", "require_sync_driver", "transaction_timeouts_sql",
]

_USERINFO_PASSWORD = re.compile(r"://[^:/@\s]*:([^@\s]+)@")
_SECRET_QUERY_KEYS = {"password", "passwd", "pwd", "sslpassword"}
_LIBPQ_DRIVERS = ("psycopg2", "psycopg2cffi", "psycopg")
# The synchronous drivers to name instead of an asynchronous one, per backend.
_SYNC_DRIVERS = {
    "postgresql": (
        ("psycopg2", "installed with celery-office"),
        ("psycopg", "psycopg 3: pip install 'psycopg[binary]'"),
    ),
    "sqlite": (("", "the standard library's sqlite3"),),
}


def safe_url(url: str | Any) -> str:
    """The URL (or an engine's) as text with any password hidden: fit for logs and messages.

    A password passed as a query parameter (``?password=...``) is hidden too.
    """
    try:
        parsed = url.url if isinstance(url, Engine) else make_url(url)
        secret = [k for k in parsed.query if k.lower() in _SECRET_QUERY_KEYS]
        if secret:
            parsed = parsed.update_query_dict({k: "***" for k in secret})
        return parsed.render_as_string(hide_password=True)
    except Exception:
        return "<invalid database URL>"


def db_error_reason(exc: BaseException, url: str | URL | Engine | None = None) -> str:
    """The driver's own words for a database error, on one line, without the password.

    ``connection to server at "127.0.0.1", port 1 failed: Connection refused ...`` becomes
    ``connection refused``; ``FATAL:  database "x" does not exist`` becomes
    ``database "x" does not exist``.
    """
    orig = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(orig).splitlines() if line.strip()]
    first = lines[0] if lines else type(orig).__name__
    first = re.sub(r"^(FATAL|ERROR|PANIC):\s+", "", first)
    match = re.match(r"^connection to server (?:at|on) .*? failed: (?:FATAL:\s+)?(.+)$", first)
    if match:
        first = match.group(1)
    first = one_line(first).rstrip(".")
    if first[:1].isupper() and first[1:2].islower():
        first = first[0].lower() + first[1:]
    if url is not None:
        first = scrub(first, url)
    return first or type(orig).__name__


def is_missing_table(exc: BaseException) -> bool:
    """Whether a database error says a table does not exist (the tables were never migrated)."""
    orig = getattr(exc, "orig", None)
    if getattr(orig, "pgcode", None) == "42P01":  # undefined_table
        return True
    text = str(orig if orig is not None else exc)
    return "no such table" in text or bool(re.search(r"relation \S+ does not exist", text))


def scrub(text: str, url: str | URL | Engine, *, identity: bool = False) -> str:
    """``text`` without the password of the database ``url``: a driver's message may echo its
    DSN. The one place a database password is taken out of what celery-office says.

    ``identity``: also without the URL's user, host, port and database name, for what an HTTP
    answer may say to whoever asks (the log names them; an error page must not map the network).
    """
    try:
        parsed: URL | None = url.url if isinstance(url, Engine) else make_url(url)
        password = parsed.password if parsed is not None else None
    except (ArgumentError, ValueError):  # a URL SQLAlchemy cannot read may still hold one
        parsed = None
        found = _USERINFO_PASSWORD.search(str(url))
        password = found.group(1) if found else None
    secrets = [str(password)] if password else []
    if parsed is not None:  # libpq takes a password as a query parameter too (?password=)
        for key, value in parsed.query.items():
            if key.lower() in _SECRET_QUERY_KEYS:
                secrets += [value] if isinstance(value, str) else list(value)
    if identity and parsed is not None:
        secrets += [str(part) for part in (parsed.username, parsed.host, parsed.database) if part]
    for secret in sorted(set(secrets), key=len, reverse=True):
        text = text.replace(secret, "***")
    if identity and parsed is not None and parsed.port:
        text = re.sub(rf"(?<![0-9]){parsed.port}(?![0-9])", "***", text)
    return text


def create_office_engine(
    url: str | URL, *, connect_timeout: float = 5.0, statement_timeout: float = 10.0,
    **kwargs: Any,
) -> Engine:
    """An engine whose every wait on the database is bounded.

    PostgreSQL: ``connect_timeout`` bounds connecting, ``statement_timeout`` and
    ``lock_timeout`` bound each statement on the server (set per transaction, so PgBouncer's
    transaction pooling works), TCP keepalives notice a dead peer. SQLite: a busy timeout, WAL
    journal (readers never block the writers), and ``BEGIN IMMEDIATE``. Raises
    :class:`OfficeConfigError` for an asynchronous driver, naming the synchronous one to use.
    """
    parsed = _with_installed_driver(require_sync_driver(url))
    backend = parsed.get_backend_name()
    if backend == "postgresql" and parsed.get_driver_name() in _LIBPQ_DRIVERS:
        kwargs["connect_args"] = {
            **_libpq_connect_args(parsed.get_driver_name(), connect_timeout),
            **kwargs.get("connect_args", {}),
        }
        if parsed.get_driver_name() == "psycopg2":
            # executemany in one round trip (psycopg2's execute_batch), not one per row
            kwargs.setdefault("executemany_mode", "values_plus_batch")
        if "poolclass" not in kwargs:
            kwargs.setdefault("pool_size", 2)
            kwargs.setdefault("max_overflow", 2)
            kwargs.setdefault("pool_timeout", connect_timeout)
        engine = create_engine(parsed, **kwargs)
        _postgresql_transaction_timeouts(engine, statement_timeout)
        return engine
    if backend == "sqlite":
        kwargs.setdefault("connect_args", {"timeout": statement_timeout})
        engine = create_engine(parsed, **kwargs)
        _sqlite_immediate_transactions(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(parsed, **kwargs)


def create_read_engine(
    url: str | URL, *, connect_timeout: float = 5.0, statement_timeout: float = 10.0
) -> Engine:
    """An engine for readers (``celery office status``, the office page) with the same bounded
    waits; a connection the server dropped is replaced before use (``pool_pre_ping``).

    SQLite gets a plain engine without a pool: :func:`create_office_engine`'s ``BEGIN
    IMMEDIATE`` would take the write lock for a read.
    """
    parsed = require_sync_driver(url)
    if parsed.get_backend_name() == "sqlite":
        return create_engine(
            parsed, poolclass=NullPool, connect_args={"timeout": statement_timeout}
        )
    return create_office_engine(
        parsed, connect_timeout=connect_timeout, statement_timeout=statement_timeout,
        pool_pre_ping=True,
    )


def require_sync_driver(url: str | URL) -> URL:
    """``url`` parsed, or :class:`OfficeConfigError` when it names an asynchronous driver.

    celery-office writes from plain threads, outside any event loop: an async driver
    (``asyncpg``, ``psycopg_async``, ``aiosqlite``...) fails there with a ``greenlet_spawn``
    error on every attempt, so it is refused at once with the URL to use instead.
    """
    parsed = make_url(url)
    try:
        dialect = parsed.get_dialect()
    except NoSuchModuleError:
        return parsed  # unknown driver: create_engine says so
    if not getattr(dialect, "is_async", False):
        return parsed
    backend = parsed.get_backend_name()
    choices = [
        f"{safe_url(parsed.set(drivername=f'{backend}+{driver}' if driver else backend))} ({why})"
        for driver, why in _SYNC_DRIVERS.get(backend, ())
    ]
    instead = (
        "use " + " or ".join(choices) if choices
        else f"use a synchronous driver of {backend} (see SQLAlchemy's dialect documentation)"
    )
    raise OfficeConfigError(
        f"the database URL {safe_url(parsed)} names the asynchronous driver "
        f"{parsed.get_driver_name()!r}, which celery-office cannot use (it writes from plain "
        f"threads, outside any event loop): {instead}"
    )


def transaction_timeouts_sql(statement_timeout: float) -> str:
    """The one statement that bounds the current transaction's statements, its lock waits,
    and its silence between two statements: a process frozen inside a transaction (SIGSTOP, a
    paused VM or container) has the server end it, so its row locks do not hold every other
    worker's writes of those agents until it runs again (the chaos run: a worker paused 13 s
    mid-heartbeat kept another from registering).

    ``set_config(name, value, true)`` is ``SET LOCAL``: it ends with the transaction, so a
    pooler may hand the server connection to anyone afterwards. One round trip for all three.
    """
    ms = max(1, int(statement_timeout * 1000))
    return (
        f"SELECT set_config('statement_timeout', '{ms}', true), "
        f"set_config('lock_timeout', '{ms}', true), "
        f"set_config('idle_in_transaction_session_timeout', '{ms}', true)"
    )


def _libpq_connect_args(driver: str, connect_timeout: float) -> dict[str, Any]:
    """Connection parameters PgBouncer accepts at startup (``application_name`` is one; the
    ``options`` parameter, once used for the timeouts, is refused by its stock settings)."""
    args: dict[str, Any] = {
        "connect_timeout": max(2, int(round(connect_timeout))),
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
        "application_name": "celery-office",
    }
    if driver == "psycopg":
        # psycopg 3 prepares a statement on the server after 5 executions of it. Behind
        # PgBouncer in transaction pooling mode (no prepared-statement support before 1.21) the
        # next transaction may run on another server connection, where the statement does not
        # exist ("prepared statement _pg3_0 does not exist") or has another meaning. The
        # writer's statements are few and cheap to plan: never prepare.
        args["prepare_threshold"] = None
    return args


def _postgresql_transaction_timeouts(engine: Engine, statement_timeout: float) -> None:
    sql = transaction_timeouts_sql(statement_timeout)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql(sql)


def _with_installed_driver(url: URL) -> URL:
    """``postgresql://`` names SQLAlchemy's default driver (psycopg 3 in SQLAlchemy 2.1);
    when that is not installed, use psycopg2, which this package depends on."""
    if url.drivername == "postgresql":
        try:
            url.get_dialect().import_dbapi()
        except ImportError:
            return url.set(drivername="postgresql+psycopg2")
    return url


def _sqlite_immediate_transactions(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself
        cursor = dbapi_connection.cursor()
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
