-- celery-office schema for sqlite, generated from its Alembic migrations in offline mode by `python -m celery_office.db.sql_scripts sqlite`; do not edit.
-- Print it from an installed celery-office with `celery office sql --dialect sqlite`.
-- Creates the version table office_alembic_version too, so celery_office.migrate() can take over from here.
CREATE TABLE office_alembic_version (
    version_num VARCHAR(32) NOT NULL, 
    CONSTRAINT office_alembic_version_pkc PRIMARY KEY (version_num)
);

-- Running upgrade  -> 0001_initial

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
    id INTEGER NOT NULL, 
    agent_id VARCHAR(100) NOT NULL, 
    department VARCHAR(50) NOT NULL, 
    name VARCHAR(100) NOT NULL, 
    brand VARCHAR(20), 
    status VARCHAR(7) NOT NULL, 
    last_activity DATETIME, 
    task VARCHAR(255), 
    metrics JSON, 
    salary_equivalent INTEGER, 
    fte_coefficient NUMERIC(3, 2), 
    created_at DATETIME, 
    updated_at DATETIME, 
    CONSTRAINT pk_office_agent_status PRIMARY KEY (id)
);

CREATE UNIQUE INDEX ix_office_agent_status_agent_id ON office_agent_status (agent_id);

CREATE INDEX ix_office_agent_status_brand ON office_agent_status (brand);

CREATE INDEX ix_office_agent_status_department ON office_agent_status (department);

CREATE TABLE office_worker (
    node_name VARCHAR(255) NOT NULL, 
    hostname VARCHAR(255), 
    pid INTEGER, 
    agents JSON, 
    started_at DATETIME, 
    last_seen DATETIME, 
    stopped_at DATETIME, 
    CONSTRAINT pk_office_worker PRIMARY KEY (node_name)
);

CREATE INDEX ix_office_worker_last_seen ON office_worker (last_seen);

CREATE TABLE office_agent_outcome (
    agent_id VARCHAR(100) NOT NULL, 
    finished_at FLOAT DEFAULT 0 NOT NULL, 
    status VARCHAR(7) NOT NULL, 
    task VARCHAR(255), 
    metrics_at FLOAT DEFAULT 0 NOT NULL, 
    CONSTRAINT pk_office_agent_outcome PRIMARY KEY (agent_id), 
    CONSTRAINT fk_office_agent_outcome_agent_id_office_agent_status FOREIGN KEY(agent_id) REFERENCES office_agent_status (agent_id) ON DELETE CASCADE
);

CREATE VIEW office_agent_status_effective AS
SELECT id, agent_id, department, name, brand, status, last_activity, task, metrics, salary_equivalent, fte_coefficient, created_at, updated_at,
    CASE WHEN last_activity IS NULL OR last_activity < strftime('%Y-%m-%d %H:%M:%f000', 'now', '-300 seconds')
        THEN 'offline' ELSE status END AS effective_status
FROM office_agent_status;

INSERT INTO office_alembic_version (version_num) VALUES ('0001_initial') RETURNING version_num;

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
    last_success_at DATETIME, 
    last_failure_at DATETIME, 
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
    since DATETIME, 
    CONSTRAINT pk_office_agent_alert PRIMARY KEY (agent_id, kind), 
    CONSTRAINT fk_office_agent_alert_agent_id_office_agent_status FOREIGN KEY(agent_id) REFERENCES office_agent_status (agent_id) ON DELETE CASCADE
);

CREATE TABLE office_agent_start (
    agent_id VARCHAR(100) NOT NULL, 
    task_name VARCHAR(255) NOT NULL, 
    started_at DATETIME NOT NULL, 
    CONSTRAINT pk_office_agent_start PRIMARY KEY (agent_id, task_name), 
    CONSTRAINT fk_office_agent_start_agent_id_office_agent_status FOREIGN KEY(agent_id) REFERENCES office_agent_status (agent_id) ON DELETE CASCADE
);

UPDATE office_alembic_version SET version_num='0003_alerts' WHERE office_alembic_version.version_num = '0002_agent_day';

-- Running upgrade 0003_alerts -> 0004_alert_subjects

