"""The database a command works on, and its errors turned into one line without a password."""

from __future__ import annotations

import os
from datetime import date
from typing import NoReturn

import click
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from ..core.errors import OfficeError, invalid_url
from ..db.engine import (
    create_read_engine,
    db_error_reason,
    is_missing_table,
    require_sync_driver,
    safe_url,
)
from ..db.read import AgentRow, agent_statuses
from ..settings import OfficeSettings
from .context import app_name, fail, warn

__all__ = ["Database", "DATABASE_HINT", "db_error_reason"]


DATABASE_HINT = "office_database_url / OFFICE_DATABASE_URL"


class Database:
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
            fail(ctx, f"{exc}. Check {self.hint}.")
        except (ArgumentError, ValueError) as exc:  # e.g. a port that is not a number
            fail(ctx, str(invalid_url(exc, check=self.hint)))
        self.is_sqlite = self.parsed.get_backend_name() == "sqlite"
        notice = None if option_url else settings.default_database_notice()
        if notice is not None:  # never quietly: a file in the working directory is easy to miss
            warn(ctx, notice)

    def fail(self, message: str) -> NoReturn:
        fail(self.ctx, message)

    def reason(self, exc: BaseException) -> str:
        return db_error_reason(exc, self.url)

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
                f"`celery -A {app_name(self.ctx)} office migrate` first, or check {self.hint}."
            )

    def engine(self) -> Engine:
        """Bounded waits: connect and statement timeouts on PostgreSQL, busy timeout on SQLite
        (:func:`~celery_office.db.engine.create_read_engine`)."""
        try:
            return create_read_engine(
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

    def read_agents(
        self, engine: Engine, offline_after: float, *, day: date | None = None
    ) -> list[AgentRow]:
        conn = self.connect(engine)
        try:
            with conn:
                return agent_statuses(conn, offline_after, day=day)
        except SQLAlchemyError as exc:
            if is_missing_table(exc):
                self.fail(
                    f"the celery-office tables are missing in {self.safe}: run "
                    f"`celery -A {app_name(self.ctx)} office migrate` first."
                )
            self.fail(f"cannot read the agents from {self.safe}: {self.reason(exc)}.")
        except (LookupError, ValueError, TypeError) as exc:  # e.g. an unknown status value
            self.fail(f"cannot read the agents from {self.safe}: {type(exc).__name__}: {exc}.")
