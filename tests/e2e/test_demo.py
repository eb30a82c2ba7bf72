"""The README's first command: the demo runs end to end on embedded defaults, in bounded time."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from celery_office import AgentStatus, agent_statuses
from celery_office.cli.status_view import HEADERS

STATUS, TASK = HEADERS.index("STATUS"), HEADERS.index("TASK")  # the table's columns, by name

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SEED = 7


def _planned_failures(seed: int) -> set[str]:
    """The agents whose task the demo's first round makes fail (examples/adolf/round.py)."""
    spec = importlib.util.spec_from_file_location("adolf_round", ROOT / "examples/adolf/round.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)  # the plan alone: no Celery app is made
        return {item.agent_id for item in module.plan_round(seed=seed) if item.outcome == "fail"}
    finally:
        del sys.modules[spec.name]


def _redraws(out: str) -> list[dict[str, list[str]]]:
    """Each redraw of `office status --watch` while the worker ran: agent id -> its cells."""
    running = out.split("Stopping the worker warmly")[0]
    tables = []
    for block in re.split(r"^celery office status · .*$", running, flags=re.M)[1:]:
        rows = {}
        for line in block.splitlines():
            cells = re.split(r" {2,}", line.strip())
            if len(cells) > TASK and cells[STATUS] in ("ok", "warning", "error", "offline"):
                rows[cells[0]] = cells
        tables.append(rows)
    return tables


def test_demo_runs_the_office_and_ends_offline(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OFFICE_", "CELERY_")) and k != "ADOLF_DATA_DIR"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py"), "--rounds", "1", "--seed", str(SEED)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    out = done.stdout
    assert "14 agents:" in out and "14 offline" in out  # the final status
    # The seeded round's failures were shown while the worker ran: in some redraw, each
    # failing agent's row reads error with the exception's text (the footer's "0 error" and
    # the word in a header do not count), and no other agent is in error.
    failing = _planned_failures(SEED)
    assert len(failing) == 2, failing
    shown = [
        rows for rows in _redraws(out)
        if {agent for agent, cells in rows.items() if cells[STATUS] == "error"} == failing
    ]
    assert shown, out
    for agent in failing:
        assert shown[-1][agent][TASK].startswith("Ошибка: "), shown[-1][agent]
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
