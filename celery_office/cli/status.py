"""``celery office status``: every agent's effective status, as a table or JSON, once, watched,
or as a health check (``--fail-on``)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, NoReturn

import click
from celery.bin.base import CeleryCommand, CeleryOption

from ..core.days import today
from ..db.read import AgentRow
from ..jsonsafe import cut
from ..validation import SHOWN_MAX
from .context import OfficeCLIError, colour_off, fail, settings_of
from .database import Database
from .health import UsageLine, exit_if_failing, parse_fail_on
from .status_view import status_footer, status_json, status_table

__all__ = ["status"]


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


PIPED_WIDTH = 120  # the table's width when stdout is no terminal and COLUMNS is unset


def _table_width(wide: bool) -> int | None:
    """``COLUMNS``, else the terminal's width, else :data:`PIPED_WIDTH` (a pipe, a cron
    mail, a CI log); None (every text whole) with ``--wide``. Asked at every redraw, so
    ``--watch`` follows a resized terminal."""
    if wide:
        return None
    return shutil.get_terminal_size(fallback=(PIPED_WIDTH, 24)).columns


@click.command(cls=CeleryCommand)
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
@click.option("--wide", cls=CeleryOption, is_flag=True,
              help="Every text whole, however wide (default: cut to the terminal's width).")
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
    wide: bool,
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
            body = status_table(rows, max_width=_table_width(wide), color=color)
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
    ctrl_c = _CtrlCBetweenDraws()
    try:
        while True:
            try:
                with ctrl_c.held():
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


class _CtrlCBetweenDraws:
    """Ctrl-C pressed during a draw ends the watch once the draw is done: a KeyboardInterrupt
    raised inside a database connection's close makes SQLAlchemy log a traceback for it. A second
    Ctrl-C during the same draw ends it at once."""

    def __init__(self) -> None:
        self.drawing = self.pressed = False

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield  # signal handlers belong to the main thread
            return
        previous = signal.signal(signal.SIGINT, self._on_sigint)
        self.drawing, self.pressed = True, False
        try:
            yield
        finally:
            self.drawing = False
            signal.signal(signal.SIGINT, previous)
        if self.pressed:
            raise KeyboardInterrupt

    def _on_sigint(self, signum: int, frame: Any) -> None:
        if self.drawing and not self.pressed:
            self.pressed = True
            return
        raise KeyboardInterrupt
