"""Missed schedules and overlong runs: alerts every writer reads, and the last start of each task.

Revision ID: 0003_alerts
Revises: 0002_agent_day
Create Date: 2026-11-25

Frozen like every revision: names, types and lengths are spelled out here.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_alerts"
down_revision: str | Sequence[str] | None = "0002_agent_day"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

aware_datetime = sa.DateTime(timezone=True)


def _agent_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["agent_id"], ["office_agent_status.agent_id"],
        name=f"fk_{table}_agent_id_office_agent_status", ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "office_agent_alert",
        sa.Column("agent_id", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("node_name", sa.String(length=255), nullable=True),
        sa.Column("task", sa.String(length=255), nullable=True),
        sa.Column("since", aware_datetime, nullable=True),
        _agent_fk("office_agent_alert"),
        sa.PrimaryKeyConstraint("agent_id", "kind", name="pk_office_agent_alert"),
    )
    op.create_table(
        "office_agent_start",
        sa.Column("agent_id", sa.String(length=100), nullable=False),
        sa.Column("task_name", sa.String(length=255), nullable=False),
        sa.Column("started_at", aware_datetime, nullable=False),
        _agent_fk("office_agent_start"),
        sa.PrimaryKeyConstraint("agent_id", "task_name", name="pk_office_agent_start"),
    )


def downgrade() -> None:
    op.drop_table("office_agent_start")
    op.drop_table("office_agent_alert")
