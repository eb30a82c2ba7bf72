"""Through a real PgBouncer in transaction pooling mode with its stock settings: concurrent
migrations, and a real prefork worker's core statuses, with psycopg2 and psycopg 3.

Transaction pooling gives each transaction whichever server connection is free, so anything
kept on a session between transactions (a startup ``options`` parameter, ``SET``, a
session-level advisory lock, a prepared statement) is lost or leaks to another client.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from celery_office import AgentStatus, create_office_engine
from celery_office.db.revisions import head_revision

from ..conftest import PG_DRIVERS
from .conftest import Office
from .test_worker import ALL_AGENTS, _is

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

MIGRATE = """
import sys, time
from pathlib import Path
from celery_office import migrate
url, ready, go = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
ready.touch()
while not go.exists():
    time.sleep(0.002)
migrate(url)
"""


def test_two_processes_migrate_at_once_through_pgbouncer(
    fresh_pgbouncer_url: str, tmp_path
) -> None:
    """Two workers starting together on an empty database: both migrations succeed and the
    tables are made once (the lock is the transaction's, which the pooler keeps)."""
    go = tmp_path / "go"
    ready = [tmp_path / f"ready-{i}" for i in range(2)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", MIGRATE, fresh_pgbouncer_url, str(path), str(go)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for path in ready
    ]
    try:
        deadline = time.monotonic() + 60
        while not all(path.exists() for path in ready):  # both imported, waiting to start
            assert time.monotonic() < deadline, "the migrating processes did not start"
            time.sleep(0.01)
        go.touch()
        outputs = [proc.communicate(timeout=120)[0] for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert [proc.returncode for proc in procs] == [0, 0], "\n".join(outputs)
    engine = create_engine(fresh_pgbouncer_url)
    try:
        with engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM office_alembic_version")).all()
            tables = set(conn.execute(text(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )).scalars())
    finally:
        engine.dispose()
    assert [v.version_num for v in versions] == [head_revision()]
    assert {"office_agent_status", "office_worker", "office_agent_run",
            "office_agent_outcome", "office_agent_status_effective"} <= tables


@pytest.mark.parametrize("pg_driver", PG_DRIVERS, ids=["psycopg2", "psycopg3"])
def test_the_core_through_pgbouncer(
    fresh_pgbouncer_url: str, redis_url: str, tmp_path: Path
) -> None:
    """A prefork worker on an empty database behind PgBouncer migrates it, then shows working,
    idle, error, the retry warning, heartbeats, and offline after a warm shutdown; not one
    write fails on the way."""
    office = Office(fresh_pgbouncer_url, redis_url, tmp_path)
    # The test's own reads go through PgBouncer too: with psycopg 3 a plain engine would
    # prepare its polling query and fail on the next server connection.
    office.engine.dispose()
    office.engine = create_office_engine(fresh_pgbouncer_url)
    try:
        worker = office.worker(env={"OFFICE_HEARTBEAT_INTERVAL": "1"})
        first = office.wait_for(lambda r: set(r) == ALL_AGENTS, what="registration")

        result = office.send("scan_prices", duration=1.5)
        office.wait_for(
            _is("watcher_price_monitor", AgentStatus.ok, "Сканирование цен конкурентов"),
            what="working",
        )
        assert result.get(timeout=20) == {"products_scanned": 150}
        office.wait_for(_is("watcher_price_monitor", AgentStatus.ok, None), what="idle")

        office.send("fail_scan")
        office.wait_for(
            _is("watcher_price_monitor", AgentStatus.error,
                "Ошибка: ScanError: Wildberries API timeout after 30s"),
            what="error",
        )

        result = office.send("flaky_reviews", hold=2.0)
        rows = office.wait_for(_is("reputation_wb", AgentStatus.warning), what="retry warning")
        assert rows["reputation_wb"].task.startswith("Повтор: Обработка отзывов Wildberries")
        assert result.get(timeout=20) == {"reviews_today": 47}
        office.wait_for(_is("reputation_wb", AgentStatus.ok, None), what="idle after retry")

        # watcher_night_agent ran nothing: only heartbeats move its last_activity
        night = first["watcher_night_agent"].last_activity
        office.wait_for(
            lambda r: r["watcher_night_agent"].last_activity > night, timeout=10,
            what="heartbeat",
        )

        assert worker.stop() == 0
        rows = office.rows()
        assert {a: r.status for a, r in rows.items()} == {
            a: AgentStatus.offline for a in ALL_AGENTS
        }
        assert office.sql("SELECT stopped_at FROM office_worker")[0].stopped_at is not None
        assert "failed on" not in worker.log, worker.log  # the writer's one warning per outage
    finally:
        office.close()
