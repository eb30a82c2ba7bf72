"""Which revisions celery-office ships, and which one a database is at.

The migrations' Alembic configuration is built here in code (celery-office ships no
alembic.ini), with its own version table ``office_alembic_version``. Alembic is imported with its
INFO lines silenced: a worker's start-up log shows INFO, and Alembic says one line per
autogenerate plugin at import, and more at every migration context.

Why no Alembic for the questions a worker asks at every start and heartbeat (which revision the
database is at, which ones ship, which is the head): the answers are one ``SELECT`` and the
``revision`` / ``down_revision`` lines of the scripts, while Alembic and the scripts it imports
weigh some 12 MiB in a worker's main process, inherited by its pool processes. A worker
imports Alembic only when its tables need migrating.
"""

from __future__ import annotations

import ast
import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from ..core.errors import MigrationError, NewerSchemaError

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["VERSION_TABLE", "quiet_alembic", "alembic_config", "script_location", "known_revisions",
           "head_revision", "read_revision", "check_revision"]

VERSION_TABLE = "office_alembic_version"


@contextmanager
def quiet_alembic() -> Iterator[None]:
    """Alembic's INFO lines (one per autogenerate plugin at import, "Context impl
    PostgresqlImpl.", "Will assume transactional DDL.", one per revision) would fill a worker's
    start-up log, which shows INFO. A level the host set on purpose is left alone."""
    alembic_log = logging.getLogger("alembic")
    if alembic_log.level != logging.NOTSET:
        yield
        return
    alembic_log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        alembic_log.setLevel(logging.NOTSET)


def read_revision(connection: Connection) -> str | None:
    """The revision the database is at (one read), or None when celery-office never ran.

    What Alembic's ``MigrationContext.get_current_revision`` reads, without Alembic."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    if len(rows) > 1:
        raise MigrationError(
            f"{VERSION_TABLE} holds {len(rows)} revisions ({', '.join(sorted(rows))}); "
            "celery-office's history has one head: delete the rows that are not its revision"
        )
    return rows[0] if rows else None


def script_location() -> Path:
    """The Alembic script directory: from the installed package, else the source checkout.

    A wheel and an editable install both provide ``celery_office.migrations`` (setuptools maps
    the top-level ``migrations/`` folder onto it); a bare checkout on ``sys.path`` does not.
    """
    try:
        location = Path(str(files("celery_office.migrations")))
    except ModuleNotFoundError:
        location = Path(__file__).resolve().parents[2] / "migrations"
    if not (location / "env.py").is_file():
        raise MigrationError(
            f"celery-office's migration scripts are not at {location}: reinstall celery-office "
            "from a wheel or source tree (zipped installs are not supported)"
        )
    return location


def alembic_config(**attributes: Any) -> Config:
    """An Alembic Config built in code: celery-office ships no alembic.ini."""
    with quiet_alembic():  # importing Alembic logs a line per autogenerate plugin, at INFO
        from alembic.config import Config

    config = Config(**attributes)
    # ConfigParser interpolates '%': double it so that any path survives.
    config.set_main_option("script_location", str(script_location()).replace("%", "%%"))
    return config


@functools.lru_cache(maxsize=1)
def _history() -> dict[str, frozenset[str]]:
    """Each shipped revision and the revisions it follows, from the scripts' ``revision`` and
    ``down_revision`` assignments, read as text: the scripts are not imported."""
    history: dict[str, frozenset[str]] = {}
    for script in sorted((script_location() / "versions").glob("*.py")):
        found = _assignments(script, ("revision", "down_revision"))
        if "revision" not in found:
            continue  # __init__.py
        down = found.get("down_revision")
        downs = () if down is None else (down,) if isinstance(down, str) else tuple(down)
        history[found["revision"]] = frozenset(downs)
    return history


def _assignments(script: Path, names: tuple[str, ...]) -> dict[str, Any]:
    """The literal values of ``names`` assigned at the top level of ``script``."""
    found: dict[str, Any] = {}
    for node in ast.parse(script.read_text(encoding="utf-8"), filename=str(script)).body:
        target: ast.expr | None = None
        value: ast.expr | None = None
        if isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        if isinstance(target, ast.Name) and target.id in names and value is not None:
            found[target.id] = ast.literal_eval(value)
    return found


def known_revisions() -> frozenset[str]:
    """Every revision that ships with this version of celery-office."""
    return frozenset(_history())


def check_revision(connection: Connection, *, database: str) -> None:
    """Raise :class:`NewerSchemaError` when the database is at a revision this version does
    not ship (a newer celery-office migrated it); one read of ``office_alembic_version``."""
    current = read_revision(connection)  # at every heartbeat: quietly
    if current is None or current in known_revisions():
        return
    raise NewerSchemaError(
        f"the celery-office tables in {database} are at revision {current!r}, made by a newer "
        f"celery-office; this one knows revisions up to {head_revision()!r} and writes nothing "
        "there (its agents read offline once silent): upgrade celery-office on this worker"
    )


def head_revision() -> str:
    """The newest revision that ships with this version of celery-office: the one no other
    revision follows."""
    history = _history()
    followed = set().union(*history.values()) if history else set()
    heads = sorted(set(history) - followed)
    if len(heads) != 1:  # pragma: no cover - the package ships one line of revisions
        raise MigrationError(
            f"celery-office's migration scripts in {script_location()} have "
            f"{len(heads)} heads ({', '.join(heads) or 'none'}), not one: reinstall celery-office"
        )
    return heads[0]


