"""Alembic environment of celery-office.

There is no alembic.ini: :mod:`celery_office.db.schema` builds the Config in code and hands over
either an open connection (``config.attributes["connection"]``, so it can hold PostgreSQL's
advisory lock around the run) or, for offline ``--sql`` output, a URL in ``sqlalchemy.url``.

The version table is ``office_alembic_version`` so that celery-office's history lives beside a
host application's own ``alembic_version`` in the same database without touching it.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import Connection, make_url

from celery_office.db.revisions import VERSION_TABLE
from celery_office.db.schema import render_item
from celery_office.db.tables import METADATA

config = context.config
target_metadata = METADATA


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Look only at celery-office's tables, so autogenerate in a shared database never proposes
    dropping the host application's tables."""
    return type_ != "table" or name in target_metadata.tables


def _configure_options(dialect_name: str) -> dict[str, Any]:
    return {
        "target_metadata": target_metadata,
        "version_table": VERSION_TABLE,
        "compare_type": True,
        "include_name": include_name,
        "render_item": render_item,
        # SQLite can alter almost nothing in place: later revisions use batch operations.
        "render_as_batch": dialect_name == "sqlite",
    }


def run_migrations_offline() -> None:
    """Write the SQL to the output instead of running it (``alembic upgrade --sql``)."""
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("offline migration needs sqlalchemy.url (e.g. 'postgresql://')")
    context.configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **_configure_options(make_url(url).get_backend_name()),
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_on(connection: Connection) -> None:
    context.configure(connection=connection, **_configure_options(connection.dialect.name))
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate on the connection given by the caller, else on a new one to ``sqlalchemy.url``."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError(
            "no database: pass config.attributes['connection'] or set sqlalchemy.url"
        )
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            _run_on(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
