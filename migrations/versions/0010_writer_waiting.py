"""What each writer has waiting to be written: the agents other workers' heartbeats leave alone.

Revision ID: 0010_writer_waiting
Revises: 0009_agent_totals
Create Date: 2026-12-04

Frozen like every revision: names, types and lengths are spelled out here.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010_writer_waiting"
down_revision: str | Sequence[str] | None = "0009_agent_totals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("office_writer") as batch:
        batch.add_column(sa.Column(
            "waiting", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True
        ))


def downgrade() -> None:
    with op.batch_alter_table("office_writer") as batch:
        batch.drop_column("waiting")
