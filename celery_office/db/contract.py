"""Can celery-office write to an ``office_agent_status`` it did not create?

Why: the dashboard's table usually exists before celery-office arrives, made by the ADOLF spec's
own model (``Base.metadata.create_all``) or by the host's Alembic, and holds rows the dashboard
shows. Migration adopts such a table instead of creating it, and must first know that every
statement celery-office sends will work on it. This module compares the table (and a lone
``agentstatus`` type) with the contract, which is
:class:`celery_office.db.models.OfficeAgentStatus`, and names the first difference that would
break a write, with the SQL that fixes it. It changes nothing: the dashboard's table is the
dashboard team's.

Accepted: extra columns that may stay NULL or have a default, other index and constraint names,
longer texts, wider numbers, extra enum values, ``status`` stored as text (``native_enum=False``),
NULL allowed where the contract says NOT NULL (celery-office always writes those). SQLite
enforces neither lengths nor types, so there only the columns, NULLs and uniqueness matter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, DateTime, Enum, Integer, Numeric, SmallInteger, String, inspect
from sqlalchemy.dialects.postgresql import ENUM, JSONB
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.engine.interfaces import ReflectedColumn
from sqlalchemy.types import TypeDecorator

from ..core.errors import MigrationError
from ..core.statuses import AgentStatus
from .tables import STATUS, STATUS_TABLE

__all__ = ["STATUS_TYPE", "ContractError", "Problem", "problems", "check"]

STATUS_TYPE = "agentstatus"
_CONTRACT = STATUS
_VALUES = [status.value for status in AgentStatus]
# Columns celery-office never writes: the database must fill them in.
_FILLED_BY_DATABASE = {"id"}


@dataclass(frozen=True)
class Problem:
    """One difference that would break a write: where, what is expected, what is found, the fix."""

    where: str
    expected: str
    found: str
    fix: str

    def __str__(self) -> str:
        return f"{self.where}: expected {self.expected}, found {self.found}; fix: {self.fix}"


class ContractError(MigrationError):
    """The existing ``office_agent_status`` (or ``agentstatus`` type) cannot be adopted as it is.

    ``problems`` lists every difference; the message, one line, names the first and counts the
    rest (each is reported in turn once the one before is fixed).
    """

    def __init__(self, problems: list[Problem], *, database: str) -> None:
        self.problems = problems
        more = len(problems) - 1
        rest = f" ({more} more difference{'s' if more > 1 else ''} after this one)" if more else ""
        super().__init__(
            f"celery-office cannot use the existing {STATUS_TABLE} in {database}: "
            f"{problems[0]}{rest}. Nothing was changed."
        )


def check(connection: Connection, *, database: str) -> None:
    """Raise :class:`ContractError` if what exists at ``connection`` breaks the contract.

    A database with neither the table nor the type passes: migration will create both.
    """
    found = problems(connection)
    if found:
        raise ContractError(found, database=database)


def problems(connection: Connection) -> list[Problem]:
    """Every difference between the existing table (or lone enum type) and the contract."""
    dialect = connection.dialect
    inspector = inspect(connection)
    if not inspector.has_table(STATUS_TABLE):
        values = _enum_values(connection)
        return [] if values is None else _enum_problems(values, f"type {STATUS_TYPE}")
    columns = {column["name"]: column for column in inspector.get_columns(STATUS_TABLE)}
    found: list[Problem] = []
    for expected in _CONTRACT.columns:
        column = columns.get(expected.name)
        where = f"table {STATUS_TABLE}, column {expected.name}"
        wanted = _ddl(expected.type, dialect)
        if column is None:
            found.append(Problem(where, wanted, "no such column",
                                 f"ALTER TABLE {STATUS_TABLE} ADD COLUMN {expected.name} {wanted}"))
            continue
        found.extend(_type_problems(expected, column, where, dialect))
        if expected.nullable and not column["nullable"] and not _has_default(column):
            found.append(Problem(
                where, "NULL allowed", "NOT NULL",
                f"ALTER TABLE {STATUS_TABLE} ALTER COLUMN {expected.name} DROP NOT NULL",
            ))
        if expected.name in _FILLED_BY_DATABASE and not _fills_itself(column, inspector, dialect):
            found.append(Problem(where, "a value the database fills in (serial or identity)",
                                 "no default", _identity_fix(expected.name, dialect)))
    for name, column in columns.items():
        if name not in _CONTRACT.c and not column["nullable"] and not _has_default(column):
            found.append(Problem(
                f"table {STATUS_TABLE}, column {name}",
                "an extra column to be nullable or to have a default"
                " (celery-office does not write it)",
                "NOT NULL without a default",
                f"ALTER TABLE {STATUS_TABLE} ALTER COLUMN {name} DROP NOT NULL",
            ))
    if "agent_id" in columns and not _agent_id_unique(inspector):
        concurrently = " CONCURRENTLY" if dialect.name == "postgresql" else ""
        found.append(Problem(
            f"table {STATUS_TABLE}, column agent_id",
            "a unique index or unique constraint on (agent_id) alone"
            " (the UPSERT's conflict target)",
            "none",
            f"CREATE UNIQUE INDEX{concurrently} uq_{STATUS_TABLE}_agent_id"
            f" ON {STATUS_TABLE} (agent_id)",
        ))
    return found


def _ddl(type_: Any, dialect: Dialect) -> str:
    return str(type_.compile(dialect=dialect))


def _type_problems(
    expected: Any, column: ReflectedColumn, where: str, dialect: Dialect
) -> list[Problem]:
    """The column's type cannot hold what celery-office writes (PostgreSQL only: SQLite stores
    any value in any column and checks no length)."""
    if dialect.name != "postgresql":
        return []
    want, have = expected.type, column["type"]
    if isinstance(want, TypeDecorator):  # AwareDateTime: compare what it stores
        want = want.impl_instance
    if isinstance(want, Enum):
        if isinstance(have, ENUM):
            if have.name != STATUS_TYPE:
                return [Problem(where, f"enum type {STATUS_TYPE} (or text)",
                                f"enum type {have.name}",
                                f"ALTER TYPE {have.name} RENAME TO {STATUS_TYPE}")]
            return _enum_problems(list(have.enums), where)
        longest = max(map(len, _VALUES))
        if isinstance(have, String) and (have.length is None or have.length >= longest):
            return []  # native_enum=False: text holds every value
        return [_retype(where, f"{STATUS_TYPE} (or VARCHAR(7) or longer)", have, expected.name,
                        "VARCHAR(7)", dialect)]
    wanted = _ddl(want, dialect)
    if isinstance(want, String):
        if isinstance(have, String) and not isinstance(have, Enum):
            if have.length is None or have.length >= (want.length or 0):
                return []
            return [_retype(where, f"{wanted} or longer", have, expected.name, wanted, dialect)]
    elif isinstance(want, DateTime):
        if isinstance(have, DateTime) and have.timezone:
            return []
    elif isinstance(want, Integer):
        if isinstance(have, Integer) and not isinstance(have, SmallInteger):
            return []
    elif isinstance(want, Numeric):
        if isinstance(have, Numeric) and not isinstance(have, Integer):
            scale, integer_digits = want.scale or 0, (want.precision or 0) - (want.scale or 0)
            if have.precision is None or (
                (have.scale or 0) >= scale and have.precision - (have.scale or 0) >= integer_digits
            ):
                return []
    elif isinstance(want, JSON):
        if isinstance(have, JSONB):
            return []
    else:  # pragma: no cover - a contract column of a kind this module does not know
        raise TypeError(f"no rule for {expected.name}'s type {want!r}")
    return [_retype(where, wanted, have, expected.name, wanted, dialect)]


def _retype(
    where: str, expected: str, have: Any, name: str, target: str, dialect: Dialect
) -> Problem:
    return Problem(where, expected, _ddl(have, dialect),
                   f"ALTER TABLE {STATUS_TABLE} ALTER COLUMN {name} TYPE {target}"
                   f" USING {name}::{target}")


def _enum_problems(values: list[str], where: str) -> list[Problem]:
    missing = [value for value in _VALUES if value not in values]
    if not missing:
        return []  # extra values (a team's 'paused') are shown as they are
    fix = "; ".join(f"ALTER TYPE {STATUS_TYPE} ADD VALUE '{value}'" for value in missing)
    return [Problem(where, f"enum values {', '.join(_VALUES)}", ", ".join(values) or "no values",
                    fix)]


def _enum_values(connection: Connection) -> list[str] | None:
    """The labels of PostgreSQL's ``agentstatus`` type in the search path, or None if none."""
    if connection.dialect.name != "postgresql":
        return None
    inspector: Any = inspect(connection)  # PostgreSQL's inspector: it has get_enums()
    for enum in inspector.get_enums():
        if enum["name"] == STATUS_TYPE and enum["visible"]:
            return list(enum["labels"])
    return None


