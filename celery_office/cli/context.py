"""What every command needs from its click context: the app, its settings, one-line failures."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click

from ..core.errors import OfficeError
from ..render import one_line
from ..settings import OfficeSettings, misnamed_settings

__all__ = ["OfficeCLIError", "fail", "warn", "app_of", "app_name", "settings_of", "colour_off",
           "registered_tasks"]


class OfficeCLIError(click.ClickException):
    """A problem the user can fix: shown as one line on stderr, exit status 1."""

    exit_code = 1

    def __init__(self, command: str, message: str) -> None:
        super().__init__(one_line(message))
        self.command = command

    def format_message(self) -> str:
        return f"celery office {self.command}: {self.message}"

    def show(self, file: Any = None) -> None:
        click.echo(self.format_message(), file=file or sys.stderr)


def fail(ctx: click.Context, message: str) -> NoReturn:
    raise OfficeCLIError(ctx.info_name or "office", message)


def app_of(ctx: click.Context) -> Any:
    app = getattr(ctx.obj, "app", None)
    if app is None:  # invoked outside `celery` (tests, scripts): Celery's current app
        from celery import current_app

        app = current_app._get_current_object()
    return app


def app_name(ctx: click.Context) -> str:
    """What the user gave to ``-A``, for hints that show a command to run."""
    given = ctx.find_root().params.get("app")
    if isinstance(given, str) and given:
        return given
    main = getattr(given if given is not None else getattr(ctx.obj, "app", None), "main", None)
    return main if main and main != "default" else "<app>"  # "default": Celery's fallback app


def registered_tasks(ctx: click.Context) -> dict[str, Any]:
    """The app's tasks by name, its task modules imported first as a worker would (``imports``,
    ``include``, Django's ``autodiscover_tasks``); Celery's own ``celery.*`` among them."""
    app = app_of(ctx)
    try:
        app.loader.import_default_modules()
        return {name: task for name, task in app.tasks.items() if isinstance(name, str)}
    except Exception as exc:  # the user's task modules: any error may come out of them
        fail(ctx, f"cannot load the app's tasks: {type(exc).__name__}: {exc}")


def settings_of(ctx: click.Context) -> OfficeSettings:
    """The app's office settings; a setting Celery cannot see (``OFFICE_*`` beside
    ``namespace='CELERY'``) is named on stderr, once per command."""
    app = app_of(ctx)
    try:
        settings = OfficeSettings.from_app(app)
    except OfficeError as exc:
        fail(ctx, f"invalid setting: {exc}")
    except ImportError as exc:  # app.conf loads a configuration module lazily
        fail(ctx, f"cannot load the app's configuration: {type(exc).__name__}: {exc}")
    root = ctx.find_root()
    if not root.meta.get("celery-office: warned"):
        root.meta["celery-office: warned"] = True
        for line in misnamed_settings(app):
            warn(ctx, line)
    return settings


def warn(ctx: click.Context, message: str) -> None:
    """A problem that does not stop the command: one line on stderr."""
    click.echo(f"celery office {ctx.info_name or 'office'}: warning: {one_line(message)}",
               err=True)


def colour_off(ctx: click.Context, flag: bool) -> bool:
    return flag or bool(getattr(ctx.obj, "no_color", False))
