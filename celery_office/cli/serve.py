"""``celery -A proj office serve``: the office page, its API, metrics and notifications.

``celery -A proj office serve [--host 127.0.0.1] [--port 8000] [--notify URL ...]``
    Serve the office over HTTP from the database alone (no broker): ``/`` the live page,
    ``/api/agents`` the JSON of ``status --json``, ``/healthz`` (200 when the database
    answers, 503 otherwise), ``/metrics`` for Prometheus. ``--notify URL`` (repeatable: an
    http(s) JSON webhook, or an Apprise URL) tells it when an agent enters error, offline, a
    missed schedule or an overlong run, and when it recovers; each transition reaches each
    target at least once, with an event id, whatever the number of replicas. Stops on Ctrl-C
    or SIGTERM.

The web stack (Starlette, uvicorn, prometheus_client: the ``web`` extra) is imported only
when the command runs, so every other ``celery`` command stays as quick to start as before.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

import click
from celery.bin.base import CeleryCommand, CeleryOption

from ..core.texts import counted
from .context import fail, settings_of
from .database import Database

__all__ = ["serve", "WEB_EXTRA"]

WEB_EXTRA = "pip install 'celery-office[web]'"
WEB_MODULES = ("starlette", "uvicorn", "prometheus_client")


def _missing_web_modules() -> list[str]:
    return [name for name in WEB_MODULES if importlib.util.find_spec(name) is None]


def _check_webhooks(ctx: click.Context, urls: tuple[str, ...]) -> None:
    """Each ``--notify`` through the one check ``create_app`` uses too."""
    from ..core.errors import OfficeConfigError
    from ..web.targets import check_targets

    for number, url in enumerate(urls, 1):  # named by position too: the URL is a secret
        try:
            check_targets([url])
        except OfficeConfigError as exc:
            fail(ctx, f"--notify #{number}: {exc}")


def _log_to_stderr() -> None:
    """celery-office's own lines (notifications) beside uvicorn's, at info level."""
    logger = logging.getLogger("celery_office")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


@click.command(cls=CeleryCommand)
@click.option("--host", cls=CeleryOption, default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0: every interface).")
@click.option("--port", cls=CeleryOption, type=click.IntRange(1, 65535), default=8000,
              show_default=True, help="Port to listen on.")
@click.option("--notify", cls=CeleryOption, multiple=True, metavar="URL",
              help="Where to send transitions (repeatable): an http(s) JSON webhook or an "
              "Apprise URL (tgram://, slack://, mailto://, ...).")
@click.option("--notify-interval", cls=CeleryOption, default=5.0, show_default=True,
              type=click.FloatRange(min=0.1), metavar="SECONDS",
              help="Seconds between two looks for transitions.")
@click.option("--offline-after", cls=CeleryOption, type=click.FloatRange(min=0, min_open=True),
              metavar="SECONDS", help="Silence after which an agent is offline "
              "(default: office_offline_after).")
@click.option("--database-url", cls=CeleryOption, metavar="URL",
              help="Database to read (default: office_database_url).")
@click.pass_context
def serve(
    ctx: click.Context,
    host: str,
    port: int,
    notify: tuple[str, ...],
    notify_interval: float,
    offline_after: float | None,
    database_url: str | None,
    **kwargs: Any,
) -> None:
    """Serve the office page, /api/agents, /healthz and /metrics; post transitions."""
    missing = _missing_web_modules()
    if missing:
        fail(ctx, f"the office page needs {', '.join(missing)}, which are not installed: "
             f"{WEB_EXTRA}")
    _check_webhooks(ctx, notify)
    settings = settings_of(ctx)
    db = Database(ctx, database_url, settings)
    db.require_existing_file()
    engine = db.engine()  # the URL's driver is installed, its waits bounded

    import uvicorn

    from ..web import create_app

    web = create_app(db.url, settings=settings, offline_after=offline_after, notify=notify,
                     notify_interval=notify_interval, engine=engine)
    shown = f"[{host}]" if ":" in host else host
    hooks = f"; notifications to {counted(len(notify), 'webhook')}" if notify else ""
    click.echo(f"celery office serve: the office of {db.safe} at http://{shown}:{port}/{hooks}")
    _log_to_stderr()
    try:
        uvicorn.run(web, host=host, port=port, access_log=False, log_level="info")
    finally:
        engine.dispose()