CREATE TABLE _alembic_tmp_office_agent_alert (
    agent_id VARCHAR(100) NOT NULL, 
    kind VARCHAR(20) NOT NULL, 
    subject VARCHAR(255) NOT NULL, 
    node_name VARCHAR(255), 
    task VARCHAR(255), 
    since DATETIME, 
    CONSTRAINT pk_office_agent_alert PRIMARY KEY (agent_id, kind, subject), 
    CONSTRAINT fk_office_agent_alert_agent_id_office_agent_status FOREIGN KEY(agent_id) REFERENCES office_agent_status (agent_id) ON DELETE CASCADE
);

INSERT INTO _alembic_tmp_office_agent_alert (agent_id, kind, subject, node_name, task, since) SELECT office_agent_alert.agent_id, office_agent_alert.kind, office_agent_alert.subject, office_agent_alert.node_name, office_agent_alert.task, office_agent_alert.since 
FROM office_agent_alert;

DROP TABLE office_agent_alert;

ALTER TABLE _alembic_tmp_office_agent_alert RENAME TO office_agent_alert;

UPDATE office_alembic_version SET version_num='0004_alert_subjects' WHERE office_alembic_version.version_num = '0003_alerts';

-- Running upgrade 0004_alert_subjects -> 0005_apply_batch

ALTER TABLE office_worker ADD COLUMN flush_seq BIGINT;

UPDATE office_alembic_version SET version_num='0005_apply_batch' WHERE office_alembic_version.version_num = '0004_alert_subjects';

-- Running upgrade 0005_apply_batch -> 0006_notifications

CREATE TABLE office_agent_notice (
    agent_id VARCHAR(100) NOT NULL, 
    state VARCHAR(20) NOT NULL, 
    version INTEGER DEFAULT 0 NOT NULL, 
    changed_at DATETIME, 
    CONSTRAINT pk_office_agent_notice PRIMARY KEY (agent_id), 
    CONSTRAINT fk_office_agent_notice_agent_id_office_agent_status FOREIGN KEY(agent_id) REFERENCES office_agent_status (agent_id) ON DELETE CASCADE
);

UPDATE office_alembic_version SET version_num='0006_notifications' WHERE office_alembic_version.version_num = '0005_apply_batch';

-- Running upgrade 0006_notifications -> 0007_writers

CREATE TABLE office_writer (
    writer_id INTEGER NOT NULL, 
    node_name VARCHAR(255) NOT NULL, 
    hostname VARCHAR(255), 
    pid INTEGER, 
    flush_seq BIGINT DEFAULT 0 NOT NULL, 
    started_at DATETIME, 
    last_seen DATETIME, 
    CONSTRAINT pk_office_writer PRIMARY KEY (writer_id)
);

CREATE INDEX ix_office_writer_node_name ON office_writer (node_name);

UPDATE office_alembic_version SET version_num='0007_writers' WHERE office_alembic_version.version_num = '0006_notifications';

-- Running upgrade 0007_writers -> 0008_timeline

CREATE TABLE office_agent_timeline (
    id INTEGER NOT NULL, 
    agent_id VARCHAR(100) NOT NULL, 
    status VARCHAR(20) NOT NULL, 
    alert VARCHAR(20), 
    last_run_ok BOOLEAN DEFAULT false NOT NULL, 
    task VARCHAR(255), 
    since DATETIME NOT NULL, 
    until DATETIME, 
    CONSTRAINT pk_office_agent_timeline PRIMARY KEY (id)
);

CREATE INDEX ix_office_agent_timeline_agent_id_id ON office_agent_timeline (agent_id, id);

CREATE UNIQUE INDEX uq_office_agent_timeline_open ON office_agent_timeline (agent_id) WHERE until IS NULL;

CREATE TABLE office_notify_event (
    id INTEGER NOT NULL, 
    "key" VARCHAR(100) NOT NULL, 
    agent_id VARCHAR(100) NOT NULL, 
    state VARCHAR(20) NOT NULL, 
    body TEXT NOT NULL, 
    created_at DATETIME NOT NULL, 
    CONSTRAINT pk_office_notify_event PRIMARY KEY (id)
);

CREATE UNIQUE INDEX ix_office_notify_event_key ON office_notify_event ("key");

