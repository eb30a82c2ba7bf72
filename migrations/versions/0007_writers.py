"""Each start of a worker writes under a number the database hands out (``office_writer``), and
``office_apply_batch`` refuses aloud a flush it cannot place.

Revision ID: 0007_writers
Revises: 0006_notifications
Create Date: 2026-12-04

Why: revision 0005 numbered a worker's flushes from its start time and kept the last number on
the node name's row (``office_worker.flush_seq``), skipping in silence any number at or below
it. A worker restarted with its clock behind (a pod moved to another host, an NTP step at boot)
then wrote nothing for its whole life, and two live workers sharing one node name skipped each
other's flushes. Now every start of a writer takes a row of ``office_writer`` (an identity the
database hands out: it never goes backwards, whatever the clocks say) and numbers its flushes
from 1 under it. A flush sent again after a lost COMMIT (``resend``) whose number is already
there is skipped, as before: it landed once. Any other flush that cannot be placed (its writer's
row is gone, or its number is not after the writer's last) raises SQLSTATE ``OF001``: the
worker says so in one line and takes a new writer number.

The rules of a flush are unchanged: the function of revision 0005 is kept under the name
``office_apply_changes`` and called without the number. ``office_worker.flush_seq`` is no
longer written; it stays (SQLite before 3.35 cannot drop a column). Frozen like every revision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_writers"
down_revision: str | Sequence[str] | None = "0006_notifications"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPLY_BATCH = r"""
CREATE FUNCTION office_apply_batch(batch jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    writer bigint := (batch->>'writer')::bigint;
    seq bigint := (batch->>'seq')::bigint;
    last bigint;
BEGIN
    -- exactly once: a flush sent again after a lost COMMIT is skipped if it landed (no
    -- per cent sign in this text: the plain SQL script goes through drivers' parameters)
    IF writer IS NOT NULL THEN
        SELECT w.flush_seq INTO last FROM office_writer w WHERE w.writer_id = writer FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'OF001', MESSAGE =
                'writer ' || writer || ' of ' || coalesce(batch->>'node', '?')
                || ' is not in office_writer (its row was deleted)';
        END IF;
        IF seq <= last THEN
            IF coalesce((batch->>'resend')::boolean, false) THEN
                RETURN;
            END IF;
            RAISE EXCEPTION USING ERRCODE = 'OF001', MESSAGE =
                'flush ' || seq || ' of writer ' || writer || ' of '
                || coalesce(batch->>'node', '?') || ' is not after its last one, ' || last
                || ' (office_writer.flush_seq was changed, or another process writes as it)';
        END IF;
        UPDATE office_writer SET flush_seq = seq WHERE writer_id = writer;
    END IF;
    PERFORM office_apply_changes(batch - 'seq');
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "office_writer",
        sa.Column("writer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  primary_key=True, autoincrement=True),
        sa.Column("node_name", sa.String(length=255), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("flush_seq", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("writer_id", name="pk_office_writer"),
    )
    op.create_index("ix_office_writer_node_name", "office_writer", ["node_name"])
    if op.get_context().dialect.name == "postgresql":
        op.execute("ALTER FUNCTION office_apply_batch(jsonb) RENAME TO office_apply_changes")
        op.execute(APPLY_BATCH)


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP FUNCTION office_apply_batch(jsonb)")
        op.execute("ALTER FUNCTION office_apply_changes(jsonb) RENAME TO office_apply_batch")
    op.drop_index("ix_office_writer_node_name", table_name="office_writer")
    op.drop_table("office_writer")
