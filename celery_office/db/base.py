"""What every celery-office table is built from: the metadata and its naming rules, the column
types both databases read alike, the database clock, and the key of a side table.

Why a module of its own: the tables live in two modules (:mod:`.tables`, the status and the
worker's bookkeeping; :mod:`.notify_tables`, the timeline and the notifications), both on
:data:`METADATA`, as SQLAlchemy Core tables: a worker writes through Core alone and never loads
SQLAlchemy's ORM (some 7 MiB a worker). :mod:`.models` maps them for applications that want
ORM classes.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, Column, DateTime, ForeignKey, MetaData, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.types import TypeDecorator

from ..core.limits import AGENT_ID_MAX

__all__ = ["AwareDateTime", "db_now", "METADATA", "JSON_DOCUMENT", "STATUS_TABLE", "agent_key"]

STATUS_TABLE = "office_agent_status"


class AwareDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that always reads back an aware UTC datetime.

    PostgreSQL returns aware values already; SQLite stores UTC text with no zone, which this
    marks as UTC so that values from both databases compare and subtract alike.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and dialect.name == "sqlite" and value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


class db_now(FunctionElement):
    """The database's current instant, as a value SQLAlchemy reads back timezone-aware.

    PostgreSQL: ``now()`` (a ``timestamptz``). SQLite has no timestamp type: the UTC time with
    microseconds as text in the format SQLAlchemy's SQLite ``DateTime`` reads.
    """

    type = AwareDateTime()
    inherit_cache = True
    name = "db_now"


@compiles(db_now)
def _db_now_default(element: db_now, compiler: Any, **kw: Any) -> str:
    return "CURRENT_TIMESTAMP"


@compiles(db_now, "postgresql")
def _db_now_postgresql(element: db_now, compiler: Any, **kw: Any) -> str:
    return "now()"


@compiles(db_now, "sqlite")
def _db_now_sqlite(element: db_now, compiler: Any, **kw: Any) -> str:
    return "strftime('%Y-%m-%d %H:%M:%f000', 'now')"


_NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


METADATA = MetaData(naming_convention=_NAMING)  # every celery-office table, and only those


JSON_DOCUMENT = JSON().with_variant(JSONB(), "postgresql")


def agent_key() -> Column[str]:
    """The key of a side table: the agent's id, gone with the agent's row (rows deleted by
    hand take their bookkeeping with them)."""
    return Column(
        "agent_id",
        String(AGENT_ID_MAX),
        ForeignKey(f"{STATUS_TABLE}.agent_id", ondelete="CASCADE"),
        primary_key=True,
    )