CREATE INDEX ix_office_notify_event_created_at ON office_notify_event (created_at);

CREATE TABLE office_notify_delivery (
    event_id INTEGER NOT NULL, 
    target VARCHAR(64) NOT NULL, 
    state VARCHAR(10) DEFAULT 'pending' NOT NULL, 
    attempts INTEGER DEFAULT 0 NOT NULL, 
    next_try_at DATETIME NOT NULL, 
    lease_until DATETIME, 
    leased_by VARCHAR(100), 
    done_at DATETIME, 
    CONSTRAINT pk_office_notify_delivery PRIMARY KEY (event_id, target), 
    CONSTRAINT fk_office_notify_delivery_event_id_office_notify_event FOREIGN KEY(event_id) REFERENCES office_notify_event (id) ON DELETE CASCADE
);

CREATE INDEX ix_office_notify_delivery_due ON office_notify_delivery (target, state, next_try_at);

CREATE TABLE office_notify_target (
    target VARCHAR(64) NOT NULL, 
    seen_at DATETIME NOT NULL, 
    CONSTRAINT pk_office_notify_target PRIMARY KEY (target)
);

ALTER TABLE office_agent_notice ADD COLUMN period_id BIGINT;

INSERT INTO office_agent_timeline (agent_id, status, alert, last_run_ok, task, since) SELECT s.agent_id, s.status, CASE WHEN s.status = 'warning' THEN (SELECT a.kind FROM office_agent_alert a WHERE a.agent_id = s.agent_id AND a.kind IN ('overlong', 'missed') ORDER BY a.kind = 'overlong' DESC, a.since IS NULL, a.since LIMIT 1) WHEN s.status = 'ok' AND s.task IS NOT NULL THEN (SELECT 'error' FROM office_agent_outcome o WHERE o.agent_id = s.agent_id AND o.status = 'error') END, (s.status = 'ok' AND (s.task IS NULL OR EXISTS (SELECT 1 FROM office_agent_outcome o WHERE o.agent_id = s.agent_id AND o.status = 'ok' AND o.finished_at > 0))), CASE WHEN s.status = 'ok' AND s.task IS NOT NULL AND EXISTS (SELECT 1 FROM office_agent_outcome o WHERE o.agent_id = s.agent_id AND o.status = 'error') THEN (SELECT o.task FROM office_agent_outcome o WHERE o.agent_id = s.agent_id) ELSE s.task END, coalesce(s.last_activity, strftime('%Y-%m-%d %H:%M:%f000', 'now')) FROM office_agent_status s;

CREATE TRIGGER office_agent_timeline_insert AFTER INSERT ON office_agent_status FOR EACH ROW 
BEGIN
    UPDATE office_agent_timeline SET until = strftime('%Y-%m-%d %H:%M:%f000', 'now')
    WHERE agent_id = NEW.agent_id AND until IS NULL
      AND NOT (status = NEW.status AND alert IS (CASE WHEN NEW.status = 'warning' THEN (SELECT a.kind FROM office_agent_alert a WHERE a.agent_id = NEW.agent_id AND a.kind IN ('overlong', 'missed') ORDER BY a.kind = 'overlong' DESC, a.since IS NULL, a.since LIMIT 1) WHEN NEW.status = 'ok' AND NEW.task IS NOT NULL THEN (SELECT 'error' FROM office_agent_outcome o WHERE o.agent_id = NEW.agent_id AND o.status = 'error') END) AND last_run_ok = ((NEW.status = 'ok' AND (NEW.task IS NULL OR EXISTS (SELECT 1 FROM office_agent_outcome o WHERE o.agent_id = NEW.agent_id AND o.status = 'ok' AND o.finished_at > 0)))));
    INSERT INTO office_agent_timeline (agent_id, status, alert, last_run_ok, task, since)
    SELECT NEW.agent_id, NEW.status, CASE WHEN NEW.status = 'warning' THEN (SELECT a.kind FROM office_agent_alert a WHERE a.agent_id = NEW.agent_id AND a.kind IN ('overlong', 'missed') ORDER BY a.kind = 'overlong' DESC, a.since IS NULL, a.since LIMIT 1) WHEN NEW.status = 'ok' AND NEW.task IS NOT NULL THEN (SELECT 'error' FROM office_agent_outcome o WHERE o.agent_id = NEW.agent_id AND o.status = 'error') END, (NEW.status = 'ok' AND (NEW.task IS NULL OR EXISTS (SELECT 1 FROM office_agent_outcome o WHERE o.agent_id = NEW.agent_id AND o.status = 'ok' AND o.finished_at > 0))), CASE WHEN NEW.status = 'ok' AND NEW.task IS NOT NULL AND EXISTS (SELECT 1 FROM office_agent_outcome o WHERE o.agent_id = NEW.agent_id AND o.status = 'error') THEN (SELECT o.task FROM office_agent_outcome o WHERE o.agent_id = NEW.agent_id) ELSE NEW.task END, strftime('%Y-%m-%d %H:%M:%f000', 'now')
    WHERE NOT EXISTS (SELECT 1 FROM office_agent_timeline
                      WHERE agent_id = NEW.agent_id AND until IS NULL);
