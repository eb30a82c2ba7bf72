-- celery-office schema for postgresql, generated from its Alembic migrations in offline mode by `python -m celery_office.db.sql_scripts postgresql`; do not edit.
-- Print it from an installed celery-office with `celery office sql --dialect postgresql`.
-- Creates the version table office_alembic_version too, so celery_office.migrate() can take over from here.
BEGIN;

CREATE TABLE office_alembic_version (
    version_num VARCHAR(32) NOT NULL, 
    CONSTRAINT office_alembic_version_pkc PRIMARY KEY (version_num)
);

-- Running upgrade  -> 0001_initial

CREATE TYPE agentstatus AS ENUM ('ok', 'warning', 'error', 'offline');

CREATE TABLE office_agent_run (
    task_id VARCHAR(255) NOT NULL, 
    agent_id VARCHAR(100) NOT NULL, 
    node_name VARCHAR(255), 
    task VARCHAR(255), 
    started_at FLOAT NOT NULL, 
    CONSTRAINT pk_office_agent_run PRIMARY KEY (task_id)
);

CREATE INDEX ix_office_agent_run_agent_id ON office_agent_run (agent_id);

CREATE INDEX ix_office_agent_run_node_name ON office_agent_run (node_name);

CREATE TABLE office_agent_status (
    id SERIAL NOT NULL, 
    agent_id VARCHAR(100) NOT NULL, 
    department VARCHAR(50) NOT NULL, 
    name VARCHAR(100) NOT NULL, 
    brand VARCHAR(20), 
    status agentstatus NOT NULL, 
    last_activity TIMESTAMP WITH TIME ZONE, 
    task VARCHAR(255), 
    metrics JSONB, 
    salary_equivalent INTEGER, 
    fte_coefficient NUMERIC(3, 2), 
    created_at TIMESTAMP WITH TIME ZONE, 
    updated_at TIMESTAMP WITH TIME ZONE, 
    CONSTRAINT pk_office_agent_status PRIMARY KEY (id)
);

CREATE UNIQUE INDEX ix_office_agent_status_agent_id ON office_agent_status (agent_id);

CREATE INDEX ix_office_agent_status_brand ON office_agent_status (brand);

CREATE INDEX ix_office_agent_status_department ON office_agent_status (department);

CREATE TABLE office_worker (
    node_name VARCHAR(255) NOT NULL, 
    hostname VARCHAR(255), 
    pid INTEGER, 
    agents JSONB, 
    started_at TIMESTAMP WITH TIME ZONE, 
    last_seen TIMESTAMP WITH TIME ZONE, 
    stopped_at TIMESTAMP WITH TIME ZONE, 
    CONSTRAINT pk_office_worker PRIMARY KEY (node_name)
);

CREATE INDEX ix_office_worker_last_seen ON office_worker (last_seen);

CREATE TABLE office_agent_outcome (
    agent_id VARCHAR(100) NOT NULL, 
    finished_at FLOAT DEFAULT 0 NOT NULL, 
    status agentstatus NOT NULL, 
    task VARCHAR(255), 
    metrics_at FLOAT DEFAULT 0 NOT NULL, 
    CONSTRAINT pk_office_agent_outcome PRIMARY KEY (agent_id), 
    CONSTRAINT fk_office_agent_outcome_agent_id_office_agent_status FOREIGN KEY(agent_id) REFERENCES office_agent_status (agent_id) ON DELETE CASCADE
);

CREATE VIEW office_agent_status_effective AS
SELECT id, agent_id, department, name, brand, status, last_activity, task, metrics, salary_equivalent, fte_coefficient, created_at, updated_at,
    CASE WHEN last_activity IS NULL OR last_activity < now() - interval '300 seconds'
        THEN 'offline' ELSE status END AS effective_status
FROM office_agent_status;

INSERT INTO office_alembic_version (version_num) VALUES ('0001_initial') RETURNING office_alembic_version.version_num;

-- Running upgrade 0001_initial -> 0002_agent_day

