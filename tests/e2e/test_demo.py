"""The README's first command: the demo runs end to end on embedded defaults, in bounded time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from celery_office import AgentStatus, agent_statuses

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_the_office_and_ends_offline(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OFFICE_", "CELERY_")) and k != "ADOLF_DATA_DIR"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py"), "--rounds", "1", "--seed", "7"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    out = done.stdout
    assert "14 agents:" in out and "14 offline" in out  # the final status
    assert "error" in out  # the seeded round has failures, shown while the worker ran
    engine = create_engine(f"sqlite:///{tmp_path / '.adolf' / 'office.db'}")
    with engine.connect() as conn:
        rows = agent_statuses(conn)
    engine.dispose()
    assert len(rows) == 14
    assert {r.department for r in rows} == {
        "watcher", "reputation", "content_factory", "marketing", "scout", "cfo", "knowledge", "lex"
    }
    assert {r.status for r in rows} == {AgentStatus.offline}
    assert sum(1 for r in rows if r.metrics) >= 10  # @metrics of the tasks that succeeded
