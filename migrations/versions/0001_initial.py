"""Initial schema: the dashboard's table, the worker's bookkeeping and the effective-status view.

Revision ID: 0001_initial
Revises:
Create Date: 2025-11-25

Revisions are frozen snapshots: spell out names, types and lengths here instead of importing
them from ``celery_office.db.models``, which will move on while this file must not.

``office_agent_status_effective`` is for readers that cannot trust a row's ``status`` alone: an
agent whose worker died never writes "offline", so the view derives it from ``last_activity``
being older than 300 seconds by the database clock (never a reader's clock).

Adoption: ``office_agent_status`` (and its ``agentstatus`` type) often exists already, made by
the ADOLF spec's own model. :mod:`celery_office.db.contract` has checked it before this runs; here
the table and the type are created only when absent, and an existing table is not touched
(no index added, no column changed): the side tables and the view are built around it. Offline
(``--sql``) output is for an empty database and creates everything.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql.named_types import CreateEnumType, DropEnumType

revision: str = "0001_initial"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VIEW = "office_agent_status_effective"
OFFLINE_AFTER_SECONDS = 300

# One named type shared by two tables, created by upgrade() itself when absent (create_type=False:
# not by create_table); SQLite stores VARCHAR(7).
agentstatus = sa.Enum("ok", "warning", "error", "offline", name="agentstatus").with_variant(
    postgresql.ENUM("ok", "warning", "error", "offline", name="agentstatus", create_type=False),
    "postgresql",
)
agentstatus_type = postgresql.ENUM("ok", "warning", "error", "offline", name="agentstatus")
json_document = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
aware_datetime = sa.DateTime(timezone=True)

STATUS_COLUMNS = (
    "id, agent_id, department, name, brand, status, last_activity, task, metrics, "
    "salary_equivalent, fte_coefficient, created_at, updated_at"
)

# SQLite keeps timestamps as UTC text 'YYYY-MM-DD HH:MM:SS.ffffff', which compares as text;
# strftime's %f gives milliseconds, padded here to the same six digits.
STALE_BEFORE = {
    "postgresql": f"now() - interval '{OFFLINE_AFTER_SECONDS} seconds'",
    "sqlite": f"strftime('%Y-%m-%d %H:%M:%f000', 'now', '-{OFFLINE_AFTER_SECONDS} seconds')",
}
# An untyped literal: a CASE takes the type of its other branch, the status column's, whether
# that is agentstatus or the text of an adopted table stored with native_enum=False.
OFFLINE = "'offline'"
# Adopting takes a brief lock on the dashboard's table (the foreign key of office_agent_outcome):
# give up rather than queue the dashboard's writers behind a long transaction of its own.
ADOPTION_LOCK_TIMEOUT = "5s"


def _existing() -> tuple[bool, bool]:
    """Whether office_agent_status and PostgreSQL's agentstatus type already exist (never in
    offline mode, whose SQL is for an empty database)."""
    if op.get_context().as_sql:
        return False, False
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    has_type = bind.dialect.name == "postgresql" and any(
        enum["name"] == "agentstatus" and enum["visible"] for enum in inspector.get_enums()
    )
    return inspector.has_table("office_agent_status"), has_type


def upgrade() -> None:
    dialect = op.get_context().dialect.name
    has_table, has_type = _existing()
    if dialect == "postgresql" and not has_type:
        op.execute(CreateEnumType(agentstatus_type))
    if dialect == "postgresql" and has_table:
        op.execute(f"SET LOCAL lock_timeout = '{ADOPTION_LOCK_TIMEOUT}'")
    op.create_table(
        "office_agent_run",
        sa.Column("task_id", sa.String(length=255), nullable=False),
        sa.Column("agent_id", sa.String(length=100), nullable=False),
        sa.Column("node_name", sa.String(length=255), nullable=True),
        sa.Column("task", sa.String(length=255), nullable=True),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_office_agent_run")),
    )
    op.create_index(
        op.f("ix_office_agent_run_agent_id"), "office_agent_run", ["agent_id"], unique=False
    )
    op.create_index(
        op.f("ix_office_agent_run_node_name"), "office_agent_run", ["node_name"], unique=False
    )

    if not has_table:
        op.create_table(
            "office_agent_status",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("agent_id", sa.String(length=100), nullable=False),
            sa.Column("department", sa.String(length=50), nullable=False),
            sa.Column("name", sa.String(length=100), nullable=False),
            sa.Column("brand", sa.String(length=20), nullable=True),
            sa.Column("status", agentstatus, nullable=False),
            sa.Column("last_activity", aware_datetime, nullable=True),
            sa.Column("task", sa.String(length=255), nullable=True),
            sa.Column("metrics", json_document, nullable=True),
            sa.Column("salary_equivalent", sa.Integer(), nullable=True),
            sa.Column("fte_coefficient", sa.Numeric(precision=3, scale=2), nullable=True),
            sa.Column("created_at", aware_datetime, nullable=True),
            sa.Column("updated_at", aware_datetime, nullable=True),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_office_agent_status")),
        )
        op.create_index(
            op.f("ix_office_agent_status_agent_id"),
            "office_agent_status",
            ["agent_id"],
            unique=True,
        )
        op.create_index(
            op.f("ix_office_agent_status_brand"), "office_agent_status", ["brand"], unique=False
        )
        op.create_index(
            op.f("ix_office_agent_status_department"),
            "office_agent_status",
            ["department"],
            unique=False,
        )

    op.create_table(
        "office_worker",
        sa.Column("node_name", sa.String(length=255), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("agents", json_document, nullable=True),
        sa.Column("started_at", aware_datetime, nullable=True),
        sa.Column("last_seen", aware_datetime, nullable=True),
        sa.Column("stopped_at", aware_datetime, nullable=True),
        sa.PrimaryKeyConstraint("node_name", name=op.f("pk_office_worker")),
    )
    op.create_index(
        op.f("ix_office_worker_last_seen"), "office_worker", ["last_seen"], unique=False
    )

    op.create_table(
        "office_agent_outcome",
        sa.Column("agent_id", sa.String(length=100), nullable=False),
        sa.Column("finished_at", sa.Float(), server_default=sa.text("0"), nullable=False),
        sa.Column("status", agentstatus, nullable=False),
        sa.Column("task", sa.String(length=255), nullable=True),
        sa.Column("metrics_at", sa.Float(), server_default=sa.text("0"), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["office_agent_status.agent_id"],
            name=op.f("fk_office_agent_outcome_agent_id_office_agent_status"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("agent_id", name=op.f("pk_office_agent_outcome")),
    )

    op.execute(
        f"CREATE VIEW {VIEW} AS\n"
        f"SELECT {STATUS_COLUMNS},\n"
        f"    CASE WHEN last_activity IS NULL OR last_activity < {STALE_BEFORE[dialect]}\n"
        f"        THEN {OFFLINE} ELSE status END AS effective_status\n"
        f"FROM office_agent_status"
    )


def downgrade() -> None:
    op.execute(f"DROP VIEW {VIEW}")
    op.drop_table("office_agent_outcome")
    op.drop_index(op.f("ix_office_worker_last_seen"), table_name="office_worker")
    op.drop_table("office_worker")
    op.drop_index(op.f("ix_office_agent_status_department"), table_name="office_agent_status")
    op.drop_index(op.f("ix_office_agent_status_brand"), table_name="office_agent_status")
    op.drop_index(op.f("ix_office_agent_status_agent_id"), table_name="office_agent_status")
    op.drop_table("office_agent_status")
    op.drop_index(op.f("ix_office_agent_run_node_name"), table_name="office_agent_run")
    op.drop_index(op.f("ix_office_agent_run_agent_id"), table_name="office_agent_run")
    op.drop_table("office_agent_run")
    # drop_table leaves a named PostgreSQL type behind; without this a second upgrade fails.
    if op.get_context().dialect.name == "postgresql":
        op.execute(DropEnumType(agentstatus_type))
