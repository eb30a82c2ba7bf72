"""What notifications last announced of each agent: the claims of `celery office serve --notify`.

Revision ID: 0006_notifications
Revises: 0005_apply_batch
Create Date: 2026-12-04

Frozen like every revision: names, types and lengths are spelled out here.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_notifications"
down_revision: str | Sequence[str] | None = "0005_apply_batch"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "office_agent_notice",
        sa.Column("agent_id", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["office_agent_status.agent_id"],
            name="fk_office_agent_notice_agent_id_office_agent_status", ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("agent_id", name="pk_office_agent_notice"),
    )


def downgrade() -> None:
    op.drop_table("office_agent_notice")
