"""Celery's embedded test worker (the classic ``celery_app`` / ``celery_worker`` fixtures that
pytest-celery loads): the step runs in-process, and the worker stops through ``terminate``
alone (no ``worker_shutdown``), the path a cold shutdown takes too.

A user testing their own app this way gets the office with it; this checks that the rows follow
and that the terminate path still retires the agents."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine

import celery_office
from celery_office import AgentStatus, agent_statuses

REGISTRY = """
agents:
  embedded_agent:
    department: watcher
    name: Встроенный агент
    tasks:
      embedded.scan: Сканирование
"""


@pytest.fixture(scope="session")
def celery_config() -> dict[str, object]:
    return {"broker_url": "memory://", "result_backend": "cache+memory://"}


@pytest.fixture
def office_app(celery_app, sqlite_url: str, tmp_path: Path, monkeypatch):
    registry = tmp_path / "agents.yaml"
    registry.write_text(REGISTRY, encoding="utf-8")
    celery_app.conf.update(
        office_database_url=sqlite_url, office_agents_file=str(registry), office_flush_interval=0.05
    )

    @celery_app.task(name="embedded.scan")
    def scan(hold: float = 0.0) -> str:
        time.sleep(hold)
        return "done"

    celery_office.install(celery_app)
    root_level = logging.getLogger().level  # the embedded worker sets its own on the root
    yield celery_app
    from celery_office.worker.signals import OfficeSignals

    OfficeSignals.disconnect()
    logging.getLogger().setLevel(root_level)


def _row(url: str):
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {row.agent_id: row for row in agent_statuses(conn)}.get("embedded_agent")
    finally:
        engine.dispose()


def _wait(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_embedded_worker_reports_and_its_terminate_retires(office_app, sqlite_url: str) -> None:
    from celery.contrib.testing.worker import start_worker

    with start_worker(office_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        result = office_app.tasks["embedded.scan"].delay(hold=1.0)
        _wait(lambda: (row := _row(sqlite_url)) is not None and row.task == "Сканирование")
        assert result.get(timeout=10) == "done"
        _wait(lambda: _row(sqlite_url).task is None)
        assert _row(sqlite_url).status is AgentStatus.ok
    # start_worker stops through terminate alone: the step retires the agents there
    assert _row(sqlite_url).status is AgentStatus.offline
