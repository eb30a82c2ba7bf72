"""A new user's first hour, from the built files: a clean virtual environment far from the
source tree, the wheel or the sdist installed with ``celery[redis]``, and an app this project
has never seen, run by a real prefork worker on PostgreSQL and Redis.

Every command is the one the README gives; every assertion is on the table the dashboard reads.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from sqlalchemy import create_engine

from celery_office import agent_statuses

from .conftest import Dist, from_source_tree

pytestmark = [pytest.mark.package, pytest.mark.e2e]

APP = '''
import os
import time

from celery import Celery

import celery_office

app = Celery("shopapp", broker=os.environ["SHOP_BROKER_URL"])
app.conf.task_default_queue = os.environ["SHOP_QUEUE"]
celery_office.install(app)


@app.task(name="shop.sync_prices")
@celery_office.metrics
def sync_prices(seconds=0.0):
    time.sleep(seconds)
    return {"prices_synced": 42}


@app.task(name="shop.answer_reviews")
def answer_reviews():
    raise RuntimeError("marketplace API down")
'''

AGENTS = '''
agents:
  shop_prices:
    department: watcher
    name: Цены магазина
    brand: shop
    tasks:
      shop.sync_prices: Синхронизация цен
  shop_reviews:
    department: reputation
    name: Отзывы магазина
    tasks:
      shop.answer_reviews: Ответы на отзывы
'''


class CleanInstall:
    """A virtual environment with one distribution file installed, and an app beside it."""

    def __init__(self, where: Path, dist_file: Path) -> None:
        self.venv = where / "venv"
        self.app_dir = where / "shop"
        subprocess.run([sys.executable, "-m", "venv", str(self.venv)], check=True, timeout=120)
        self._run([str(self.bin("python")), "-m", "pip", "install", "--quiet",
                   "--disable-pip-version-check", str(dist_file), "celery[redis]"], timeout=900)
        self.app_dir.mkdir()
        (self.app_dir / "shopapp.py").write_text(textwrap.dedent(APP), encoding="utf-8")
        (self.app_dir / "agents.yaml").write_text(textwrap.dedent(AGENTS), encoding="utf-8")

    def bin(self, name: str) -> Path:
        return self.venv / "bin" / name

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env["PATH"] = os.pathsep.join([str(self.venv / "bin"), env.get("PATH", "")])
        return {**env, **extra}

    def _run(self, args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(args, capture_output=True, text=True, env=kwargs.pop("env", None)
                                or self.env(), cwd=kwargs.pop("cwd", None), **kwargs)
        assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
        return result

    def celery(self, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return self._run([str(self.bin("celery")), "-A", "shopapp", *args], env=env,
                         cwd=self.app_dir, timeout=120)


@pytest.fixture(params=["wheel", "sdist"])
def clean_install(request: pytest.FixtureRequest, dist: Dist,
                  tmp_path_factory: pytest.TempPathFactory) -> CleanInstall:
    return CleanInstall(tmp_path_factory.mktemp(f"user-{request.param}"),
                        getattr(dist, request.param))


@pytest.fixture
def worker_log(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "worker.log"


def _wait(check: Callable[[], bool], what: str, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; worker log:\n"
                         f"{log.read_text(errors='replace')}")


def test_a_clean_install_runs_an_app_it_has_never_seen(
    clean_install: CleanInstall, fresh_pg_url: str, redis_url: str, worker_log: Path
) -> None:
    install = clean_install
    found = install._run([str(install.bin("python")), "-c",
                          "import celery_office; print(celery_office.__file__)"],
                         cwd=install.app_dir).stdout.strip()
    assert Path(found).resolve().is_relative_to(install.venv.resolve())
    assert not from_source_tree(found)

    queue = f"office-package-{uuid.uuid4().hex[:10]}"
    env = install.env(OFFICE_DATABASE_URL=fresh_pg_url, SHOP_BROKER_URL=redis_url,
                      SHOP_QUEUE=queue, OFFICE_FLUSH_INTERVAL="0.2")

    assert "Created the celery-office tables" in install.celery("office", "migrate", env=env).stdout
    checked = install.celery("office", "check", env=env).stdout
    assert "2 agents, 2 of 2 tasks covered; 0 errors" in checked

    engine = create_engine(fresh_pg_url)

    def rows() -> dict[str, Any]:
        with engine.connect() as conn:
            return {row.agent_id: row for row in agent_statuses(conn)}

    with open(worker_log, "wb") as log:
        worker = subprocess.Popen(
            [str(install.bin("celery")), "-A", "shopapp", "worker", "-P", "prefork", "-c", "2",
             "-n", "package@%h", "-l", "info", "--without-mingle", "--without-gossip"],
            cwd=install.app_dir, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait(lambda: "ready." in worker_log.read_text(errors="replace"), "the worker", worker_log)
        client = Celery("client", broker=redis_url)
        client.send_task("shop.sync_prices", kwargs={"seconds": 2.0}, queue=queue)
        _wait(lambda: getattr(rows().get("shop_prices"), "task", None) == "Синхронизация цен",
              "shop_prices working", worker_log)
        _wait(lambda: (r := rows().get("shop_prices")) is not None and r.task is None
              and r.metrics == {"prices_synced": 42}, "shop_prices idle with metrics", worker_log)
        client.send_task("shop.answer_reviews", queue=queue)
        _wait(lambda: getattr(rows().get("shop_reviews"), "task", None)
              == "Ошибка: RuntimeError: marketplace API down", "shop_reviews in error", worker_log)
        assert rows()["shop_reviews"].status.value == "error"

        shown = json.loads(install.celery("office", "status", "--json", env=env).stdout)
        statuses = {a["agent_id"]: a["effective_status"] for a in shown["agents"]}
        assert statuses == {"shop_prices": "ok", "shop_reviews": "error"}

        worker.send_signal(signal.SIGTERM)  # warm shutdown: the agents go offline
        assert worker.wait(60) == 0
        assert {a: r.status.value for a, r in rows().items()} == {
            "shop_prices": "offline", "shop_reviews": "offline"}
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
        engine.dispose()
