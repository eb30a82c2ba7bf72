"""A worker's flush in one round trip: the function ``office_apply_batch`` (PostgreSQL), and
each worker's flush sequence (``office_worker.flush_seq``), so a flush lands exactly once.

Revision ID: 0005_apply_batch
Revises: 0004_alert_subjects
Create Date: 2026-12-04

Why a function: a flush used to lock the agents it touched and hold those locks across about
seven round trips (lock, read, runs, starts, outcomes, day counts, status), with the worker's
Python between them. Past about 32 workers on one database the writers queued on the same
hot rows and the table fell seconds behind. The function does the same work inside the
database: the locks are held only as long as PostgreSQL itself takes, and the worker sends it,
with the transaction's timeouts, as one query (``celery_office.db.batches``).

Why a sequence: a connection cut after COMMIT was sent leaves the worker not knowing whether
its flush landed. It sends the same batch again with the same number; the function applies a
number at most once per worker, so the day counters neither lose nor double it.

The rules are those of ``celery_office.db.agent_rows`` and ``celery_office.db.batches`` (the
SQLite path runs them in Python): a newer outcome or metrics wins (an equal time too: the later
writer), runs in progress keep the time they started, the status follows the README's
precedence (an overlong run, a missed schedule, a run in progress, the last outcome). The tests
run every rule on both databases. Frozen like every revision: a change to the function is a new
revision that replaces it.

The row's rule, tie-breaks included, is stated once, in ``celery_office.core.state``, and the
Python there must agree with the SQL here exactly (heartbeats and registrations recompute rows
in Python on PostgreSQL too): of equal start times, the smallest task id (``ORDER BY
x.started_at DESC, x.task_id``); of alerts, ``since NULLS LAST, subject``; of outcomes and
metrics at the same instant, the later written. A later revision that changes one changes
``AgentState`` with it; tests/db/test_row_rule_property.py compares the two databases.

``office_glob(pattern)`` is Python's ``fnmatch`` pattern as a regular expression: a missed
schedule's task pattern is cured by a matching task's start.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_apply_batch"
down_revision: str | Sequence[str] | None = "0004_alert_subjects"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GLOB = r"""
CREATE OR REPLACE FUNCTION office_glob(pattern text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
    result text := '';
    i integer := 1;
    j integer;
    n integer := length(pattern);
    c text;
    inside text;
BEGIN
    WHILE i <= n LOOP
        c := substr(pattern, i, 1);
        i := i + 1;
        IF c = '*' THEN
            result := result || '.*';
        ELSIF c = '?' THEN
            result := result || '.';
        ELSIF c = '[' THEN
            j := i;
            IF j <= n AND substr(pattern, j, 1) = '!' THEN j := j + 1; END IF;
            IF j <= n AND substr(pattern, j, 1) = ']' THEN j := j + 1; END IF;
            WHILE j <= n AND substr(pattern, j, 1) <> ']' LOOP j := j + 1; END LOOP;
            IF j > n THEN
                result := result || '\[';
            ELSE
                inside := replace(substr(pattern, i, j - i), '\', '\\');
                i := j + 1;
                IF left(inside, 1) = '!' THEN
                    inside := '^' || substr(inside, 2);
                ELSIF left(inside, 1) = '^' THEN
                    inside := '\' || inside;
                END IF;
                result := result || '[' || inside || ']';
            END IF;
        ELSIF c ~ '[A-Za-z0-9_ ]' THEN
            result := result || c;
        ELSE
            result := result || '\' || c;
        END IF;
    END LOOP;
    RETURN '^(?:' || result || ')$';
END
$$
"""

APPLY_BATCH = r"""
CREATE OR REPLACE FUNCTION office_apply_batch(batch jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    node text := batch->>'node';
    touched text[];
BEGIN
    -- exactly once: a flush sent again after a lost COMMIT is skipped if it landed
    IF batch ? 'seq' THEN
        INSERT INTO office_worker AS w (node_name, flush_seq)
        VALUES (node, (batch->>'seq')::bigint)
        ON CONFLICT (node_name) DO UPDATE SET flush_seq = EXCLUDED.flush_seq
            WHERE w.flush_seq IS NULL OR w.flush_seq < EXCLUDED.flush_seq;
        IF NOT FOUND THEN
            RETURN;
        END IF;
    END IF;

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

    -- every touched agent's row, by the precedence: an overlong run, a missed schedule (the
    -- alert set first of each kind), the newest run in progress, the last outcome, idle
    UPDATE office_agent_status s
    SET status = (jsonb_populate_record(NULL::office_agent_status,
                                        jsonb_build_object('status', v.status))).status,
        task = v.task, last_activity = now(), updated_at = now()
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
        FROM unnest(touched) AS t(agent_id)
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
END
$$
"""


def upgrade() -> None:
    op.add_column("office_worker", sa.Column("flush_seq", sa.BigInteger(), nullable=True))
    if op.get_context().dialect.name == "postgresql":
        op.execute(GLOB)
        op.execute(APPLY_BATCH)


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP FUNCTION office_apply_batch(jsonb)")
        op.execute("DROP FUNCTION office_glob(text)")
    with op.batch_alter_table("office_worker") as batch:
        batch.drop_column("flush_seq")
