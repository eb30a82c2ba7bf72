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

The same DDL ships as plain SQL for teams that apply schema changes by hand
(:mod:`celery_office.db.sql_scripts`); which revisions ship and which one a database is at:
:mod:`celery_office.db.revisions`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from ..core.errors import MigrationError, NewerSchemaError
from .base import AwareDateTime
from .engine import safe_url, scrub
from .revisions import (
    alembic_config,
    check_revision,
    head_revision,
    quiet_alembic,
    read_revision,
)

if TYPE_CHECKING:  # Alembic itself is imported only to migrate: see revisions' docstring
    from alembic.autogenerate.api import AutogenContext


__all__ = [
    "ADVISORY_LOCK_KEY", "MigrationError", "NewerSchemaError", "check", "current_revision",
    "downgrade", "migrate", "render_item",
]

log = logging.getLogger(__name__)

# Key of pg_advisory_xact_lock: the first 8 bytes of sha256('celery_office') as a signed bigint, so
# it is the same on every host and Python version (hash() is salted per process).
ADVISORY_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"celery_office").digest()[:8], "big", signed=True
)

# Alembic's `context` and `op` are module-level proxies to the running migration: two threads of
# one process must not run Alembic at the same time, whatever the database.
_ALEMBIC_IN_USE = threading.Lock()


MIGRATION_STATEMENT_TIMEOUT = 300.0  # seconds; waiting for another worker's migration included


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
    except SQLAlchemyError as exc:
        # `from None`: the driver's exception may carry the DSN; its scrubbed text is enough.
        detail = scrub(f"{type(exc).__name__}: {exc}", url)
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

    return create_office_engine(
        url, statement_timeout=MIGRATION_STATEMENT_TIMEOUT, poolclass=NullPool
    )


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
    step: Literal["upgrade", "downgrade"],
    revision: str,
    *,
    check: bool = False,
) -> None:
    with quiet_alembic():  # importing Alembic logs a line per autogenerate plugin, at INFO
        from alembic import command
        from alembic.util import CommandError

    with _ALEMBIC_IN_USE, quiet_alembic(), _connection(url, doing) as connection:
        with _locked_transaction(connection):
            if check:
                from .contract import check as check_contract

                check_revision(connection, database=safe_url(url))
                check_contract(connection, database=safe_url(url))
            try:
                getattr(command, step)(alembic_config(attributes={"connection": connection}),
                                       revision)
            except CommandError as exc:  # Alembic's own: e.g. an unknown revision
                raise MigrationError(
                    f"{doing} failed on {safe_url(url)}: {exc}. Use a revision that ships with "
                    f"this version of celery-office ('head', 'base' or {head_revision()!r})."
                ) from None


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
    _run(url, f"Upgrading celery-office tables to {revision}", "upgrade", revision, check=True)


def _at_head(url: str | Engine) -> bool:
    """One read, no lock: are the tables at this version's head already? (A fleet of workers
    starting together would otherwise queue one by one on the migration lock.)"""
    with _connection(url, "Reading celery-office's schema revision") as connection:
        return read_revision(connection) == head_revision()  # without Alembic


def downgrade(url: str | Engine, revision: str = "base") -> None:
    """Downgrade celery-office's tables at ``url`` to ``revision`` (``base``: drop them all)."""
    log.info("Downgrading celery-office tables on %s to %s", safe_url(url), revision)
    _run(url, f"Downgrading celery-office tables to {revision}", "downgrade", revision)


def current_revision(url: str | Engine) -> str | None:
    """The revision the database at ``url`` is at, or None when celery-office never migrated it."""
    with _connection(url, "Reading celery-office's schema revision") as connection:
        return read_revision(connection)


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Alembic ``render_item`` hook: write :class:`AwareDateTime` as ``sa.DateTime(timezone=True)``.

    Autogenerate otherwise renders ``celery_office.db.models.AwareDateTime(timezone=True)``, which
    ties a revision to a module that keeps changing. Host applications autogenerating against
    ``celery_office.db.models.Base.metadata`` can pass this hook to ``context.configure`` too.
    """
    if type_ == "type" and isinstance(obj, AwareDateTime):
        return "sa.DateTime(timezone=True)"
    return False
