"""A database migrated by a newer celery-office: this worker writes nothing, and says so once.

Once, the worker logged the migration error and went on heartbeating: rows read "ok, seen 3 s
ago" while no status and no count was written, and the log alternated ERROR and WARNING every
heartbeat. A version that does not know the schema cannot know what its side tables mean now,
so it writes nothing (its agents read offline once silent, unless a newer worker serves them:
the truth), and resumes by itself when the database is at a revision it knows again.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from celery_office import AgentStatus
from celery_office.db.revisions import head_revision

from .conftest import HERE
from .test_worker import ALL_AGENTS, _is

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

FUTURE = "9999_from_the_future"
QUICK = {"OFFICE_HEARTBEAT_INTERVAL": "1", "OFFICE_OFFLINE_AFTER": "30"}


def _stamp(office, revision: str) -> None:
    office.sql_write("update office_alembic_version set version_num = :r", r=revision)


def _office(office, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "celery", "-A", "office_app", "office", *args],
                          cwd=HERE, env=office.env, capture_output=True, text=True, timeout=60)


def test_a_worker_on_a_newer_schema_writes_nothing_and_resumes_when_it_may(office_pg):
    first = office_pg.worker(env=QUICK)
    office_pg.wait_for(lambda r: set(r) == ALL_AGENTS, what="registration")
    assert first.stop() == 0
    before = office_pg.rows()
    days = office_pg.sql("select count(*) as n from office_agent_day")[0].n
    _stamp(office_pg, FUTURE)

    worker = office_pg.worker(env=QUICK, name="w2")
    results = [office_pg.send("fail_scan"), office_pg.send("scan_prices", duration=0.5)]
    for result in results:  # tasks run as ever
        result.get(timeout=20, propagate=False)
    # the worker has looked at the schema and said why it writes nothing (a positive marker),
    # and its heartbeats and flushes go on meanwhile
    deadline = time.monotonic() + 30
    while FUTURE not in worker.log and time.monotonic() < deadline:
        time.sleep(0.1)
    assert FUTURE in worker.log, worker.log[-2000:]
    time.sleep(2)  # a few more heartbeats (1 s) and flushes on top of that marker
    after = office_pg.rows()
    assert {a: (r.status, r.last_activity) for a, r in after.items()} == {
        a: (r.status, r.last_activity) for a, r in before.items()
    }, "a worker that does not know the schema claimed liveness or wrote a status"
    assert office_pg.sql("select count(*) as n from office_agent_run")[0].n == 0
    assert office_pg.sql("select count(*) as n from office_agent_day")[0].n == days
    assert all(w.node_name.startswith("w1@")
               for w in office_pg.sql("select node_name from office_worker"))
    lines = [line for line in worker.log.splitlines() if "celery-office" in line
             and ("ERROR" in line or "WARNING" in line)]
    assert len(lines) == 1, lines  # said once, never alternating
    assert (FUTURE in lines[0] and head_revision() in lines[0]
            and "upgrade celery-office" in lines[0])

    check = _office(office_pg, "check")
    assert check.returncode == 1 and FUTURE in check.stderr, check
    migrate = _office(office_pg, "migrate")
    assert migrate.returncode == 1 and FUTURE in migrate.stderr, migrate
    assert len(migrate.stderr.strip().splitlines()) == 1 and "Traceback" not in migrate.stderr

    _stamp(office_pg, head_revision())  # the operator rolls the database back: it resumes
    office_pg.wait_for(_is("watcher_price_monitor", AgentStatus.ok), timeout=90,
                       what="statuses written again without a restart")
    office_pg.send("fail_scan")
    office_pg.wait_for(_is("watcher_price_monitor", AgentStatus.error), what="a new error")
