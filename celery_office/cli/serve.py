"""``celery -A proj office serve``: the office page, its API, metrics and notifications.

``celery -A proj office serve [--host 127.0.0.1] [--port 8000] [--basic-auth USER:PASSWORD ...]
[--no-auth] [--allowed-host NAME ...] [--notify URL ...]``
    Serve the office over HTTP from the database alone (no broker): ``/`` the live page,
    ``/api/agents`` the JSON of ``status --json``, ``/metrics`` for Prometheus (these behind
    the credentials and the Host check), ``/healthz`` (200 when the office can be shown, 503
    otherwise) and ``/livez``. Every answer within a few seconds, whatever the database does
    (the last good snapshot, marked stale). Beyond loopback it refuses to start without
    credentials, unless ``--no-auth``. ``--notify URL`` (repeatable: an http(s)
    JSON webhook, or an Apprise URL) tells it when an agent enters error, offline, a missed
    schedule or an overlong run, and when it recovers; each transition reaches each target at
    least once, with an event id, whatever the number of replicas. Every
    line of celery-office goes to stderr. Stops on Ctrl-C or SIGTERM.

The web stack (Starlette, uvicorn, prometheus_client: the ``web`` extra) is imported only
when the command runs, so every other ``celery`` command stays as quick to start as before.
"""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from typing import Any

import click
from celery.bin.base import CeleryCommand, CeleryOption

from ..core.texts import counted
from ..logs import log_to_stderr
from ..settings import OfficeSettings
from .context import OfficeCLIError, fail, settings_of
from .database import Database

__all__ = ["serve", "WEB_EXTRA"]

WEB_EXTRA = "pip install 'celery-office[web]'"
WEB_MODULES = ("starlette", "uvicorn", "prometheus_client")
DEADLINE = 5.0  # seconds a read of the database may take before the page is served stale


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


class BadOption(OfficeCLIError):
    """A value of an option that cannot work: one line, exit status 2 as click's own."""

    exit_code = 2


def _access(ctx: click.Context, settings: OfficeSettings, host: str, basic_auth: tuple[str, ...],
            no_auth: bool, allowed_host: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """The credentials and the Host names to serve; refuses what would expose the office."""
    from ..core.errors import OfficeConfigError
    from ..web.access import (
        BASIC_AUTH_SETTING,
        HOSTS_SETTING,
        allowed_hosts,
        is_loopback,
        parse_credentials,
        parse_hosts,
    )

    name = ctx.info_name or "serve"
    try:
        pairs = list(basic_auth) or [settings.basic_auth]
        credentials = parse_credentials(
            pairs, source="--basic-auth" if basic_auth else BASIC_AUTH_SETTING)
        extra = [*parse_hosts(allowed_host, source="--allowed-host"),
                 *parse_hosts([settings.allowed_hosts], source=HOSTS_SETTING)]
        hosts = allowed_hosts(extra, bound=host)
    except OfficeConfigError as exc:
        raise BadOption(name, str(exc)) from None
    if not credentials and not no_auth and not is_loopback(host):
        raise BadOption(name, f"--host {host} serves the office beyond this machine, and no "
                        "credentials are set: add --basic-auth user:password (or "
                        "OFFICE_BASIC_AUTH), or --no-auth if a proxy of your own "
                        "authenticates")
    return pairs if credentials else [], hosts


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
@click.option("--basic-auth", cls=CeleryOption, multiple=True, metavar="USER:PASSWORD",
              help="Credentials for the page, /api and /metrics (repeatable; default "
              "office_basic_auth). Required with a --host beyond loopback.")
@click.option("--no-auth", cls=CeleryOption, is_flag=True,
              help="Serve beyond loopback without credentials (a proxy of yours checks them).")
@click.option("--allowed-host", cls=CeleryOption, multiple=True, metavar="NAME",
              help="A Host name to answer besides localhost, 127.0.0.1 and ::1 (repeatable; "
              "*.example.com for subdomains; also office_allowed_hosts).")
@click.pass_context
def serve(
    ctx: click.Context,
    host: str,
    port: int,
    notify: tuple[str, ...],
    notify_interval: float,
    offline_after: float | None,
    database_url: str | None,
    basic_auth: tuple[str, ...],
    no_auth: bool,
    allowed_host: tuple[str, ...],
    **kwargs: Any,
) -> None:
    """Serve the office page, /api/agents, /metrics, /healthz and /livez; post transitions."""
    missing = _missing_web_modules()
    if missing:
        fail(ctx, f"the office page needs {', '.join(missing)}, which are not installed: "
             f"{WEB_EXTRA}")
    _check_webhooks(ctx, notify)
    settings = settings_of(ctx)
    credentials, hosts = _access(ctx, settings, host, basic_auth, no_auth, allowed_host)
    # no read may outlast the page's deadline: connecting and each statement end before it
    settings = replace(settings, connect_timeout=min(settings.connect_timeout, DEADLINE),
                       statement_timeout=min(settings.statement_timeout, DEADLINE))
    db = Database(ctx, database_url, settings)
    db.require_existing_file()
    engine = db.engine()  # the URL's driver is installed, its waits bounded

    import uvicorn

    from ..web import create_app

    log_to_stderr()  # before anything of ours may have a line to say
    web = create_app(db.url, settings=settings, offline_after=offline_after, notify=notify,
                     notify_interval=notify_interval, engine=engine, basic_auth=credentials,
                     allowed_hosts=hosts, deadline=DEADLINE)
    shown = f"[{host}]" if ":" in host else host
    hooks = f"; notifications to {counted(len(notify), 'webhook')}" if notify else ""
    guarded = (f"; {counted(len(credentials), 'user')} may sign in" if credentials
               else "; no authentication")
    click.echo(f"celery office serve: the office of {db.safe} at http://{shown}:{port}/"
               f"{guarded}{hooks}", err=True)
    try:
        uvicorn.run(web, host=host, port=port, access_log=False, log_level="info")
    finally:
        engine.dispose()