CREATE TABLE office_agent_day (
    agent_id VARCHAR(100) NOT NULL, 
    day DATE NOT NULL, 
    runs INTEGER DEFAULT 0 NOT NULL, 
    succeeded INTEGER DEFAULT 0 NOT NULL, 
    failed INTEGER DEFAULT 0 NOT NULL, 
    retried INTEGER DEFAULT 0 NOT NULL, 
    revoked INTEGER DEFAULT 0 NOT NULL, 
    runtime_s FLOAT DEFAULT 0 NOT NULL, 
    max_runtime_s FLOAT DEFAULT 0 NOT NULL, 
    last_success_at TIMESTAMP WITH TIME ZONE, 
    last_failure_at TIMESTAMP WITH TIME ZONE, 
    CONSTRAINT pk_office_agent_day PRIMARY KEY (agent_id, day)
);

CREATE INDEX ix_office_agent_day_day ON office_agent_day (day);

CREATE VIEW office_agent_day_view AS
SELECT d.agent_id, s.department, s.name, s.brand, d.day, d.runs, d.succeeded,
    d.failed, d.retried, d.revoked, d.runtime_s, d.max_runtime_s,
    d.last_success_at, d.last_failure_at
FROM office_agent_day d
JOIN office_agent_status s ON s.agent_id = d.agent_id;

UPDATE office_alembic_version SET version_num='0002_agent_day' WHERE office_alembic_version.version_num = '0001_initial';

-- Running upgrade 0002_agent_day -> 0003_alerts

CREATE TABLE office_agent_alert (
    agent_id VARCHAR(100) NOT NULL, 
    kind VARCHAR(20) NOT NULL, 
    subject VARCHAR(255) NOT NULL, 
    node_name VARCHAR(255), 
    task VARCHAR(255), 
    since TIMESTAMP WITH TIME ZONE, 
    CONSTRAINT pk_office_agent_alert PRIMARY KEY (agent_id, kind), 
    CONSTRAINT fk_office_agent_alert_agent_id_office_agent_status FOREIGN KEY(agent_id) REFERENCES office_agent_status (agent_id) ON DELETE CASCADE
);

CREATE TABLE office_agent_start (
    agent_id VARCHAR(100) NOT NULL, 
    task_name VARCHAR(255) NOT NULL, 
    started_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    CONSTRAINT pk_office_agent_start PRIMARY KEY (agent_id, task_name), 
    CONSTRAINT fk_office_agent_start_agent_id_office_agent_status FOREIGN KEY(agent_id) REFERENCES office_agent_status (agent_id) ON DELETE CASCADE
);

UPDATE office_alembic_version SET version_num='0003_alerts' WHERE office_alembic_version.version_num = '0002_agent_day';

-- Running upgrade 0003_alerts -> 0004_alert_subjects

ALTER TABLE office_agent_alert DROP CONSTRAINT pk_office_agent_alert;

ALTER TABLE office_agent_alert ADD CONSTRAINT pk_office_agent_alert PRIMARY KEY (agent_id, kind, subject);

UPDATE office_alembic_version SET version_num='0004_alert_subjects' WHERE office_alembic_version.version_num = '0003_alerts';

-- Running upgrade 0004_alert_subjects -> 0005_apply_batch

ALTER TABLE office_worker ADD COLUMN flush_seq BIGINT;

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
$$;

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
$$;

UPDATE office_alembic_version SET version_num='0005_apply_batch' WHERE office_alembic_version.version_num = '0004_alert_subjects';

-- Running upgrade 0005_apply_batch -> 0006_notifications

CREATE TABLE office_agent_notice (
    agent_id VARCHAR(100) NOT NULL, 
    state VARCHAR(20) NOT NULL, 
    version INTEGER DEFAULT 0 NOT NULL, 
    changed_at TIMESTAMP WITH TIME ZONE, 
    CONSTRAINT pk_office_agent_notice PRIMARY KEY (agent_id), 
    CONSTRAINT fk_office_agent_notice_agent_id_office_agent_status FOREIGN KEY(agent_id) REFERENCES office_agent_status (agent_id) ON DELETE CASCADE
);

UPDATE office_alembic_version SET version_num='0006_notifications' WHERE office_alembic_version.version_num = '0005_apply_batch';

-- Running upgrade 0006_notifications -> 0007_writers

CREATE TABLE office_writer (
    writer_id BIGSERIAL NOT NULL, 
    node_name VARCHAR(255) NOT NULL, 
    hostname VARCHAR(255), 
    pid INTEGER, 
    flush_seq BIGINT DEFAULT 0 NOT NULL, 
    started_at TIMESTAMP WITH TIME ZONE, 
    last_seen TIMESTAMP WITH TIME ZONE, 
    CONSTRAINT pk_office_writer PRIMARY KEY (writer_id)
);

