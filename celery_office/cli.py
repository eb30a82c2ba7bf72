"""``celery office``: the office's tables, agents and registry from the command line.

Installed as a Celery sub-command (entry point ``celery.commands``); the app is the one given to
``celery -A``, and every setting comes from it (``office_*`` in ``app.conf``, else ``OFFICE_*``
in the environment), as for the worker.

``celery -A proj office migrate [--database-url URL]``
    Create or upgrade celery-office's tables and views in ``office_database_url``. Idempotent:
    run it as often as you like. Prints one line: what was done and where (password hidden).

``celery -A proj office status [options]``
    One row per agent: agent id, department, brand, effective status (``offline`` once silent
    for over ``office_offline_after`` seconds, whatever the row says), current task, time since
    its last activity, metrics. The footer counts the agents per effective status and sums the
    office's salary equivalent (salary_equivalent x fte_coefficient of the agents not offline).
    Colours on a terminal unless ``--no-color`` (or celery's ``-C``/``NO_COLOR``); task and
    metrics texts are cut to the terminal's width (or ``COLUMNS`` when piped; uncut otherwise).

    --json                 the same data as JSON: ``{"agents": [...], "summary": {...}}``
                           (times ISO 8601, silence in seconds, numbers as numbers)
    --watch [SECONDS]      redraw every SECONDS (default 2) until Ctrl-C; with --json, one
                           JSON document per line
    --department NAME      only these departments (repeatable); an unknown one is an error
    --brand NAME           only these brands (repeatable); an unknown one is an error
    --offline-after SECS   override office_offline_after
    --database-url URL     override office_database_url
    --no-color             plain text even on a terminal

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

import json
import os
import re
import shutil
import sys
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, NoReturn

import click
from celery.bin.base import CeleryCommand, CeleryOption
from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from .engine import require_sync_driver
from .errors import OfficeError, invalid_url
from .jsonsafe import cut, json_safe
from .schema import MigrationError, current_revision, head_revision
from .schema import migrate as migrate_tables
from .models import AgentStatus
from .registry import DEFAULT_SETTING_HINT, RegistryError, load_registry
from .settings import OfficeSettings
from .store import AgentRow, agent_statuses, create_office_engine, safe_url
from .validation import SHOWN_MAX

__all__ = [
    "office",
    "OfficeCLIError",
    "human_duration",
    "format_amount",
    "salary_total",
    "status_counts",
    "compact_metrics",
    "display_width",
    "truncate",
    "fit_widths",
    "render_table",
    "status_table",
    "status_footer",
    "status_json",
    "db_error_reason",
    "one_line",
]

DATABASE_HINT = "office_database_url / OFFICE_DATABASE_URL"
THIN_SPACE = "\u2009"
EMPTY = "—"
GAP = 2  # spaces between table columns
MIN_SHRUNK = 8  # a cut column keeps at least this many characters
STATUS_ORDER = (AgentStatus.ok, AgentStatus.warning, AgentStatus.error, AgentStatus.offline)
STATUS_STYLE: Mapping[AgentStatus, dict[str, Any]] = {
    AgentStatus.ok: {"fg": "green"},
    AgentStatus.warning: {"fg": "yellow"},
    AgentStatus.error: {"fg": "red", "bold": True},
    AgentStatus.offline: {"fg": "bright_black"},
}
HEADERS = ("AGENT", "DEPARTMENT", "BRAND", "STATUS", "LAST SEEN", "TASK", "METRICS")
SHRINKABLE = (5, 6)  # TASK and METRICS are cut to fit the terminal


# ============================================================================ pure helpers


def one_line(text: str) -> str:
    """``text`` on one line: whitespace runs collapsed, SQLAlchemy's doc links dropped."""
    text = re.sub(r"\s*\(Background on this error at: [^)]*\)", "", str(text))
    return re.sub(r"\s+", " ", text).strip()


