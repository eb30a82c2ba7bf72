"""Which revisions celery-office ships, and which one a database is at.

The migrations' Alembic configuration is built here in code (celery-office ships no
alembic.ini), with its own version table ``office_alembic_version``. Alembic is imported with its
INFO lines silenced: a worker's start-up log shows INFO, and Alembic says one line per
autogenerate plugin at import, and more at every migration context.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection

from ..core.errors import MigrationError, NewerSchemaError

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


with quiet_alembic():  # importing Alembic logs a line per autogenerate plugin, at INFO
    from alembic.config import Config
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory



def read_revision(connection: Connection) -> str | None:
    """The revision the database is at (one read), or None when celery-office never ran."""
    with quiet_alembic():
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


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
    config = Config(**attributes)
    # ConfigParser interpolates '%': double it so that any path survives.
    config.set_main_option("script_location", str(script_location()).replace("%", "%%"))
    return config


@functools.lru_cache(maxsize=1)
def known_revisions() -> frozenset[str]:
    """Every revision that ships with this version of celery-office."""
    script = ScriptDirectory.from_config(alembic_config())
    return frozenset(revision.revision for revision in script.walk_revisions())


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
    """The newest revision that ships with this version of celery-office."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships revisions
        raise MigrationError("celery-office ships no migration revisions: reinstall it")
    return head


