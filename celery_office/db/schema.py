"""Create and upgrade celery-office's tables with its own Alembic history.

Why a history of its own: celery-office lives in a host application's database, next to that
application's Alembic history. Its version table is ``office_alembic_version``, so neither
history ever reads or moves the other's ``alembic_version``.

Why one transaction and a lock: every worker calls :func:`migrate` when it starts, and many
start at once, often through PgBouncer in transaction pooling, which keeps no session state
between transactions. So the whole run (lock, contract check, Alembic) is one transaction: on
PostgreSQL it opens with ``pg_advisory_xact_lock`` on a fixed key, so one worker migrates while
the others wait and then find nothing left to do, and the lock ends with the transaction. On
SQLite the engine's ``BEGIN IMMEDIATE`` serialises the runs the same way.

Why a contract check: the dashboard's ``office_agent_status`` often exists already (made by the
ADOLF spec's model). Before Alembic runs, :mod:`celery_office.db.contract` checks it and stops with
one line naming what breaks; the initial revision then adopts it, creating only what is missing.

The same DDL ships as plain SQL (``celery_office/migrations/sql/*.sql``, see :func:`sql_script`)
for teams that apply schema changes by hand: ``celery office sql --dialect postgresql`` prints
it, and ``python -m celery_office.db.schema sql postgresql`` regenerates it from Alembic's
offline mode (for maintainers; a test fails when the shipped files drift).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import io
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from ..core.errors import MigrationError, NewerSchemaError
from .models import AwareDateTime
from .engine import safe_url


@contextmanager
def _quiet_alembic() -> Iterator[None]:
    """Alembic's INFO lines (one per autogenerate plugin at import, "Context impl
    PostgresqlImpl.", "Will assume transactional DDL.", one per revision) would fill a worker's
    start-up log, which shows INFO. A level the host set on purpose is left alone."""
    alembic_log = logging.getLogger("alembic")
    if alembic_log.level != logging.NOTSET:
        yield
        return
    alembic_log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        alembic_log.setLevel(logging.NOTSET)


with _quiet_alembic():  # importing Alembic logs a line per autogenerate plugin, at INFO
    from alembic import command
    from alembic.autogenerate.api import AutogenContext
    from alembic.config import Config
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

__all__ = [
    "ADVISORY_LOCK_KEY",
    "VERSION_TABLE",
    "MigrationError",
    "NewerSchemaError",
    "check_revision",
    "known_revisions",
    "check",
    "current_revision",
    "downgrade",
    "head_revision",
    "migrate",
    "render_item",
    "render_sql_script",
    "sql_script",
]

log = logging.getLogger(__name__)

VERSION_TABLE = "office_alembic_version"

# Key of pg_advisory_xact_lock: the first 8 bytes of sha256('celery_office') as a signed bigint, so
# it is the same on every host and Python version (hash() is salted per process).
ADVISORY_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"celery_office").digest()[:8], "big", signed=True
)

Dialect = Literal["postgresql", "sqlite"]
SQL_DIALECTS: tuple[Dialect, ...] = ("postgresql", "sqlite")


# Alembic's `context` and `op` are module-level proxies to the running migration: two threads of
# one process must not run Alembic at the same time, whatever the database.
_ALEMBIC_IN_USE = threading.Lock()


MIGRATION_STATEMENT_TIMEOUT = 300.0  # seconds; waiting for another worker's migration included


def _script_location() -> Path:
    """The Alembic script directory: from the installed package, else the source checkout.

    A wheel and an editable install both provide ``celery_office.migrations`` (setuptools maps
    the top-level ``migrations/`` folder onto it); a bare checkout on ``sys.path`` does not.
    """
    try:
        location = Path(str(files("celery_office.migrations")))
    except ModuleNotFoundError:
        location = Path(__file__).resolve().parents[2] / "migrations"
    if not (location / "env.py").is_file():
        raise MigrationError(
            f"celery-office's migration scripts are not at {location}: reinstall celery-office "
            "from a wheel or source tree (zipped installs are not supported)"
        )
    return location


def _config(**attributes: Any) -> Config:
    """An Alembic Config built in code: celery-office ships no alembic.ini."""
    config = Config(**attributes)
    # ConfigParser interpolates '%': double it so that any path survives.
    config.set_main_option("script_location", str(_script_location()).replace("%", "%%"))
    return config


@functools.lru_cache(maxsize=1)
def known_revisions() -> frozenset[str]:
    """Every revision that ships with this version of celery-office."""
    script = ScriptDirectory.from_config(_config())
    return frozenset(revision.revision for revision in script.walk_revisions())


def check_revision(connection: Connection, *, database: str) -> None:
    """Raise :class:`NewerSchemaError` when the database is at a revision this version does
    not ship (a newer celery-office migrated it); one read of ``office_alembic_version``."""
    with _quiet_alembic():  # checked at every heartbeat: no "Context impl" line each time
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        current = context.get_current_revision()
    if current is None or current in known_revisions():
        return
    raise NewerSchemaError(
        f"the celery-office tables in {database} are at revision {current!r}, made by a newer "
        f"celery-office; this one knows revisions up to {head_revision()!r} and writes nothing "
        "there (its agents read offline once silent): upgrade celery-office on this worker"
    )


def head_revision() -> str:
    """The newest revision that ships with this version of celery-office."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships revisions
        raise MigrationError("celery-office ships no migration revisions: reinstall it")
    return head


