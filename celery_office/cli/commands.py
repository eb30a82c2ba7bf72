"""``celery office``: the office's tables, agents and registry from the command line.

Installed as a Celery sub-command (entry point ``celery.commands``); the app is the one given to
``celery -A``, and every setting comes from it (``office_*`` in ``app.conf``, else ``OFFICE_*``
in the environment), as for the worker.

``celery -A proj office migrate [--database-url URL]``
    Create or upgrade celery-office's tables and views in ``office_database_url``. Idempotent:
    run it as often as you like. Prints one line: what was done and where (password hidden).

``celery -A proj office status [options]``
    One row per agent: agent id, department, brand, effective status (``offline`` once silent
    for over ``office_offline_after`` seconds, whatever the row says), time since its last
    activity, today's runs and failed runs (the app's ``timezone``), current task, metrics. The footer counts the agents per effective status and sums the
    office's salary equivalent (salary_equivalent x fte_coefficient of the agents not offline).
    Colours on a terminal unless ``--no-color`` (or celery's ``-C``/``NO_COLOR``); task and
    metrics texts are cut to the terminal's width (or ``COLUMNS`` when piped; uncut otherwise).

    --json                 the same data as JSON: ``{"agents": [...], "summary": {...}}``
                           (times ISO 8601, silence in seconds, numbers as numbers)
    --watch [SECONDS]      redraw every SECONDS (default 2) until Ctrl-C; with --json, one
                           JSON document per line
    --department NAME      only these departments (repeatable); an unknown one is an error
    --brand NAME           only these brands (repeatable); an unknown one is an error
    --fail-on STATUSES     a health check: exit status 1 when an agent's effective status is
                           one of these (comma-separated: error, warning, offline), naming
                           them on stderr; 0 otherwise (with --json too); not with --watch
    --offline-after SECS   override office_offline_after
    --database-url URL     override office_database_url
    --no-color             plain text even on a terminal

``celery office sql [--dialect postgresql|sqlite]``
    Print the plain SQL that creates celery-office's tables on an empty schema (the file
    shipped in the package, generated from its migrations), for DBAs who apply SQL by hand:
    ``celery office sql --dialect postgresql | psql -v ON_ERROR_STOP=1 -d adolf``. Without
    ``--dialect``, that of ``office_database_url``.

``celery -A proj office check [--agents-file PATH] [--strict]``
    Load ``agents.yaml`` (``office_agents_file``) and the app's registered tasks, then report
    registry errors (and globs of two agents claiming the same task) on stderr, tasks no agent
    covers (``celery.*`` excluded) and patterns that match no task on stdout as warnings, and a
    summary line (agents, tasks covered, errors, warnings). Exit status 1 on errors; warnings
    leave it 0 unless ``--strict`` makes them errors.

Every problem with the database or the registry is one line on stderr (one per problem),
starting with ``celery office <command>:``, and exit status 1; never a traceback. A missing
table says to run ``celery -A <app> office migrate`` first.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, NoReturn, cast

import click
from celery.bin.base import CeleryCommand, CeleryOption

from ..core.days import today
from ..db.read import AgentRow
from ..db.contract import ContractError
from ..db.schema import SQL_DIALECTS, Dialect, MigrationError, NewerSchemaError
from ..db.schema import current_revision, head_revision
from ..db.schema import sql_script
from ..db.schema import check as check_table
from ..db.schema import migrate as migrate_tables
from ..jsonsafe import cut
from ..core.texts import counted
from ..settings import DEFAULT_DATABASE_URL
from ..registry import DEFAULT_SETTING_HINT, RegistryError, load_registry
from ..validation import SHOWN_MAX
from .context import OfficeCLIError, app_of, colour_off, fail, settings_of
from .database import Database, password_of
from .health import UsageLine, exit_if_failing, parse_fail_on
from .status_view import status_footer, status_json, status_table

__all__ = ["office"]


def _echo_lines(lines: Iterable[str], color: bool) -> None:
    click.echo("\n".join(lines), color=color)


def _broken_pipe(ctx: click.Context) -> NoReturn:
    """The reader went away (``| head``): stop quietly, without Python's complaint at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass
    ctx.exit(1)


@click.group(name="office")
@click.pass_context
def office(ctx: click.Context, **kwargs: Any) -> None:
    """celery-office: migrate its tables, show the agents' status, check agents.yaml."""


