"""One alert per subject: several missed schedules (or overlong runs) of one agent at once.

Revision ID: 0004_alert_subjects
Revises: 0003_alerts
Create Date: 2026-12-04

The key of ``office_agent_alert`` was (agent, kind): a second missed schedule of an agent hid
behind the first, and showed only at a later judgement once the first was cured. The key is now
(agent, kind, subject). Going down keeps, of each (agent, kind), the alert set first.

Frozen like every revision: names are spelled out here.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_alert_subjects"
down_revision: str | Sequence[str] | None = "0003_alerts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "office_agent_alert"
KEY = "pk_office_agent_alert"


def _table(*key: str) -> sa.Table:
    """The table as it stands with primary key ``key``: SQLite's batch mode copies it from this
    (no reflection, so the plain SQL script can be rendered offline too)."""
    return sa.Table(
        TABLE, sa.MetaData(),
        sa.Column("agent_id", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("node_name", sa.String(length=255), nullable=True),
        sa.Column("task", sa.String(length=255), nullable=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["office_agent_status.agent_id"],
            name="fk_office_agent_alert_agent_id_office_agent_status", ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(*key, name=KEY),
    )


def _rekey(old: tuple[str, ...], new: tuple[str, ...]) -> None:
    with op.batch_alter_table(TABLE, copy_from=_table(*old), recreate="auto") as batch:
        batch.drop_constraint(KEY, type_="primary")
        batch.create_primary_key(KEY, list(new))


def upgrade() -> None:
    _rekey(("agent_id", "kind"), ("agent_id", "kind", "subject"))


def downgrade() -> None:
    op.execute(
        f"DELETE FROM {TABLE} WHERE EXISTS (SELECT 1 FROM {TABLE} AS first "
        f"WHERE first.agent_id = {TABLE}.agent_id AND first.kind = {TABLE}.kind "
        f"AND (first.since < {TABLE}.since OR (first.since = {TABLE}.since "
        f"AND first.subject < {TABLE}.subject)))"
    )
    _rekey(("agent_id", "kind", "subject"), ("agent_id", "kind"))
