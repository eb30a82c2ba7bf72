"""What retention folded away of each agent's days, so the counters of /metrics never go down.

Revision ID: 0009_agent_totals
Revises: 0008_timeline
Create Date: 2026-12-04

Frozen like every revision: names, types and lengths are spelled out here.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_agent_totals"
down_revision: str | Sequence[str] | None = "0008_timeline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _count(name: str) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), server_default=sa.text("0"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "office_agent_total",
        sa.Column("agent_id", sa.String(length=100), nullable=False),
        *(_count(name) for name in ("runs", "succeeded", "failed", "retried", "revoked")),
        sa.Column("runtime_s", sa.Float(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("agent_id", name="pk_office_agent_total"),
    )


def downgrade() -> None:
    op.drop_table("office_agent_total")