@office.command(cls=CeleryCommand)
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
        password = password_of(db.url)
        db.fail(str(exc).replace(password, "***") if password else str(exc))
    if before is None:
        done = f"Created the celery-office tables (revision {head})"
    elif before == head:
        done = f"The celery-office tables are up to date (revision {head})"
    else:
        done = f"Upgraded the celery-office tables from revision {before} to {head}"
    click.echo(f"{done} in {db.safe}")


@office.command(cls=CeleryCommand)
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


def _check_filter(ctx: click.Context, kind: str, given: Sequence[str], known: set[str]) -> None:
    unknown = [name for name in given if name not in known]
    if not unknown:
        return
    plural = "s" if len(unknown) > 1 else ""
    names = ", ".join(cut(repr(name), SHOWN_MAX) for name in unknown)
    listing = ", ".join(sorted(known)) if known else "none (no agent has reported yet)"
    kinds = {"department": "departments", "brand": "brands"}[kind]
    fail(ctx, f"unknown {kind}{plural} {names}; known {kinds}: {listing}")


def _filtered(
    ctx: click.Context, rows: list[AgentRow], departments: Sequence[str], brands: Sequence[str]
) -> list[AgentRow]:
    _check_filter(ctx, "department", departments, {row.department for row in rows})
    _check_filter(ctx, "brand", brands, {row.brand for row in rows if row.brand})
    if departments:
        rows = [row for row in rows if row.department in departments]
    if brands:
        rows = [row for row in rows if row.brand in brands]
    return rows


def _table_width() -> int | None:
    """Terminal width when stdout is a terminal or ``COLUMNS`` is set; else no limit."""
    if sys.stdout.isatty() or os.environ.get("COLUMNS", "").strip():
        return shutil.get_terminal_size().columns
    return None


@office.command(cls=CeleryCommand)
@click.option("--json", "as_json", cls=CeleryOption, is_flag=True,
              help="Print JSON: {\"agents\": [...], \"summary\": {...}}.")
@click.option("--watch", cls=CeleryOption, type=click.FloatRange(min=0, min_open=True),
              is_flag=False, flag_value=2.0, default=None, metavar="[SECONDS]",
              help="Redraw every SECONDS (default 2) until Ctrl-C.")
@click.option("--department", cls=CeleryOption, multiple=True, metavar="NAME",
              help="Only agents of this department (repeatable).")
@click.option("--brand", cls=CeleryOption, multiple=True, metavar="NAME",
              help="Only agents of this brand (repeatable).")
@click.option("--fail-on", cls=CeleryOption, multiple=True, metavar="STATUSES",
              callback=parse_fail_on, help="Exit 1 when an agent is in one of these statuses "
              "(comma-separated: error, warning, offline): a health check.")
@click.option("--offline-after", cls=CeleryOption, type=click.FloatRange(min=0, min_open=True),
              metavar="SECONDS", help="Silence after which an agent is offline "
              "(default: office_offline_after).")
@click.option("--database-url", cls=CeleryOption, metavar="URL",
              help="Database to read (default: office_database_url).")
@click.option("--no-color", cls=CeleryOption, is_flag=True, help="No colours, even on a terminal.")
@click.pass_context
def status(
    ctx: click.Context,
    as_json: bool,
    watch: float | None,
    department: tuple[str, ...],
    brand: tuple[str, ...],
    fail_on: tuple[str, ...],
    offline_after: float | None,
    database_url: str | None,
    no_color: bool,
    **kwargs: Any,
) -> None:
    """Show every agent's effective status, task, silence and metrics."""
    settings = settings_of(ctx)
    db = Database(ctx, database_url, settings)
    limit = offline_after if offline_after is not None else settings.offline_after
    tty = sys.stdout.isatty()
    color = tty and not colour_off(ctx, no_color) and not as_json
    if fail_on and watch is not None:
        raise UsageLine(ctx.info_name or "status", "--fail-on checks the office once and sets "
                        "the exit status: leave out --watch")
    shown: list[AgentRow] = []

    def draw() -> list[str]:
        nonlocal shown
        rows = _filtered(
            ctx, db.read_agents(engine, limit, day=today(settings.timezone)), department, brand
        )
        shown = rows
        if as_json:
            payload = status_json(rows, offline_after=limit, departments=department, brands=brand,
                                  fail_on=fail_on)
            if watch is not None:  # JSON Lines: one document per redraw
                return [json.dumps(payload, ensure_ascii=False, separators=(",", ":"))]
            return [json.dumps(payload, ensure_ascii=False, indent=2)]
        if not rows:
            body = ["No agents match the filters." if department or brand
                    else "No agent has reported yet."]
        else:
            body = status_table(rows, max_width=_table_width(), color=color)
        return [*body, "", *status_footer(rows, color=color)]

    db.require_existing_file()
    engine = db.engine()
    try:
        if watch is None:
            _echo_lines(draw(), color)
            exit_if_failing(ctx, shown, fail_on)
            return
        _watch(ctx, draw, watch, clear=tty and not as_json, header=not as_json, color=color)
    except BrokenPipeError:
        _broken_pipe(ctx)
    finally:
        engine.dispose()


