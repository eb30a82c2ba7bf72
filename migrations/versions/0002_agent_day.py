"""Each agent's day in numbers: the table ``office_agent_day`` and the view ``office_agent_day_view``.

Revision ID: 0002_agent_day
Revises: 0001_initial
Create Date: 2026-11-25

Frozen like every revision: names, types and lengths are spelled out here.

Why a table of its own: the counters are summed by every writer in its batched transaction
(``runs = runs + excluded.runs``), one row per agent and day in the app's ``timezone``; the
dashboard's ``office_agent_status`` keeps exactly the spec's columns. No foreign key: adding
one would lock the dashboard's table, and an agent's numbers do not depend on its row.
The view adds department, name and brand, so a dashboard reads the numbers with plain SQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_agent_day"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "office_agent_day"
VIEW = "office_agent_day_view"
aware_datetime = sa.DateTime(timezone=True)
COUNTERS = ("runs", "succeeded", "failed", "retried", "revoked")


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("agent_id", sa.String(length=100), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        *(
            sa.Column(name, sa.Integer(), server_default=sa.text("0"), nullable=False)
            for name in COUNTERS
        ),
        sa.Column("runtime_s", sa.Float(), server_default=sa.text("0"), nullable=False),
        sa.Column("max_runtime_s", sa.Float(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_success_at", aware_datetime, nullable=True),
        sa.Column("last_failure_at", aware_datetime, nullable=True),
        sa.PrimaryKeyConstraint("agent_id", "day", name=op.f("pk_office_agent_day")),
    )
    # retention deletes by day alone, which the primary key (agent first) cannot serve
    op.create_index(op.f("ix_office_agent_day_day"), TABLE, ["day"], unique=False)
    op.execute(
        f"CREATE VIEW {VIEW} AS\n"
        "SELECT d.agent_id, s.department, s.name, s.brand, d.day, d.runs, d.succeeded,\n"
        "    d.failed, d.retried, d.revoked, d.runtime_s, d.max_runtime_s,\n"
        "    d.last_success_at, d.last_failure_at\n"
        f"FROM {TABLE} d\n"
        "JOIN office_agent_status s ON s.agent_id = d.agent_id"
    )


def downgrade() -> None:
    op.execute(f"DROP VIEW {VIEW}")
    op.drop_index(op.f("ix_office_agent_day_day"), table_name=TABLE)
    op.drop_table(TABLE)
