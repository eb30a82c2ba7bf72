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
    activity, today's runs and failed runs (the app's ``timezone``), current task, metrics. The
    footer counts the agents per effective status and sums the office's salary equivalent
    (salary_equivalent x fte_coefficient of the agents not offline). Colours on a terminal
    unless ``--no-color`` (or celery's ``-C``/``NO_COLOR``). One line an agent, within
    ``COLUMNS``, else the terminal's width, else 120 columns (piped): texts on one line
    (whitespace runs collapsed), task and metrics cut with ``…``, then columns left out (named
    under the table) when the terminal is too narrow.

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
    --wide                 every column and every text whole, however long the line
    --no-color             plain text even on a terminal

``celery office sql [--dialect postgresql|sqlite]``
    Print the plain SQL that creates celery-office's tables on an empty schema (the file
    shipped in the package, generated from its migrations), for DBAs who apply SQL by hand:
    ``celery office sql --dialect postgresql | psql -v ON_ERROR_STOP=1 -d adolf``. Without
    ``--dialect``, that of ``office_database_url``.

``celery -A proj office init [--output FILE]``
    Print a first agents.yaml for the app's registered tasks (``celery.*`` left out): one
    agent a module, its department from the module's path, names and texts from the task
    names, comments saying what to edit. ``office check`` accepts it as it is. ``--output``
    writes FILE instead, never over an existing file.

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

from typing import Any

import click

from .check import check
from .init import init
from .migrate import migrate, sql
from .status import status

__all__ = ["office"]


@click.group(name="office")
@click.pass_context
def office(ctx: click.Context, **kwargs: Any) -> None:
    """celery-office: draft and check agents.yaml, migrate its tables, show the agents' status."""


for _command in (check, init, migrate, sql, status):
    office.add_command(_command)
