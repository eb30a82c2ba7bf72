"""``office_agent_status`` is the contract with the Office Dashboard: the model, and the real
table a migration builds, must be exactly the spec's."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    DateTime,
    Enum,
    Integer,
    Numeric,
    String,
    create_engine,
    inspect,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ENUM as PG_ENUM
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.pool import NullPool
from sqlalchemy.schema import CreateTable

from celery_office.core.statuses import AgentStatus
from celery_office.db.models import STATUS_TABLE, AwareDateTime, OfficeAgentStatus

TABLE = OfficeAgentStatus.__table__

# The spec's model, column by column: (name, type, length/precision, nullable)
SPEC_COLUMNS = [
    "id",
    "agent_id",
    "department",
    "name",
    "brand",
    "status",
    "last_activity",
    "task",
    "metrics",
    "salary_equivalent",
    "fte_coefficient",
    "created_at",
    "updated_at",
]
STRING_LENGTHS = {"agent_id": 100, "department": 50, "name": 100, "brand": 20, "task": 255}
NOT_NULL = {"id", "agent_id", "department", "name", "status"}
TIMESTAMPS = ("last_activity", "created_at", "updated_at")
STATUS_VALUES = ["ok", "warning", "error", "offline"]


# --------------------------------------------------------------------------- the model


def test_table_name_and_column_order() -> None:
    assert TABLE.name == STATUS_TABLE == "office_agent_status"
    assert list(TABLE.c.keys()) == SPEC_COLUMNS


def test_primary_key_is_integer_id() -> None:
    assert [c.name for c in TABLE.primary_key.columns] == ["id"]
    assert isinstance(TABLE.c.id.type, Integer)


@pytest.mark.parametrize(("column", "length"), sorted(STRING_LENGTHS.items()))
def test_string_columns_and_lengths(column: str, length: int) -> None:
    column_type = TABLE.c[column].type
    assert type(column_type) is String
    assert column_type.length == length


@pytest.mark.parametrize("column", ["salary_equivalent"])
def test_integer_columns(column: str) -> None:
    assert type(TABLE.c[column].type) is Integer


def test_fte_coefficient_is_numeric_3_2() -> None:
    column_type = TABLE.c.fte_coefficient.type
    assert isinstance(column_type, Numeric)
    assert (column_type.precision, column_type.scale) == (3, 2)
    assert column_type.asdecimal is True


@pytest.mark.parametrize("column", TIMESTAMPS)
def test_timestamps_are_datetime_with_time_zone(column: str) -> None:
    column_type = TABLE.c[column].type
    assert isinstance(column_type, AwareDateTime)
    assert isinstance(column_type.impl, DateTime)
    assert column_type.impl.timezone is True
    pg_impl = column_type.dialect_impl(postgresql.dialect())
    assert pg_impl.compile(dialect=postgresql.dialect()) == "TIMESTAMP WITH TIME ZONE"


def test_metrics_is_json_with_a_jsonb_variant_on_postgresql() -> None:
    column_type = TABLE.c.metrics.type
    assert isinstance(column_type, JSON)
    assert isinstance(column_type.dialect_impl(postgresql.dialect()), JSONB)
    sqlite_impl = column_type.dialect_impl(sqlite.dialect())
    assert isinstance(sqlite_impl, JSON) and not isinstance(sqlite_impl, JSONB)


def test_status_is_the_agentstatus_enum() -> None:
    column_type = TABLE.c.status.type
    assert isinstance(column_type, Enum)
    assert column_type.name == "agentstatus"
    assert column_type.enums == STATUS_VALUES
    assert column_type.enum_class is AgentStatus
    assert [s.value for s in AgentStatus] == STATUS_VALUES


@pytest.mark.parametrize("column", SPEC_COLUMNS)
def test_nullability(column: str) -> None:
    assert TABLE.c[column].nullable is (column not in NOT_NULL)


def test_defaults_are_the_specs() -> None:
    assert TABLE.c.status.default.arg is AgentStatus.ok
    assert TABLE.c.salary_equivalent.default.arg == 60000
    assert TABLE.c.fte_coefficient.default.arg == 1.0
    assert TABLE.c.metrics.default.is_callable
    assert TABLE.c.created_at.default is not None
    assert TABLE.c.updated_at.default is not None
    assert TABLE.c.updated_at.onupdate is not None


def test_agent_id_is_unique_and_indexed() -> None:
    column = TABLE.c.agent_id
    assert column.unique is True
    assert column.index is True
    unique = [i for i in TABLE.indexes if [c.name for c in i.columns] == ["agent_id"]]
    assert len(unique) == 1 and unique[0].unique is True


def test_indexes_are_agent_id_department_and_brand() -> None:
    indexes = {tuple(c.name for c in i.columns): i.unique for i in TABLE.indexes}
    assert indexes == {("agent_id",): True, ("department",): False, ("brand",): False}
    assert TABLE.c.department.index is True
    assert TABLE.c.brand.index is True


def test_postgresql_ddl_is_the_specs() -> None:
    ddl = str(CreateTable(TABLE).compile(dialect=postgresql.dialect()))
    lines = [line.strip().rstrip(",").strip() for line in ddl.strip().splitlines()[1:-1]]
    assert lines == [
        "id SERIAL NOT NULL",
        "agent_id VARCHAR(100) NOT NULL",
        "department VARCHAR(50) NOT NULL",
        "name VARCHAR(100) NOT NULL",
        "brand VARCHAR(20)",
        "status agentstatus NOT NULL",
        "last_activity TIMESTAMP WITH TIME ZONE",
        "task VARCHAR(255)",
        "metrics JSONB",
        "salary_equivalent INTEGER",
        "fte_coefficient NUMERIC(3, 2)",
        "created_at TIMESTAMP WITH TIME ZONE",
        "updated_at TIMESTAMP WITH TIME ZONE",
        "CONSTRAINT pk_office_agent_status PRIMARY KEY (id)",
    ]


# --------------------------------------------------------------------------- the migrated tables


@pytest.fixture
def inspected_pg(pg_url: str) -> Any:
    engine = create_engine(pg_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def test_real_postgresql_columns(inspected_pg: Any) -> None:
    inspector = inspect(inspected_pg)
    columns = {c["name"]: c for c in inspector.get_columns(STATUS_TABLE)}
    assert list(columns) == SPEC_COLUMNS

    assert isinstance(columns["metrics"]["type"], JSONB)
    status_type = columns["status"]["type"]
    assert isinstance(status_type, PG_ENUM)
    assert status_type.name == "agentstatus"
    assert list(status_type.enums) == STATUS_VALUES
    for name in TIMESTAMPS:
        assert isinstance(columns[name]["type"], DateTime)
        assert columns[name]["type"].timezone is True, name
    for name, length in STRING_LENGTHS.items():
        assert isinstance(columns[name]["type"], String)
        assert columns[name]["type"].length == length, name
    assert isinstance(columns["salary_equivalent"]["type"], Integer)
    assert isinstance(columns["id"]["type"], Integer)
    fte = columns["fte_coefficient"]["type"]
    assert isinstance(fte, Numeric) and (fte.precision, fte.scale) == (3, 2)
    for name in SPEC_COLUMNS:
        assert columns[name]["nullable"] is (name not in NOT_NULL), name


def test_real_postgresql_types_in_information_schema(inspected_pg: Any) -> None:
    rows = inspected_pg.execute(
        text(
            "SELECT column_name, data_type, udt_name, character_maximum_length, "
            "numeric_precision, numeric_scale, is_nullable "
            "FROM information_schema.columns WHERE table_name = :t ORDER BY ordinal_position"
        ),
        {"t": STATUS_TABLE},
    ).all()
    by_name = {row.column_name: row for row in rows}
    assert [row.column_name for row in rows] == SPEC_COLUMNS
    assert by_name["metrics"].udt_name == "jsonb"
    assert (by_name["status"].data_type, by_name["status"].udt_name) == (
        "USER-DEFINED",
        "agentstatus",
    )
    for name in TIMESTAMPS:
        assert by_name[name].data_type == "timestamp with time zone", name
    for name, length in STRING_LENGTHS.items():
        assert (by_name[name].data_type, by_name[name].character_maximum_length) == (
            "character varying",
            length,
        )
    fte = by_name["fte_coefficient"]
    assert (fte.numeric_precision, fte.numeric_scale) == (3, 2)
    assert by_name["salary_equivalent"].data_type == "integer"
    assert by_name["id"].data_type == "integer"
    assert {n for n, row in by_name.items() if row.is_nullable == "NO"} == NOT_NULL

    labels = inspected_pg.execute(
        text(
            "SELECT e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid "
            "WHERE t.typname = 'agentstatus' ORDER BY e.enumsortorder"
        )
    ).scalars().all()
    assert labels == STATUS_VALUES


def test_real_postgresql_indexes(inspected_pg: Any) -> None:
    inspector = inspect(inspected_pg)
    indexes = {tuple(i["column_names"]): bool(i["unique"])
               for i in inspector.get_indexes(STATUS_TABLE)}
    assert indexes == {("agent_id",): True, ("department",): False, ("brand",): False}
    assert inspector.get_pk_constraint(STATUS_TABLE)["constrained_columns"] == ["id"]


def test_real_sqlite_columns_and_indexes(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url, poolclass=NullPool)
    try:
        inspector = inspect(engine)
        columns = {c["name"]: c for c in inspector.get_columns(STATUS_TABLE)}
        assert list(columns) == SPEC_COLUMNS
        for name in SPEC_COLUMNS:
            assert columns[name]["nullable"] is (name not in NOT_NULL), name
        for name, length in STRING_LENGTHS.items():
            assert columns[name]["type"].length == length, name
        indexes = {tuple(i["column_names"]): bool(i["unique"])
                   for i in inspector.get_indexes(STATUS_TABLE)}
        assert indexes == {("agent_id",): True, ("department",): False, ("brand",): False}
    finally:
        engine.dispose()
