"""The plain SQL that creates celery-office's tables, for DBAs who apply SQL by hand.

Rendered from the migrations in Alembic's offline mode and shipped in the package
(``celery_office/migrations/sql``); ``celery office sql`` prints the shipped file. Maintainers
regenerate the files after adding a revision with
``python -m celery_office.db.sql_scripts postgresql > migrations/sql/postgresql.sql`` (and
``sqlite``); a test fails when they drift from the migrations.
"""

from __future__ import annotations

import argparse
import io
from typing import Literal

from .revisions import VERSION_TABLE, alembic_config, quiet_alembic, script_location

with quiet_alembic():
    from alembic import command

__all__ = ["Dialect", "SQL_DIALECTS", "render_sql_script", "sql_script"]

Dialect = Literal["postgresql", "sqlite"]
SQL_DIALECTS: tuple[Dialect, ...] = ("postgresql", "sqlite")


def render_sql_script(dialect: Dialect) -> str:
    """The plain SQL that upgrades an empty database to head, from Alembic's offline mode.

    This is what the shipped files must contain; the header tells readers where it came from.
    """
    if dialect not in SQL_DIALECTS:
        raise ValueError(f"no SQL script for {dialect!r}: choose one of {SQL_DIALECTS}")
    output = io.StringIO()
    config = alembic_config(output_buffer=output)
    config.set_main_option("sqlalchemy.url", f"{dialect}://")
    command.upgrade(config, "head", sql=True)
    header = (
        f"-- celery-office schema for {dialect}, generated from its Alembic migrations in "
        f"offline mode by `python -m celery_office.db.sql_scripts {dialect}`; do not edit.\n"
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
    return (script_location() / "sql" / f"{dialect}.sql").read_text(encoding="utf-8")



def main(argv: list[str] | None = None) -> None:
    """``python -m celery_office.db.sql_scripts postgresql|sqlite``: print the plain SQL
    script rendered from the migrations (maintainers regenerate the shipped files with it)."""
    parser = argparse.ArgumentParser(
        prog="python -m celery_office.db.sql_scripts", description=main.__doc__
    )
    parser.add_argument("dialect", choices=SQL_DIALECTS)
    args = parser.parse_args(argv)
    print(render_sql_script(args.dialect), end="")


if __name__ == "__main__":
    main()
