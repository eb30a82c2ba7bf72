"""The ``celery office`` entry point, kept light.

Celery loads every ``celery.commands`` entry point each time any ``celery`` command starts
(``celery inspect ping`` in a health check, ``celery -A other_app worker``). Importing the real
commands pulls in SQLAlchemy, Alembic and PyYAML, about a third of a second; this group only
names the sub-commands and imports :mod:`celery_office.cli.commands` when one of them is used.
"""

from __future__ import annotations

from typing import Any

import click

__all__ = ["office"]

_COMMANDS = ("check", "init", "migrate", "serve", "sql", "status")


class LazyOfficeGroup(click.Group):
    """A click group whose sub-commands live in :mod:`celery_office.cli.commands`, imported on
    use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _COMMANDS:
            return None
        if cmd_name == "serve":  # the web page: its own module, the web stack only when it runs
            from .serve import serve

            return serve
        from .commands import office as real_office

        return real_office.get_command(ctx, cmd_name)


@click.group(name="office", cls=LazyOfficeGroup)
@click.version_option(package_name="celery-office", prog_name="celery-office",
                      message="%(prog)s %(version)s")
@click.pass_context
def office(ctx: click.Context, **kwargs: Any) -> None:
    """celery-office: draft and check agents.yaml, migrate its tables, show the agents'
    status, print its SQL, serve the office page."""
