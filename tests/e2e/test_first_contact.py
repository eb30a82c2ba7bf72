"""A team's first contact outside ADOLF (found integrating it into an open-source Django app):
where statuses go when no database is named, settings Celery never reads, agents.yaml beside
the app module, a start-up log without Alembic's chatter, and counts that read as English.

Each test runs a real worker or a real ``celery office`` command from a working directory of
its own, with an app module it writes there.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from celery_office import agent_statuses

from .conftest import Worker

pytestmark = pytest.mark.e2e

APP = '''
import os
from celery import Celery
import celery_office

class Settings:  # what Django's settings module is to config_from_object
    CELERY_BROKER_URL = os.environ["SHOP_BROKER_URL"]
    CELERY_TASK_DEFAULT_QUEUE = os.environ["SHOP_QUEUE"]
    OFFICE_FLUSH_INTERVAL = 0.2  # invisible with namespace="CELERY": the warning names it

app = Celery("shopapp")
app.config_from_object(Settings, namespace="CELERY")
celery_office.install(app)

@app.task(name="shop.sync")
def sync():
    return None
'''

AGENTS = '''
agents:
  shop_sync:
    department: watcher
    name: Синхронизация
    tasks:
      shop.sync: Синхронизация каталога
'''


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OFFICE_", "CELERY_"))}
    return {**env, "PYTHONIOENCODING": "utf-8", **extra}


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """The app's folder (its module and agents.yaml); the worker runs from another one."""
    folder = tmp_path / "shop"
    folder.mkdir()
    (folder / "shopapp.py").write_text(textwrap.dedent(APP), encoding="utf-8")
    (folder / "agents.yaml").write_text(textwrap.dedent(AGENTS), encoding="utf-8")
    return folder


def test_a_worker_started_elsewhere_finds_agents_yaml_beside_the_app_and_says_little(
    shop: Path, fresh_pg_url: str, redis_url: str, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = _env(PYTHONPATH=str(shop), SHOP_BROKER_URL=redis_url,
               SHOP_QUEUE=f"office-first-{uuid.uuid4().hex[:8]}", OFFICE_DATABASE_URL=fresh_pg_url)
    worker = Worker(env, tmp_path / "worker.log",
                    ["-A", "shopapp", "worker", "-P", "prefork", "-c", "1", "-n", "first@%h",
                     "-l", "info", "--without-mingle", "--without-gossip"])
    try:
        worker.start_in(elsewhere)
        worker.wait_log("agent registered in")
        engine = create_engine(fresh_pg_url)
        try:
            with engine.connect() as conn:
                assert [row.agent_id for row in agent_statuses(conn)] == ["shop_sync"]
        finally:
            engine.dispose()
    finally:
        worker.close()
    log = worker.log
    assert "1 task of 1 agent reported to the office" in log
    assert "1 agent registered in" in log
    # the database was fresh, so the worker migrated it: nothing of Alembic's own lines
    for chatter in ("setup plugin", "Context impl", "Will assume transactional DDL",
                    "Running upgrade"):
        assert chatter not in log, chatter
    # a setting Celery never reads under namespace="CELERY" is named, with its right name
    assert ("defines OFFICE_FLUSH_INTERVAL, which Celery does not read with "
            "namespace='CELERY': rename it CELERY_OFFICE_FLUSH_INTERVAL") in log


def _office(shop: Path, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "celery", "-A", "shopapp", "office", *args],
        cwd=cwd, env=_env(PYTHONPATH=str(shop), SHOP_BROKER_URL="memory://", SHOP_QUEUE="q",
                          **env),
        capture_output=True, text=True, encoding="utf-8", timeout=60,
    )


def test_office_commands_say_where_statuses_go_when_no_database_is_named(
    shop: Path, tmp_path: Path
) -> None:
    result = _office(shop, tmp_path, "migrate")
    assert result.returncode == 0, result.stderr
    expected = tmp_path / "office.db"
    assert expected.exists()
    notice = [line for line in result.stderr.splitlines()
              if "office_database_url is not set" in line]
    assert len(notice) == 1, result.stderr
    assert str(expected) in notice[0] and "OFFICE_DATABASE_URL" in notice[0]
    assert notice[0].startswith("celery office migrate: warning: ")
    named = _office(shop, tmp_path, "migrate", OFFICE_DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}")
    assert "office_database_url is not set" not in named.stderr


def test_office_commands_name_a_setting_celery_never_reads(shop: Path, tmp_path: Path) -> None:
    result = _office(shop, tmp_path, "check")
    lines = [line for line in result.stderr.splitlines() if "OFFICE_FLUSH_INTERVAL" in line]
    assert lines == [
        "celery office check: warning: the app's configuration defines OFFICE_FLUSH_INTERVAL, "
        "which Celery does not read with namespace='CELERY': rename it "
        "CELERY_OFFICE_FLUSH_INTERVAL"
    ], result.stderr


def test_a_missing_agents_yaml_names_every_place_looked(shop: Path, tmp_path: Path) -> None:
    (shop / "agents.yaml").unlink()
    result = _office(shop, tmp_path, "check")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert str(tmp_path / "agents.yaml") in line and str(shop / "agents.yaml") in line, line
    assert "office_agents_file" in line