def human_duration(seconds: float | None) -> str:
    """``5s``, ``3m``, ``2h``, ``4d``: the largest whole unit (rounded down); ``None`` -> ``—``."""
    if seconds is None:
        return EMPTY
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def format_amount(value: Decimal | int | float) -> str:
    """A whole amount with thin-space thousands separators: ``345 000`` (``-1 500``)."""
    whole = int(Decimal(str(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return f"{whole:,}".replace(",", THIN_SPACE)


def salary_total(rows: Iterable[AgentRow]) -> Decimal:
    """Sum of salary_equivalent x fte_coefficient of the agents not (effectively) offline."""
    total = Decimal(0)
    for row in rows:
        if row.effective_status is AgentStatus.offline:
            continue
        fte = Decimal(1) if row.fte_coefficient is None else Decimal(str(row.fte_coefficient))
        total += Decimal(row.salary_equivalent or 0) * fte
    return total


def status_counts(rows: Iterable[AgentRow]) -> dict[str, int]:
    """How many agents have each effective status; every status present, in a fixed order."""
    counts = {status.value: 0 for status in STATUS_ORDER}
    for row in rows:
        counts[AgentStatus(row.effective_status).value] += 1
    return counts


def _metric_value(value: Any) -> str:
    if isinstance(value, str) and value and not re.search(r"[\s,=\"]", value):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def compact_metrics(metrics: Mapping[str, Any] | None) -> str:
    """``errors=0, products_scanned=150``: the metrics as a short ``k=v`` list, keys sorted
    (PostgreSQL's JSONB keeps no order of its own)."""
    if not metrics:
        return ""
    return ", ".join(f"{key}={_metric_value(metrics[key])}" for key in sorted(metrics, key=str))


def _cell(text: str | None) -> str:
    """Text fit for one table cell: control characters (newlines, ESC) become spaces."""
    if not text:
        return ""
    return "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text).strip()


def _char_width(ch: str) -> int:
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def display_width(text: str) -> int:
    """Columns ``text`` takes in a terminal (wide East Asian characters count two)."""
    return sum(_char_width(ch) for ch in text)


def truncate(text: str, width: int) -> str:
    """``text`` cut to ``width`` terminal columns, the cut marked with ``…``."""
    return cut(text, width, width=_char_width)


def fit_widths(
    natural: Sequence[int],
    available: int | None,
    shrinkable: Iterable[int],
    *,
    gap: int = GAP,
    minimum: int = MIN_SHRUNK,
) -> list[int]:
    """Column widths that fit ``available`` columns by narrowing the widest shrinkable ones.

    No column is narrowed below ``minimum`` (nor widened); if that is not enough the line stays
    too long. ``available=None`` means no limit.
    """
    widths = list(natural)
    if available is None or not widths:
        return widths
    excess = sum(widths) + gap * (len(widths) - 1) - available
    candidates = [i for i in shrinkable if 0 <= i < len(widths)]
    while excess > 0:
        wide = [i for i in candidates if widths[i] > minimum]
        if not wide:
            break
        widest = max(widths[i] for i in wide)
        tied = [i for i in wide if widths[i] == widest]
        others = [widths[i] for i in wide if widths[i] < widest]
        floor = max([minimum, *others])
        # Lower all the tied widest columns towards the next level, sharing the excess.
        step = min(widest - floor, -(-excess // len(tied)))
        for i in tied:
            if excess <= 0:
                break
            cut = min(step, excess)
            widths[i] -= cut
            excess -= cut
    return widths


Styler = Callable[[int, int, str], str]  # (row index or -1 for the header, column, text)


def render_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    max_width: int | None = None,
    shrinkable: Iterable[int] = (),
    style: Styler | None = None,
) -> list[str]:
    """Lines of a left-aligned table; cells of ``shrinkable`` columns cut to fit ``max_width``.

    ``style`` gets each padded cell (row -1 is the header) and returns it decorated; widths are
    computed before, so ANSI codes never count.
    """
    cells = [[_cell(c) for c in row] for row in rows]
    natural = [
        max([display_width(h), *(display_width(row[i]) for row in cells)])
        for i, h in enumerate(headers)
    ]
    widths = fit_widths(natural, max_width, shrinkable)
    lines = []
    for index, row in enumerate([list(headers), *cells]):
        texts = [truncate(text, widths[col]) for col, text in enumerate(row)]
        last = max((col for col, text in enumerate(texts) if text), default=-1)
        parts = []
        for col, text in enumerate(texts[: last + 1]):  # no trailing blanks, styled or not
            if col != last:
                text += " " * (widths[col] - display_width(text))
            parts.append(style(index - 1, col, text) if style else text)
        lines.append((" " * GAP).join(parts))
    return lines


def _row_cells(row: AgentRow) -> list[str]:
    seen = EMPTY if row.silent_for is None else f"{human_duration(row.silent_for)} ago"
    return [
        row.agent_id,
        row.department,
        row.brand or EMPTY,
        AgentStatus(row.effective_status).value,
        seen,
        row.task or EMPTY,
        compact_metrics(row.metrics),
    ]


def _styler(rows: Sequence[AgentRow]) -> Styler:
    def style(index: int, col: int, text: str) -> str:
        if not text.strip():
            return text
        if index < 0:
            return click.style(text, bold=True)
        status = AgentStatus(rows[index].effective_status)
        if status is AgentStatus.offline:
            return click.style(text, **STATUS_STYLE[status])
        if col == 3:
            return click.style(text, **STATUS_STYLE[status])
        return text

    return style


def status_table(
    rows: Sequence[AgentRow], *, max_width: int | None = None, color: bool = False
) -> list[str]:
    """The status table's lines: one row per agent; task and metrics cut to ``max_width``."""
    return render_table(
        HEADERS,
        [_row_cells(row) for row in rows],
        max_width=max_width,
        shrinkable=SHRINKABLE,
        style=_styler(rows) if color else None,
    )


def status_footer(rows: Sequence[AgentRow], *, color: bool = False) -> list[str]:
    """Counts per effective status and the salary equivalent of the agents not offline."""
    counts = status_counts(rows)
    noun = "agent" if len(rows) == 1 else "agents"
    parts = []
    for name, count in counts.items():
        label = f"{count} {name}"
        if color and count:
            label = click.style(label, **STATUS_STYLE[AgentStatus(name)])
        parts.append(label)
    return [
        f"{len(rows)} {noun}: " + ", ".join(parts),
        f"Salary equivalent: {format_amount(salary_total(rows))} ₽/month (agents not offline)",
    ]


def _agent_json(row: AgentRow) -> dict[str, Any]:
    return {
        "agent_id": row.agent_id,
        "department": row.department,
        "name": row.name,
        "brand": row.brand,
        "status": AgentStatus(row.status).value,
        "effective_status": AgentStatus(row.effective_status).value,
        "task": row.task,
        "metrics": json_safe(row.metrics or {}),
        "salary_equivalent": row.salary_equivalent,
        "fte_coefficient": json_safe(row.fte_coefficient),
        "last_activity": json_safe(row.last_activity),
        "silent_for": None if row.silent_for is None else round(row.silent_for, 3),
        "updated_at": json_safe(row.updated_at),
    }


def status_json(
    rows: Sequence[AgentRow],
    *,
    offline_after: float,
    departments: Sequence[str] = (),
    brands: Sequence[str] = (),
    now: datetime | None = None,
) -> dict[str, Any]:
    """``{"agents": [...], "summary": {...}}``: every value JSON-encodable as is."""
    now = now or datetime.now(timezone.utc)
    return {
        "agents": [_agent_json(row) for row in rows],
        "summary": {
            "total": len(rows),
            "counts": status_counts(rows),
            "salary_equivalent": json_safe(salary_total(rows)),
            "currency": "RUB",
            "offline_after": offline_after,
            "departments": list(departments),
            "brands": list(brands),
            "generated_at": now.isoformat(),
        },
    }


def db_error_reason(exc: BaseException, password: str | None = None) -> str:
    """The driver's own words for a database error, on one line, without the password.

    ``connection to server at "127.0.0.1", port 1 failed: Connection refused ...`` becomes
    ``connection refused``; ``FATAL:  database "x" does not exist`` becomes
    ``database "x" does not exist``.
    """
    orig = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(orig).splitlines() if line.strip()]
    first = lines[0] if lines else type(orig).__name__
    first = re.sub(r"^(FATAL|ERROR|PANIC):\s+", "", first)
    match = re.match(r"^connection to server (?:at|on) .*? failed: (?:FATAL:\s+)?(.+)$", first)
    if match:
        first = match.group(1)
    first = one_line(first).rstrip(".")
    if first[:1].isupper() and first[1:2].islower():
        first = first[0].lower() + first[1:]
    if password:
        first = first.replace(password, "***")
    return first or type(orig).__name__


def _is_missing_table(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", None)
    if getattr(orig, "pgcode", None) == "42P01":  # undefined_table
        return True
    text = str(orig if orig is not None else exc)
    return "no such table" in text or bool(re.search(r"relation \S+ does not exist", text))


# ============================================================================ CLI plumbing


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


def _fail(ctx: click.Context, message: str) -> NoReturn:
    raise OfficeCLIError(ctx.info_name or "office", message)


def _app(ctx: click.Context) -> Any:
    app = getattr(ctx.obj, "app", None)
    if app is None:  # invoked outside `celery` (tests, scripts): Celery's current app
        from celery import current_app

        app = current_app._get_current_object()
    return app


def _app_name(ctx: click.Context) -> str:
    """What the user gave to ``-A``, for hints that show a command to run."""
    given = ctx.find_root().params.get("app")
    if isinstance(given, str) and given:
        return given
    main = getattr(given if given is not None else getattr(ctx.obj, "app", None), "main", None)
    return main if main and main != "default" else "<app>"  # "default": Celery's fallback app


def _settings(ctx: click.Context) -> OfficeSettings:
    try:
        return OfficeSettings.from_app(_app(ctx))
    except OfficeError as exc:
        _fail(ctx, f"invalid setting: {exc}")
    except ImportError as exc:  # app.conf loads a configuration module lazily
        _fail(ctx, f"cannot load the app's configuration: {type(exc).__name__}: {exc}")


def _no_color(ctx: click.Context, flag: bool) -> bool:
    return flag or bool(getattr(ctx.obj, "no_color", False))


def _password(url: str) -> str | None:
    try:
        return make_url(url).password
    except (ArgumentError, ValueError):
        return None


class _Database:
    """The database a command works on, and a translation of its errors into one-liners."""

    def __init__(self, ctx: click.Context, option_url: str | None, settings: OfficeSettings):
        self.ctx = ctx
        self.url = option_url or settings.database_url
        self.hint = "--database-url" if option_url else DATABASE_HINT
        self.settings = settings
        self.safe = safe_url(self.url)
        try:
            self.parsed = require_sync_driver(self.url)
        except OfficeError as exc:  # an asynchronous driver: names the synchronous one
            _fail(ctx, f"{exc}. Check {self.hint}.")
        except (ArgumentError, ValueError) as exc:  # e.g. a port that is not a number
            _fail(ctx, str(invalid_url(exc, check=self.hint)))
        self.is_sqlite = self.parsed.get_backend_name() == "sqlite"

    def fail(self, message: str) -> NoReturn:
        _fail(self.ctx, message)

    def reason(self, exc: BaseException) -> str:
        return db_error_reason(exc, _password(self.url))

    def sqlite_file(self) -> str | None:
        """The SQLite file's path, or None for memory databases and URI file names."""
        name = self.parsed.database
        if not self.is_sqlite or not name or name == ":memory:" or name.startswith("file:"):
            return None
        return name

    def require_existing_file(self) -> None:
        """Reading must not create an empty SQLite file where the user mistyped the path."""
        path = self.sqlite_file()
        if path is not None and not os.path.exists(path):
            self.fail(
                f"there is no database file at {self.safe} ({os.path.abspath(path)}): run "
                f"`celery -A {_app_name(self.ctx)} office migrate` first, or check {self.hint}."
            )

    def engine(self) -> Engine:
        """Bounded waits: connect and statement timeouts on PostgreSQL, busy timeout on SQLite.

        SQLite gets a plain engine: ``create_office_engine``'s ``BEGIN IMMEDIATE`` would take
        the write lock for a read.
        """
        try:
            if self.is_sqlite:
                return create_engine(
                    self.url,
                    poolclass=NullPool,
                    connect_args={"timeout": self.settings.statement_timeout},
                )
            return create_office_engine(
                self.url,
                connect_timeout=self.settings.connect_timeout,
                statement_timeout=self.settings.statement_timeout,
            )
        except ImportError as exc:
            advice = f"Check {self.hint}"
            if self.parsed.drivername == "postgresql":  # SQLAlchemy >= 2.1 picks psycopg 3
                advice = ("Name the driver celery-office installs: postgresql+psycopg2://..., "
                          f"in {self.hint}; or install psycopg")
            self.fail(f"the database driver for {self.safe} is not installed: {exc}. {advice}.")
        except OfficeError as exc:
            self.fail(f"{exc}. Check {self.hint}.")
        except (ArgumentError, SQLAlchemyError, ValueError) as exc:
            self.fail(f"cannot use the database URL {self.safe}: {self.reason(exc)}. "
                      f"Check {self.hint}.")

    def connect(self, engine: Engine) -> Connection:
        try:
            return engine.connect()
        except SQLAlchemyError as exc:
            self.fail(
                f"cannot reach the database at {self.safe}: {self.reason(exc)}. "
                f"Check {self.hint}."
            )

    def read_agents(self, engine: Engine, offline_after: float) -> list[AgentRow]:
        conn = self.connect(engine)
        try:
            with conn:
                return agent_statuses(conn, offline_after)
        except SQLAlchemyError as exc:
            if _is_missing_table(exc):
                self.fail(
                    f"the celery-office tables are missing in {self.safe}: run "
                    f"`celery -A {_app_name(self.ctx)} office migrate` first."
                )
            self.fail(f"cannot read the agents from {self.safe}: {self.reason(exc)}.")
        except (LookupError, ValueError, TypeError) as exc:  # e.g. an unknown status value
            self.fail(f"cannot read the agents from {self.safe}: {type(exc).__name__}: {exc}.")


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


# ============================================================================ commands


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
    db = _Database(ctx, database_url, _settings(ctx))
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
        password = _password(db.url)
        db.fail(str(exc).replace(password, "***") if password else str(exc))
    if before is None:
        done = f"Created the celery-office tables (revision {head})"
    elif before == head:
        done = f"The celery-office tables are up to date (revision {head})"
    else:
        done = f"Upgraded the celery-office tables from revision {before} to {head}"
    click.echo(f"{done} in {db.safe}")


def _check_filter(ctx: click.Context, kind: str, given: Sequence[str], known: set[str]) -> None:
    unknown = [name for name in given if name not in known]
    if not unknown:
        return
    plural = "s" if len(unknown) > 1 else ""
    names = ", ".join(cut(repr(name), SHOWN_MAX) for name in unknown)
    listing = ", ".join(sorted(known)) if known else "none (no agent has reported yet)"
    kinds = {"department": "departments", "brand": "brands"}[kind]
    _fail(ctx, f"unknown {kind}{plural} {names}; known {kinds}: {listing}")


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
    offline_after: float | None,
    database_url: str | None,
    no_color: bool,
    **kwargs: Any,
) -> None:
    """Show every agent's effective status, task, silence and metrics."""
    settings = _settings(ctx)
    db = _Database(ctx, database_url, settings)
    limit = offline_after if offline_after is not None else settings.offline_after
    tty = sys.stdout.isatty()
    color = tty and not _no_color(ctx, no_color) and not as_json

    def draw() -> list[str]:
        rows = _filtered(ctx, db.read_agents(engine, limit), department, brand)
        if as_json:
            payload = status_json(rows, offline_after=limit, departments=department, brands=brand)
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
    app = _app(ctx)
    settings = _settings(ctx)
    path = agents_file or settings.agents_file
    try:
        registry = load_registry(
            path, setting_hint="--agents-file" if agents_file else DEFAULT_SETTING_HINT
        )
    except RegistryError as exc:
        _fail(ctx, str(exc))
    try:
        app.loader.import_default_modules()
        names = sorted(name for name in app.tasks if isinstance(name, str))
    except Exception as exc:  # the user's task modules: any error may come out of them
        _fail(ctx, f"cannot load the app's tasks: {type(exc).__name__}: {exc}")

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
        f"{registry.path}: {agents} agent{'s' if agents != 1 else ''}, {covered} of "
        f"{len(own)} task{'s' if len(own) != 1 else ''} covered; {len(errors)} "
        f"error{'s' if len(errors) != 1 else ''}, {len(warnings)} "
        f"warning{'s' if len(warnings) != 1 else ''}"
        + (" (--strict)" if strict else "")
    )
    if errors:
        ctx.exit(1)