def _has_default(column: ReflectedColumn) -> bool:
    return (column.get("default") is not None or bool(column.get("identity"))
            or bool(column.get("computed")))


def _fills_itself(column: ReflectedColumn, inspector: Any, dialect: Dialect) -> bool:
    if _has_default(column):
        return True
    # SQLite: an INTEGER PRIMARY KEY is the rowid, numbered by the database.
    primary = inspector.get_pk_constraint(STATUS_TABLE)["constrained_columns"]
    return dialect.name == "sqlite" and primary == [column["name"]]


def _identity_fix(name: str, dialect: Dialect) -> str:
    if dialect.name == "postgresql":
        return (f"ALTER TABLE {STATUS_TABLE} ALTER COLUMN {name}"
                " ADD GENERATED BY DEFAULT AS IDENTITY")
    return f"recreate {STATUS_TABLE} with {name} INTEGER PRIMARY KEY"


def _agent_id_unique(inspector: Any) -> bool:
    """ON CONFLICT (agent_id) needs a unique index or constraint on exactly that column, whole
    (a partial index does not count)."""
    if inspector.get_pk_constraint(STATUS_TABLE)["constrained_columns"] == ["agent_id"]:
        return True
    for constraint in inspector.get_unique_constraints(STATUS_TABLE):
        if constraint["column_names"] == ["agent_id"]:
            return True
    for index in inspector.get_indexes(STATUS_TABLE):
        options = index.get("dialect_options", {})
        partial = options.get("postgresql_where") or options.get("sqlite_where")
        if index["unique"] and index["column_names"] == ["agent_id"] and not partial:
            return True
    return False