def _scrub(message: str, url: str | Engine) -> str:
    """Remove the password from a driver's message, in case the driver echoes its DSN."""
    try:
        password = url.url.password if isinstance(url, Engine) else make_url(url).password
    except SQLAlchemyError:
        return "the URL could not be parsed"
    return message.replace(str(password), "***") if password else message


@contextmanager
def _connection(url: str | Engine, doing: str) -> Iterator[Connection]:
    """A connection to ``url`` whose errors become :class:`MigrationError` without a password.

    A URL gets a private engine without a pool, disposed afterwards; an Engine is the caller's
    and stays open.
    """
    safe = safe_url(url)
    engine: Engine | None = None
    try:
        engine = url if isinstance(url, Engine) else _migration_engine(url)
        with engine.connect() as connection:
            yield connection
    except CommandError as exc:  # Alembic's own: e.g. an unknown revision
        raise MigrationError(
            f"{doing} failed on {safe}: {exc}. Use a revision that ships with this version of "
            f"celery-office ('head', 'base' or {head_revision()!r})."
        ) from None
    except SQLAlchemyError as exc:
        # `from None`: the driver's exception may carry the DSN; its scrubbed text is enough.
        detail = _scrub(f"{type(exc).__name__}: {exc}", url)
        raise MigrationError(
            f"{doing} failed on {safe}: {detail}. Check that the URL is right, that the "
            "database server is reachable and that the user may create tables there."
        ) from None
    finally:
        if engine is not None and engine is not url:
            engine.dispose()


def _migration_engine(url: str) -> Engine:
    """A private engine without a pool whose waits are bounded (a hung server does not hang a
    deploy), with room for waiting on another process's migration."""
    from .engine import create_office_engine

    return create_office_engine(url, statement_timeout=MIGRATION_STATEMENT_TIMEOUT, poolclass=NullPool)


@contextmanager
def _locked_transaction(connection: Connection) -> Iterator[None]:
    """One transaction holding PostgreSQL's migration lock until it commits or rolls back.

    Alembic, handed a connection already in a transaction, runs inside it and commits nothing,
    so the lock, the check and the DDL are one unit: all of it or, on any error, none of it.
    """
    if connection.in_transaction():  # a caller's connection left in autobegin: start afresh
        connection.rollback()
    with connection.begin():
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
            )
        yield


def _run(
    url: str | Engine,
    doing: str,
    step: Callable[[Config, str], None],
    revision: str,
    *,
    check: bool = False,
) -> None:
    with _ALEMBIC_IN_USE, _quiet_alembic(), _connection(url, doing) as connection:
        with _locked_transaction(connection):
            if check:
                from .contract import check as check_contract

                check_revision(connection, database=safe_url(url))
                check_contract(connection, database=safe_url(url))
            step(_config(attributes={"connection": connection}), revision)


def check(url: str | Engine) -> None:
    """Raise :class:`~celery_office.db.contract.ContractError` if an existing
    ``office_agent_status`` cannot be adopted as it is; change nothing. For ``office check``."""
    from .contract import check as check_contract

    with _connection(url, "Checking the celery-office tables") as connection:
        check_revision(connection, database=safe_url(url))
        check_contract(connection, database=safe_url(url))


