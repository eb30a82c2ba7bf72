"""Each agent's timeline, recorded by triggers on ``office_agent_status``, and the outbox of
the notifications built on it.

Revision ID: 0008_timeline
Revises: 0007_writers
Create Date: 2026-12-04

Why triggers: every writer of the dashboard's table (a worker's batch, heartbeat, registration
and retirement, the reporter, the host's own code) then records each change of status in the
same transaction, and notifications read every state an agent entered, not the one a look
happens to find. The table itself gets no column: only triggers, which an adopted table gets
too. A period is recorded when the status changes, or, for a warning, its alert (overlong
before missed), or, for ``ok``, whether it began with a successful end (``last_run_ok``: the
task is empty, or the last finished run succeeded) rather than with a new run after a failure,
and, for a run in progress, whether the last finished run failed (alert ``error``, the task
then the failure's text): a failure while another run of the agent goes on, or whose batch
also held the next run's start, never shows ``error`` in the row, yet the agent failed. So the
update trigger also runs while a run is in progress: the outcome may change under an
unchanged status and task.
The outbox: an event once per announcement, and its delivery per target with tries, next try
and a lease. Frozen like every revision: names, types and lengths are spelled out here.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_timeline"
down_revision: str | Sequence[str] | None = "0007_writers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The period a row is in, spelled once per dialect; {row} is NEW in a trigger, s in the seed.
ALERT = ("CASE WHEN {row}.status = 'warning' THEN (SELECT a.kind FROM office_agent_alert a "
         "WHERE a.agent_id = {row}.agent_id AND a.kind IN ('overlong', 'missed') "
         "ORDER BY a.kind = 'overlong' DESC, a.since IS NULL, a.since LIMIT 1) "
         "WHEN {row}.status = 'ok' AND {row}.task IS NOT NULL THEN (SELECT 'error' FROM "
         "office_agent_outcome o WHERE o.agent_id = {row}.agent_id AND o.status = 'error') END")
TASK = ("CASE WHEN {row}.status = 'ok' AND {row}.task IS NOT NULL AND EXISTS (SELECT 1 FROM "
        "office_agent_outcome o WHERE o.agent_id = {row}.agent_id AND o.status = 'error') "
        "THEN (SELECT o.task FROM office_agent_outcome o WHERE o.agent_id = {row}.agent_id) "
        "ELSE {row}.task END")
LAST_RUN_OK = ("({row}.status = 'ok' AND ({row}.task IS NULL OR EXISTS (SELECT 1 FROM "
               "office_agent_outcome o WHERE o.agent_id = {row}.agent_id AND o.status = 'ok' "
               "AND o.finished_at > 0)))")
SQLITE_NOW = "strftime('%Y-%m-%d %H:%M:%f000', 'now')"

PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION office_record_period() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    st text := NEW.status::text;
    al text := {ALERT.format(row="NEW")};
    good boolean := {LAST_RUN_OK.format(row="NEW")};
BEGIN
    UPDATE office_agent_timeline SET until = now()
    WHERE agent_id = NEW.agent_id AND until IS NULL
      AND NOT (status = st AND alert IS NOT DISTINCT FROM al AND last_run_ok = good);
    INSERT INTO office_agent_timeline (agent_id, status, alert, last_run_ok, task, since)
    SELECT NEW.agent_id, st, al, good, {TASK.format(row="NEW")}, now()
    WHERE NOT EXISTS (SELECT 1 FROM office_agent_timeline
                      WHERE agent_id = NEW.agent_id AND until IS NULL);
    RETURN NULL;
END
$$
"""
PG_TRIGGERS = [
    "CREATE TRIGGER office_agent_timeline_insert AFTER INSERT ON office_agent_status "
    "FOR EACH ROW EXECUTE FUNCTION office_record_period()",
    "CREATE TRIGGER office_agent_timeline_update AFTER UPDATE OF status, task "
    "ON office_agent_status FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status "
    "OR OLD.task IS DISTINCT FROM NEW.task OR (NEW.status = 'ok' AND NEW.task IS NOT NULL)) "
    "EXECUTE FUNCTION office_record_period()",
]


def _sqlite_trigger(name: str, event: str, when: str) -> str:
    alert, good = ALERT.format(row="NEW"), LAST_RUN_OK.format(row="NEW")
    return f"""
CREATE TRIGGER {name} AFTER {event} ON office_agent_status FOR EACH ROW {when}
BEGIN
    UPDATE office_agent_timeline SET until = {SQLITE_NOW}
    WHERE agent_id = NEW.agent_id AND until IS NULL
      AND NOT (status = NEW.status AND alert IS ({alert}) AND last_run_ok = ({good}));
    INSERT INTO office_agent_timeline (agent_id, status, alert, last_run_ok, task, since)
    SELECT NEW.agent_id, NEW.status, {alert}, {good}, {TASK.format(row="NEW")}, {SQLITE_NOW}
    WHERE NOT EXISTS (SELECT 1 FROM office_agent_timeline
                      WHERE agent_id = NEW.agent_id AND until IS NULL);
END
"""


