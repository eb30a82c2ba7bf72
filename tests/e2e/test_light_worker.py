"""What a real prefork worker's processes import: a disabled plugin loads no database stack, a
worker writes through SQLAlchemy Core without its ORM, and a worker whose tables need no
migration never imports Alembic (issue 29)."""

from __future__ import annotations

import socket

import pytest

from .conftest import Office

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


def _stacks(office, worker) -> tuple[dict, dict[int, list[str]]]:
    """The main process's answer (its database packages, its frozen objects) and the database
    packages of each pool process that ran one of the probes (at least one, usually both)."""
    results = [office.send("database_stack") for _ in range(6)]
    pools = {}
    for result in results:
        answer = result.get(timeout=20)
        pools[answer["pid"]] = answer["modules"]
    replies = office.app.control.broadcast(
        "office_test_database_stack", reply=True, timeout=5,
        destination=[f"w1@{socket.gethostname()}"],
    )
    mains = [answer for reply in replies for answer in reply.values()]
    assert len(mains) == 1, f"no answer from the main process: {replies}\n{worker.log}"
    assert mains[0]["pid"] == worker.proc.pid and mains[0]["pid"] not in pools
    return mains[0], pools


def test_a_disabled_plugin_loads_no_database_stack(office_pg):
    worker = office_pg.worker(env={"OFFICE_ENABLED": "false"})
    worker.wait_log("celery-office: disabled")
    main, pools = _stacks(office_pg, worker)
    assert main["modules"] == [] and main["frozen"] == 0  # nothing of the plugin at work
    assert pools and all(modules == [] for modules in pools.values()), pools


def test_a_worker_with_migrated_tables_never_imports_alembic_nor_the_orm(office_pg):
    worker = office_pg.worker()  # office_pg's database is at head already
    worker.wait_log("reported to the office")
    office_pg.send("scan_prices").get(timeout=20)
    office_pg.wait_for(lambda rows: any(r.last_activity for r in rows.values()),
                       what="a run written: the whole write path at work")
    main, pools = _stacks(office_pg, worker)
    assert "sqlalchemy" in main["modules"] and "alembic" not in main["modules"]  # it writes
    assert "sqlalchemy.orm" not in main["modules"]  # Core alone: some 7 MiB less
    assert main["frozen"] > 0  # gc.freeze() before the pool forked
    assert pools and all("alembic" not in modules for modules in pools.values()), pools


def test_a_worker_that_migrates_imports_alembic(fresh_pg_url, redis_url, tmp_path):
    """The other side of the one above: the probe sees Alembic where it is imported."""
    office = Office(fresh_pg_url, redis_url, tmp_path)
    try:
        worker = office.worker()
        worker.wait_log("reported to the office")
        main, _pools = _stacks(office, worker)
        assert "alembic" in main["modules"]
    finally:
        office.close()