CREATE INDEX ix_office_writer_node_name ON office_writer (node_name);

ALTER FUNCTION office_apply_batch(jsonb) RENAME TO office_apply_changes;

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
$$;

UPDATE office_alembic_version SET version_num='0007_writers' WHERE office_alembic_version.version_num = '0006_notifications';

-- Running upgrade 0007_writers -> 0008_timeline

CREATE TABLE office_agent_timeline (
    id BIGSERIAL NOT NULL, 
    agent_id VARCHAR(100) NOT NULL, 
    status VARCHAR(20) NOT NULL, 
    alert VARCHAR(20), 
    last_run_ok BOOLEAN DEFAULT false NOT NULL, 
    task VARCHAR(255), 
    since TIMESTAMP WITH TIME ZONE NOT NULL, 
    until TIMESTAMP WITH TIME ZONE, 
    CONSTRAINT pk_office_agent_timeline PRIMARY KEY (id)
);

CREATE INDEX ix_office_agent_timeline_agent_id_id ON office_agent_timeline (agent_id, id);

CREATE UNIQUE INDEX uq_office_agent_timeline_open ON office_agent_timeline (agent_id) WHERE until IS NULL;

CREATE TABLE office_notify_event (
    id BIGSERIAL NOT NULL, 
    key VARCHAR(100) NOT NULL, 
    agent_id VARCHAR(100) NOT NULL, 
    state VARCHAR(20) NOT NULL, 
    body TEXT NOT NULL, 
    created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    CONSTRAINT pk_office_notify_event PRIMARY KEY (id)
);

CREATE UNIQUE INDEX ix_office_notify_event_key ON office_notify_event (key);

CREATE INDEX ix_office_notify_event_created_at ON office_notify_event (created_at);

CREATE TABLE office_notify_delivery (
    event_id BIGINT NOT NULL, 
    target VARCHAR(64) NOT NULL, 
    state VARCHAR(10) DEFAULT 'pending' NOT NULL, 
    attempts INTEGER DEFAULT 0 NOT NULL, 
    next_try_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    lease_until TIMESTAMP WITH TIME ZONE, 
    leased_by VARCHAR(100), 
    done_at TIMESTAMP WITH TIME ZONE, 
    CONSTRAINT pk_office_notify_delivery PRIMARY KEY (event_id, target), 
    CONSTRAINT fk_office_notify_delivery_event_id_office_notify_event FOREIGN KEY(event_id) REFERENCES office_notify_event (id) ON DELETE CASCADE
);

CREATE INDEX ix_office_notify_delivery_due ON office_notify_delivery (target, state, next_try_at);

CREATE TABLE office_notify_target (
    target VARCHAR(64) NOT NULL, 
    seen_at TIMESTAMP WITH TIME ZONE NOT NULL, 
    CONSTRAINT pk_office_notify_target PRIMARY KEY (target)
);

ALTER TABLE office_agent_notice ADD COLUMN period_id BIGINT;

INSERT INTO office_agent_timeline (agent_id, status, alert, last_run_ok, task, since) SELECT s.agent_id, s.status::text, CASE WHEN s.status = 'warning' THEN (SELECT a.kind FROM office_agent_alert a WHERE a.agent_id = s.agent_id AND a.kind IN ('overlong', 'missed') ORDER BY a.kind = 'overlong' DESC, a.since IS NULL, a.since LIMIT 1) WHEN s.status = 'ok' AND s.task IS NOT NULL THEN (SELECT 'error' FROM office_agent_outcome o WHERE o.agent_id = s.agent_id AND o.status = 'error') END, (s.status = 'ok' AND (s.task IS NULL OR EXISTS (SELECT 1 FROM office_agent_outcome o WHERE o.agent_id = s.agent_id AND o.status = 'ok' AND o.finished_at > 0))), CASE WHEN s.status = 'ok' AND s.task IS NOT NULL AND EXISTS (SELECT 1 FROM office_agent_outcome o WHERE o.agent_id = s.agent_id AND o.status = 'error') THEN (SELECT o.task FROM office_agent_outcome o WHERE o.agent_id = s.agent_id) ELSE s.task END, coalesce(s.last_activity, now()) FROM office_agent_status s;

