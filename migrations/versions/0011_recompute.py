"""One home for an agent's row on PostgreSQL: the function ``office_recompute``, which every path
calls (a flush, a heartbeat, a registration, a retirement, an alert).

Revision ID: 0011_recompute
Revises: 0010_writer_waiting
Create Date: 2026-12-04

Why: the rule that makes an agent's row from its runs in progress, its last outcome and its
alerts lived in the flush's function (revision 0005) and again in Python, which heartbeats,
registrations, retirements and alerts ran on PostgreSQL too. Two homes drift apart (they broke
ties among equal start times differently until a property test caught it). Now the statement
is ``office_recompute(ids, quiet)``; ``office_apply_changes`` calls it for the agents a flush
touched, and the other paths call it for the agents they changed (``celery_office.db.agent_rows``).
Python keeps the rule only for SQLite (``celery_office.core.state``). ``quiet``: agents whose
``last_activity`` is left as it is (correcting their row is no sign of life).

The rule is unchanged: an overlong run, a missed schedule (of each kind the alert set first:
``since NULLS LAST, subject``), the newest run in progress (of equal starts the smallest task
id), the last outcome, idle. ``office_apply_changes`` is otherwise revision 0005's, less its
flush-number block, unused since revision 0007. Frozen like every revision.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011_recompute"
down_revision: str | Sequence[str] | None = "0010_writer_waiting"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# the row rule, for the agents of ``{ids}``; ``{last_activity}``: what that column becomes
ROW_RULE = r"""
    UPDATE office_agent_status s
    SET status = (jsonb_populate_record(NULL::office_agent_status,
                                        jsonb_build_object('status', v.status))).status,
        task = v.task, updated_at = now(),
        last_activity = {last_activity}
    FROM (
        SELECT t.agent_id,
            CASE WHEN ov.present OR mi.present THEN 'warning'
                 WHEN r.present THEN 'ok'
                 WHEN o.status IS NULL OR o.status = 'ok' THEN 'ok'
                 ELSE o.status::text END AS status,
            CASE WHEN ov.present THEN ov.task
                 WHEN mi.present THEN mi.task
                 WHEN r.present THEN r.task
                 WHEN o.status IS NULL OR o.status = 'ok' THEN NULL
                 ELSE o.task END AS task
        FROM unnest({ids}) AS t(agent_id)
        LEFT JOIN LATERAL (
            SELECT true AS present, a.task FROM office_agent_alert a
            WHERE a.agent_id = t.agent_id AND a.kind = 'overlong'
            ORDER BY a.since NULLS LAST, a.subject LIMIT 1) ov ON true
        LEFT JOIN LATERAL (
            SELECT true AS present, a.task FROM office_agent_alert a
            WHERE a.agent_id = t.agent_id AND a.kind = 'missed'
            ORDER BY a.since NULLS LAST, a.subject LIMIT 1) mi ON true
        LEFT JOIN LATERAL (
            SELECT true AS present, x.task FROM office_agent_run x
            WHERE x.agent_id = t.agent_id
            ORDER BY x.started_at DESC, x.task_id LIMIT 1) r ON true
        LEFT JOIN office_agent_outcome o ON o.agent_id = t.agent_id
    ) AS v
    WHERE s.agent_id = v.agent_id;