SQLITE_TRIGGERS = [
    _sqlite_trigger("office_agent_timeline_insert", "INSERT", ""),
    _sqlite_trigger("office_agent_timeline_update", "UPDATE OF status, task",
                    "WHEN OLD.status IS NOT NEW.status OR OLD.task IS NOT NEW.task "
                    "OR (NEW.status = 'ok' AND NEW.task IS NOT NULL)"),
]


def _seed(dialect: str) -> str:
    """One open period per agent already in the table, since its last activity."""
    status = "s.status::text" if dialect == "postgresql" else "s.status"
    now = "now()" if dialect == "postgresql" else SQLITE_NOW
    return (f"INSERT INTO office_agent_timeline (agent_id, status, alert, last_run_ok, task, "
            f"since) SELECT s.agent_id, {status}, {ALERT.format(row='s')}, "
            f"{LAST_RUN_OK.format(row='s')}, {TASK.format(row='s')}, "
            f"coalesce(s.last_activity, {now}) "
            "FROM office_agent_status s")


def upgrade() -> None:
    dialect = op.get_context().dialect.name
    serial = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "office_agent_timeline",
        sa.Column("id", serial, autoincrement=True, nullable=False),
        sa.Column("agent_id", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("alert", sa.String(length=20), nullable=True),
        sa.Column("last_run_ok", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("task", sa.String(length=255), nullable=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_office_agent_timeline"),
    )
    op.create_index("ix_office_agent_timeline_agent_id_id", "office_agent_timeline",
                    ["agent_id", "id"])
    op.create_index("uq_office_agent_timeline_open", "office_agent_timeline", ["agent_id"],
                    unique=True, postgresql_where=sa.text("until IS NULL"),
                    sqlite_where=sa.text("until IS NULL"))
    op.create_table(
        "office_notify_event",
        sa.Column("id", serial, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("agent_id", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_office_notify_event"),
    )
    op.create_index("ix_office_notify_event_key", "office_notify_event", ["key"], unique=True)
    op.create_index("ix_office_notify_event_created_at", "office_notify_event", ["created_at"])
    op.create_table(
        "office_notify_delivery",
        sa.Column("event_id", serial, nullable=False),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=10), server_default=sa.text("'pending'"),
                  nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_try_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("leased_by", sa.String(length=100), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"], ["office_notify_event.id"],
            name="fk_office_notify_delivery_event_id_office_notify_event", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("event_id", "target", name="pk_office_notify_delivery"),
    )
    op.create_index("ix_office_notify_delivery_due", "office_notify_delivery",
                    ["target", "state", "next_try_at"])
    op.create_table(
        "office_notify_target",
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("target", name="pk_office_notify_target"),
    )
    with op.batch_alter_table("office_agent_notice") as batch:
        batch.add_column(sa.Column("period_id", sa.BigInteger(), nullable=True))
    op.execute(_seed(dialect))
    if dialect == "postgresql":
        op.execute(PG_FUNCTION)
        for trigger in PG_TRIGGERS:
            op.execute(trigger)
    else:
        for trigger in SQLITE_TRIGGERS:
            op.execute(trigger)


def downgrade() -> None:
    dialect = op.get_context().dialect.name
    op.execute("DROP TRIGGER office_agent_timeline_update" +
               (" ON office_agent_status" if dialect == "postgresql" else ""))
    op.execute("DROP TRIGGER office_agent_timeline_insert" +
               (" ON office_agent_status" if dialect == "postgresql" else ""))
    if dialect == "postgresql":
        op.execute("DROP FUNCTION office_record_period()")
    with op.batch_alter_table("office_agent_notice") as batch:
        batch.drop_column("period_id")
    op.drop_table("office_notify_target")
    op.drop_index("ix_office_notify_delivery_due", table_name="office_notify_delivery")
    op.drop_table("office_notify_delivery")
    op.drop_index("ix_office_notify_event_created_at", table_name="office_notify_event")
    op.drop_index("ix_office_notify_event_key", table_name="office_notify_event")
    op.drop_table("office_notify_event")
    op.drop_index("uq_office_agent_timeline_open", table_name="office_agent_timeline")
    op.drop_index("ix_office_agent_timeline_agent_id_id", table_name="office_agent_timeline")
    op.drop_table("office_agent_timeline")