END;

CREATE TRIGGER office_agent_timeline_update AFTER UPDATE OF status, task ON office_agent_status FOR EACH ROW WHEN OLD.status IS NOT NEW.status OR OLD.task IS NOT NEW.task OR (NEW.status = 'ok' AND NEW.task IS NOT NULL)
BEGIN
    UPDATE office_agent_timeline SET until = strftime('%Y-%m-%d %H:%M:%f000', 'now')
    WHERE agent_id = NEW.agent_id AND until IS NULL
      AND NOT (status = NEW.status AND alert IS (CASE WHEN NEW.status = 'warning' THEN (SELECT a.kind FROM office_agent_alert a WHERE a.agent_id = NEW.agent_id AND a.kind IN ('overlong', 'missed') ORDER BY a.kind = 'overlong' DESC, a.since IS NULL, a.since LIMIT 1) WHEN NEW.status = 'ok' AND NEW.task IS NOT NULL THEN (SELECT 'error' FROM office_agent_outcome o WHERE o.agent_id = NEW.agent_id AND o.status = 'error') END) AND last_run_ok = ((NEW.status = 'ok' AND (NEW.task IS NULL OR EXISTS (SELECT 1 FROM office_agent_outcome o WHERE o.agent_id = NEW.agent_id AND o.status = 'ok' AND o.finished_at > 0)))));
    INSERT INTO office_agent_timeline (agent_id, status, alert, last_run_ok, task, since)
    SELECT NEW.agent_id, NEW.status, CASE WHEN NEW.status = 'warning' THEN (SELECT a.kind FROM office_agent_alert a WHERE a.agent_id = NEW.agent_id AND a.kind IN ('overlong', 'missed') ORDER BY a.kind = 'overlong' DESC, a.since IS NULL, a.since LIMIT 1) WHEN NEW.status = 'ok' AND NEW.task IS NOT NULL THEN (SELECT 'error' FROM office_agent_outcome o WHERE o.agent_id = NEW.agent_id AND o.status = 'error') END, (NEW.status = 'ok' AND (NEW.task IS NULL OR EXISTS (SELECT 1 FROM office_agent_outcome o WHERE o.agent_id = NEW.agent_id AND o.status = 'ok' AND o.finished_at > 0))), CASE WHEN NEW.status = 'ok' AND NEW.task IS NOT NULL AND EXISTS (SELECT 1 FROM office_agent_outcome o WHERE o.agent_id = NEW.agent_id AND o.status = 'error') THEN (SELECT o.task FROM office_agent_outcome o WHERE o.agent_id = NEW.agent_id) ELSE NEW.task END, strftime('%Y-%m-%d %H:%M:%f000', 'now')
    WHERE NOT EXISTS (SELECT 1 FROM office_agent_timeline
                      WHERE agent_id = NEW.agent_id AND until IS NULL);
END;

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

ALTER TABLE office_writer ADD COLUMN waiting JSON;

UPDATE office_alembic_version SET version_num='0010_writer_waiting' WHERE office_alembic_version.version_num = '0009_agent_totals';

-- Running upgrade 0010_writer_waiting -> 0011_recompute

UPDATE office_alembic_version SET version_num='0011_recompute' WHERE office_alembic_version.version_num = '0010_writer_waiting';

