"""``celery office migrate`` and ``celery office sql``: celery-office's tables, created or
upgraded, or printed as plain SQL for DBAs who apply it by hand."""

from __future__ import annotations

from typing import Any, cast

import click
from celery.bin.base import CeleryCommand, CeleryOption

from ..core.errors import MigrationError
from ..db.engine import scrub
from ..db.revisions import head_revision
from ..db.schema import current_revision
from ..db.schema import migrate as migrate_tables
from ..db.sql_scripts import SQL_DIALECTS, Dialect, sql_script
from .context import fail, settings_of
from .database import Database

__all__ = ["migrate", "sql"]


@click.command(cls=CeleryCommand)
@click.option("--database-url", cls=CeleryOption, metavar="URL",
              help="Database to migrate (default: office_database_url).")
@click.pass_context
def migrate(ctx: click.Context, database_url: str | None, **kwargs: Any) -> None:
    """Create or upgrade celery-office's tables and views (idempotent)."""
    db = Database(ctx, database_url, settings_of(ctx))
    engine = db.engine()
    try:
        db.connect(engine).close()  # a bounded first contact; Alembic's engine waits forever
    finally:
        engine.dispose()
    try:
        before = current_revision(db.url)
        head = head_revision()
        migrate_tables(db.url)
    except MigrationError as exc:  # its message hides the password already; be sure
        db.fail(scrub(str(exc), db.url))
    if before is None:
        done = f"Created the celery-office tables (revision {head})"
    elif before == head:
        done = f"The celery-office tables are up to date (revision {head})"
    else:
        done = f"Upgraded the celery-office tables from revision {before} to {head}"
    click.echo(f"{done} in {db.safe}")


@click.command(cls=CeleryCommand)
@click.option("--dialect", cls=CeleryOption, type=click.Choice(SQL_DIALECTS), default=None,
              help="postgresql or sqlite (default: the dialect of office_database_url).")
@click.pass_context
def sql(ctx: click.Context, dialect: str | None, **kwargs: Any) -> None:
    """Print the SQL that creates celery-office's tables, for DBAs who apply it by hand."""
    if dialect is None:
        backend = Database(ctx, None, settings_of(ctx)).parsed.get_backend_name()
        if backend not in SQL_DIALECTS:
            fail(ctx, f"no SQL script for {backend!r}: choose --dialect "
                 f"{' or '.join(SQL_DIALECTS)}")
        dialect = backend
    click.echo(sql_script(cast(Dialect, dialect)), nl=False)