def migrate(url: str | Engine, revision: str = "head") -> None:
    """Upgrade celery-office's tables at ``url`` to ``revision``; a no-op when already there.

    Safe to call from every worker at start-up: concurrent calls wait for each other. An
    existing ``office_agent_status`` is adopted, or, when it breaks the contract, left as it is
    with a :class:`~celery_office.db.contract.ContractError` (a :class:`MigrationError`) naming
    the fix. Raises :class:`MigrationError` when the database cannot be reached or migrated.
    """
    log.debug("Migrating celery-office tables on %s to %s", safe_url(url), revision)
    if revision == "head" and _at_head(url):
        return  # every worker calls this at start: most find nothing to do, without the lock
    _run(
        url, f"Upgrading celery-office tables to {revision}", command.upgrade, revision, check=True
    )


def _at_head(url: str | Engine) -> bool:
    """One read, no lock: are the tables at this version's head already? (A fleet of workers
    starting together would otherwise queue one by one on the migration lock.)"""
    with _connection(url, "Reading celery-office's schema revision") as connection:
        with _quiet_alembic():
            context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
            return context.get_current_revision() == head_revision()


def downgrade(url: str | Engine, revision: str = "base") -> None:
    """Downgrade celery-office's tables at ``url`` to ``revision`` (``base``: drop them all)."""
    log.info("Downgrading celery-office tables on %s to %s", safe_url(url), revision)
    _run(url, f"Downgrading celery-office tables to {revision}", command.downgrade, revision)


def current_revision(url: str | Engine) -> str | None:
    """The revision the database at ``url`` is at, or None when celery-office never migrated it."""
    with _connection(url, "Reading celery-office's schema revision") as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


def render_sql_script(dialect: Dialect) -> str:
    """The plain SQL that upgrades an empty database to head, from Alembic's offline mode.

    This is what the shipped files must contain; the header tells readers where it came from.
    """
    if dialect not in SQL_DIALECTS:
        raise ValueError(f"no SQL script for {dialect!r}: choose one of {SQL_DIALECTS}")
    output = io.StringIO()
    config = _config(output_buffer=output)
    config.set_main_option("sqlalchemy.url", f"{dialect}://")
    command.upgrade(config, "head", sql=True)
    header = (
        f"-- celery-office schema for {dialect}, generated from its Alembic migrations in "
        f"offline mode by `python -m celery_office.db.schema sql {dialect}`; do not edit.\n"
        f"-- Print it from an installed celery-office with `celery office sql --dialect "
        f"{dialect}`.\n"
        f"-- Creates the version table {VERSION_TABLE} too, so celery_office.migrate() can "
        "take over from here.\n"
    )
    return header + output.getvalue()


def sql_script(dialect: Dialect) -> str:
    """The shipped plain SQL file for ``dialect`` ('postgresql' or 'sqlite'), for manual use."""
    if dialect not in SQL_DIALECTS:
        raise ValueError(f"no SQL script for {dialect!r}: choose one of {SQL_DIALECTS}")
    return (_script_location() / "sql" / f"{dialect}.sql").read_text(encoding="utf-8")


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Alembic ``render_item`` hook: write :class:`AwareDateTime` as ``sa.DateTime(timezone=True)``.

    Autogenerate otherwise renders ``celery_office.db.models.AwareDateTime(timezone=True)``, which
    ties a revision to a module that keeps changing. Host applications autogenerating against
    ``celery_office.db.models.Base.metadata`` can pass this hook to ``context.configure`` too.
    """
    if type_ == "type" and isinstance(obj, AwareDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def main(argv: list[str] | None = None) -> None:
    """``python -m celery_office.db.schema sql postgresql|sqlite``: print the plain SQL script
    rendered from the migrations (maintainers regenerate the shipped files with it)."""
    parser = argparse.ArgumentParser(
        prog="python -m celery_office.db.schema", description=main.__doc__
    )
    commands = parser.add_subparsers(dest="command", required=True)
    sql = commands.add_parser("sql", help="print the SQL that creates the schema")
    sql.add_argument("dialect", choices=SQL_DIALECTS)
    args = parser.parse_args(argv)
    print(render_sql_script(args.dialect), end="")


if __name__ == "__main__":
    main()