CREATE OR REPLACE FUNCTION office_record_period() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    st text := NEW.status::text;
    al text := CASE WHEN NEW.status = 'warning' THEN (SELECT a.kind FROM office_agent_alert a WHERE a.agent_id = NEW.agent_id AND a.kind IN ('overlong', 'missed') ORDER BY a.kind = 'overlong' DESC, a.since IS NULL, a.since LIMIT 1) WHEN NEW.status = 'ok' AND NEW.task IS NOT NULL THEN (SELECT 'error' FROM office_agent_outcome o WHERE o.agent_id = NEW.agent_id AND o.status = 'error') END;
    good boolean := (NEW.status = 'ok' AND (NEW.task IS NULL OR EXISTS (SELECT 1 FROM office_agent_outcome o WHERE o.agent_id = NEW.agent_id AND o.status = 'ok' AND o.finished_at > 0)));
BEGIN
    UPDATE office_agent_timeline SET until = now()
    WHERE agent_id = NEW.agent_id AND until IS NULL
      AND NOT (status = st AND alert IS NOT DISTINCT FROM al AND last_run_ok = good);
    INSERT INTO office_agent_timeline (agent_id, status, alert, last_run_ok, task, since)
    SELECT NEW.agent_id, st, al, good, CASE WHEN NEW.status = 'ok' AND NEW.task IS NOT NULL AND EXISTS (SELECT 1 FROM office_agent_outcome o WHERE o.agent_id = NEW.agent_id AND o.status = 'error') THEN (SELECT o.task FROM office_agent_outcome o WHERE o.agent_id = NEW.agent_id) ELSE NEW.task END, now()
    WHERE NOT EXISTS (SELECT 1 FROM office_agent_timeline
                      WHERE agent_id = NEW.agent_id AND until IS NULL);
    RETURN NULL;
END
$$;

CREATE TRIGGER office_agent_timeline_insert AFTER INSERT ON office_agent_status FOR EACH ROW EXECUTE FUNCTION office_record_period();

CREATE TRIGGER office_agent_timeline_update AFTER UPDATE OF status, task ON office_agent_status FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.task IS DISTINCT FROM NEW.task OR (NEW.status = 'ok' AND NEW.task IS NOT NULL)) EXECUTE FUNCTION office_record_period();

UPDATE office_alembic_version SET version_num='0008_timeline' WHERE office_alembic_version.version_num = '0007_writers';

-- Running upgrade 0008_timeline -> 0009_agent_totals

CREATE TABLE office_agent_total (
    agent_id VARCHAR(100) NOT NULL, 
    runs BIGINT DEFAULT 0 NOT NULL, 
    succeeded BIGINT DEFAULT 0 NOT NULL, 
    failed BIGINT DEFAULT 0 NOT NULL, 
    retried BIGINT DEFAULT 0 NOT NULL, 
    revoked BIGINT DEFAULT 0 NOT NULL, 
    runtime_s FLOAT DEFAULT 0 NOT NULL, 
    CONSTRAINT pk_office_agent_total PRIMARY KEY (agent_id)
);

UPDATE office_alembic_version SET version_num='0009_agent_totals' WHERE office_alembic_version.version_num = '0008_timeline';

-- Running upgrade 0009_agent_totals -> 0010_writer_waiting

ALTER TABLE office_writer ADD COLUMN waiting JSONB;

UPDATE office_alembic_version SET version_num='0010_writer_waiting' WHERE office_alembic_version.version_num = '0009_agent_totals';

-- Running upgrade 0010_writer_waiting -> 0011_recompute

CREATE OR REPLACE FUNCTION office_recompute(ids text[], quiet text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    -- the one lock order of every writer (a caller that holds the locks waits for nothing)
    PERFORM 1 FROM office_agent_status WHERE agent_id = ANY(ids) ORDER BY agent_id FOR UPDATE;

    UPDATE office_agent_status s
    SET status = (jsonb_populate_record(NULL::office_agent_status,
                                        jsonb_build_object('status', v.status))).status,
        task = v.task, updated_at = now(),
        last_activity = CASE WHEN s.agent_id = ANY(quiet) THEN s.last_activity ELSE now() END
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
        FROM unnest(ids) AS t(agent_id)
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
$$;

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

    PERFORM office_recompute(touched, '{}'::text[]);
END
$$;

UPDATE office_alembic_version SET version_num='0011_recompute' WHERE office_alembic_version.version_num = '0010_writer_waiting';

COMMIT;