"""

RECOMPUTE = r"""
CREATE OR REPLACE FUNCTION office_recompute(ids text[], quiet text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    -- the one lock order of every writer (a caller that holds the locks waits for nothing)
    PERFORM 1 FROM office_agent_status WHERE agent_id = ANY(ids) ORDER BY agent_id FOR UPDATE;
""" + ROW_RULE.format(
    ids="ids",
    last_activity="CASE WHEN s.agent_id = ANY(quiet) THEN s.last_activity ELSE now() END",
) + r"""END
$$
"""

# revision 0005's flush, less the flush numbers (revision 0007 took them out of it), up to
# the row of every agent it touched
APPLY_CHANGES = r"""
CREATE OR REPLACE FUNCTION office_apply_changes(batch jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    node text := batch->>'node';
    touched text[];
BEGIN
    -- rows of the agents (new, or deleted by hand), before any lock: writers never deadlock
    INSERT INTO office_agent_status (agent_id, department, name, brand, salary_equivalent,
                                     fte_coefficient, status, task, metrics, last_activity,
                                     created_at, updated_at)
    SELECT r.agent_id, r.department, r.name, r.brand, r.salary_equivalent, r.fte_coefficient,
           r.status, NULL, r.metrics, now(), now(), now()
    FROM jsonb_populate_recordset(
        NULL::office_agent_status,
        (SELECT coalesce(jsonb_agg(a || '{"status": "ok", "metrics": {}}'::jsonb), '[]')
         FROM jsonb_array_elements(batch->'agents') a)
    ) AS r
    ORDER BY r.agent_id
    ON CONFLICT (agent_id) DO NOTHING;

    -- the one lock order of every writer: the agents' rows, by agent id
    touched := ARRAY(SELECT DISTINCT t FROM jsonb_array_elements_text(batch->'touched') t
                     ORDER BY 1);
    PERFORM 1 FROM office_agent_status WHERE agent_id = ANY(touched)
        ORDER BY agent_id FOR UPDATE;

    -- runs: the ended go, the started (or retold) come, keeping when they started
    DELETE FROM office_agent_run
    WHERE task_id IN (SELECT r->>'id' FROM jsonb_array_elements(batch->'runs') r
                      WHERE (r->>'ended')::boolean);
    INSERT INTO office_agent_run AS run (task_id, agent_id, node_name, task, started_at)
    SELECT r->>'id', r->>'agent', node, r->>'task', (r->>'at')::double precision
    FROM jsonb_array_elements(batch->'runs') r
    WHERE NOT (r->>'ended')::boolean
    ORDER BY 1
    ON CONFLICT (task_id) DO UPDATE SET task = EXCLUDED.task, node_name = EXCLUDED.node_name;

    -- starts of watched tasks (missed schedules), and the alerts a batch cures
    INSERT INTO office_agent_start AS st (agent_id, task_name, started_at)
    SELECT s->>'agent', left(s->>'task', 255), now()
    FROM jsonb_array_elements(batch->'started') s
    WHERE s->>'agent' = ANY(touched)
    ORDER BY 1, 2
    ON CONFLICT (agent_id, task_name) DO UPDATE SET started_at = EXCLUDED.started_at;
    DELETE FROM office_agent_alert a
    WHERE a.agent_id = ANY(touched) AND (
        (a.kind = 'overlong' AND a.subject IN (
            SELECT r->>'id' FROM jsonb_array_elements(batch->'runs') r
            WHERE (r->>'ended')::boolean))
        OR (a.kind = 'missed' AND EXISTS (
            SELECT 1 FROM jsonb_array_elements(batch->'started') s
            WHERE s->>'agent' = a.agent_id AND (s->>'task') ~ office_glob(a.subject))));

    -- the newest outcome and the newest metrics win (an equal time: this, the later writer)
    INSERT INTO office_agent_outcome AS o (agent_id, finished_at, status, task, metrics_at)
    SELECT x->>'agent', (x->>'at')::double precision, (x->>'status')::agentstatus,
           x->>'task', 0
    FROM jsonb_array_elements(batch->'outcomes') x
    WHERE x->>'agent' = ANY(touched)
    ORDER BY 1
    ON CONFLICT (agent_id) DO UPDATE
        SET finished_at = EXCLUDED.finished_at, status = EXCLUDED.status, task = EXCLUDED.task
        WHERE o.finished_at <= EXCLUDED.finished_at;
    WITH given AS (
        SELECT x->>'agent' AS agent_id, (x->>'at')::double precision AS at, x->'metrics' AS metrics
        FROM jsonb_array_elements(batch->'metrics') x
        WHERE x->>'agent' = ANY(touched)
    ), newer AS (
        INSERT INTO office_agent_outcome AS o (agent_id, finished_at, status, task, metrics_at)
        SELECT agent_id, 0, 'ok', NULL, at FROM given ORDER BY 1
        ON CONFLICT (agent_id) DO UPDATE SET metrics_at = EXCLUDED.metrics_at
            WHERE o.metrics_at <= EXCLUDED.metrics_at
        RETURNING o.agent_id
    )
    UPDATE office_agent_status s
    SET metrics = (jsonb_populate_record(NULL::office_agent_status,
                                         jsonb_build_object('metrics', g.metrics))).metrics
    FROM given g JOIN newer USING (agent_id)
    WHERE s.agent_id = g.agent_id;

    -- the day's numbers, added (rows locked after the status rows, like every writer)
    INSERT INTO office_agent_day AS d (agent_id, day, runs, succeeded, failed, retried,
                                       revoked, runtime_s, max_runtime_s, last_success_at,
                                       last_failure_at)
    SELECT c->>'agent', (c->>'day')::date, (c->>'runs')::integer,
           (c->>'succeeded')::integer, (c->>'failed')::integer, (c->>'retried')::integer,
           (c->>'revoked')::integer, (c->>'runtime_s')::double precision,
           (c->>'max_runtime_s')::double precision,
           to_timestamp((c->>'last_success_at')::double precision),
           to_timestamp((c->>'last_failure_at')::double precision)
    FROM jsonb_array_elements(batch->'counts') c
    ORDER BY 1, 2
    ON CONFLICT (agent_id, day) DO UPDATE SET
        runs = d.runs + EXCLUDED.runs,
        succeeded = d.succeeded + EXCLUDED.succeeded,
        failed = d.failed + EXCLUDED.failed,
        retried = d.retried + EXCLUDED.retried,
        revoked = d.revoked + EXCLUDED.revoked,
        runtime_s = d.runtime_s + EXCLUDED.runtime_s,
        max_runtime_s = GREATEST(d.max_runtime_s, EXCLUDED.max_runtime_s),
        last_success_at = GREATEST(d.last_success_at, EXCLUDED.last_success_at),
        last_failure_at = GREATEST(d.last_failure_at, EXCLUDED.last_failure_at);

"""


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute(RECOMPUTE)
        op.execute(APPLY_CHANGES + r"""    PERFORM office_recompute(touched, '{}'::text[]);
END
$$
""")


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute(APPLY_CHANGES + ROW_RULE.format(ids="touched", last_activity="now()")
                   + "END\n$$\n")
        op.execute("DROP FUNCTION office_recompute(text[], text[])")