def _watch(
    ctx: click.Context,
    draw: Callable[[], list[str]],
    interval: float,
    *,
    clear: bool,
    header: bool,
    color: bool,
) -> None:
    """Redraw until Ctrl-C (exit status 0). The first draw's errors end it like without
    ``--watch``; later ones (the database restarting, say) are shown and retried."""
    drawn = False
    try:
        while True:
            try:
                lines = draw()
            except OfficeCLIError as exc:
                if not drawn:
                    raise
                lines = [exc.format_message(), f"(retrying every {interval:g}s)"]
            if header:
                stamp = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")
                lines = [f"celery office status · {stamp} · every {interval:g}s · Ctrl-C to stop",
                         "", *lines]
            if clear:
                click.clear()
            elif drawn and header:
                lines = ["", *lines]
            _echo_lines(lines, color)
            drawn = True
            time.sleep(interval)
    except KeyboardInterrupt:
        ctx.exit(0)


@office.command(cls=CeleryCommand)
@click.option("--agents-file", cls=CeleryOption, metavar="PATH",
              help="Registry to check (default: office_agents_file).")
@click.option("--strict", cls=CeleryOption, is_flag=True,
              help="Treat warnings (uncovered tasks, unmatched patterns) as errors.")
@click.pass_context
def check(ctx: click.Context, agents_file: str | None, strict: bool, **kwargs: Any) -> None:
    """Check agents.yaml against the app's registered tasks."""
    app = app_of(ctx)
    settings = settings_of(ctx)
    path = agents_file or settings.agents_file
    try:
        registry = load_registry(
            path, setting_hint="--agents-file" if agents_file else DEFAULT_SETTING_HINT, app=app
        )
    except RegistryError as exc:
        fail(ctx, str(exc))
    try:
        app.loader.import_default_modules()
        names = sorted(name for name in app.tasks if isinstance(name, str))
    except Exception as exc:  # the user's task modules: any error may come out of them
        fail(ctx, f"cannot load the app's tasks: {type(exc).__name__}: {exc}")

    errors: list[str] = []
    for name in names:
        try:
            registry.resolve([name])
        except RegistryError as exc:
            errors.append(str(exc))
    own = [name for name in names if not name.startswith("celery.")]
    uncovered = [name for name in own if registry.route(name) is None]
    warnings = [f"task {name!r} is not covered by any agent" for name in uncovered]
    for agent, pattern in registry.unmatched_patterns(names):
        line = agent.task_lines.get(pattern, agent.line)
        kind = "pattern" if any(ch in pattern for ch in "*?[") else "task"
        warnings.append(
            f"{registry.path}:{line}: agent '{agent.agent_id}': {kind} {pattern!r} "
            "matches no registered task"
        )
    _check_dashboard_table(settings.database_url, errors, warnings)
    if strict:
        errors.extend(warnings)
        warnings = []

    for message in errors:
        click.echo(f"celery office check: {message}", err=True)
    for message in warnings:
        click.echo(f"warning: {message}")
    covered = len(own) - len(uncovered)
    agents = len(registry.agents)
    click.echo(
        f"{registry.path}: {counted(agents, 'agent')}, {covered} of "
        f"{counted(len(own), 'task')} covered; {counted(len(errors), 'error')}, "
        f"{counted(len(warnings), 'warning')}"
        + (" (--strict)" if strict else "")
    )
    if errors:
        ctx.exit(1)


def _check_dashboard_table(url: str, errors: list[str], warnings: list[str]) -> None:
    """With a database configured, an existing ``office_agent_status`` the worker could not
    adopt is an error here too (the worker would stop on it), and so are tables a newer
    celery-office migrated (the worker would write nothing); a database out of reach from
    where ``check`` runs (a CI job) is only a warning."""
    if url == DEFAULT_DATABASE_URL:
        return
    try:
        check_table(url)
    except (ContractError, NewerSchemaError) as exc:  # the worker would write nothing there
        errors.append(str(exc))
    except MigrationError as exc:
        warnings.append(f"the dashboard table was not checked: {exc}")
