"""A wrong agents.yaml stops a real worker at start: non-zero exit, one line naming file, line,
agent, field and the fix. Nothing half-configured runs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import HERE

pytestmark = pytest.mark.e2e

GOOD_AGENT = """\
  watcher_price_monitor:
    department: watcher
    name: Мониторинг цен
    tasks:
      office_app.scan_prices: Сканирование
"""

CASES = {
    "unknown key": (
        "agents:\n  reputation_wb:\n    departmnet: reputation\n    name: WB\n"
        "    tasks:\n      office_app.flaky_reviews: t\n",
        ["agents.yaml:3:", "agent 'reputation_wb'", "field 'departmnet'",
         "did you mean 'department'"],
    ),
    "duplicate agent id": (
        "agents:\n" + GOOD_AGENT + GOOD_AGENT,
        ["agents.yaml:7:", "watcher_price_monitor", "duplicate agent id", "line 2"],
    ),
    "missing department": (
        "agents:\n  reputation_wb:\n    name: WB\n    tasks:\n      office_app.flaky_reviews: t\n",
        ["agents.yaml:2:", "agent 'reputation_wb'", "field 'department'", "missing"],
    ),
    "missing name": (
        "agents:\n  reputation_wb:\n    department: reputation\n"
        "    tasks:\n      office_app.flaky_reviews: t\n",
        ["agents.yaml:2:", "agent 'reputation_wb'", "field 'name'"],
    ),
    "wrong type": (
        "agents:\n  reputation_wb:\n    department: reputation\n    name: WB\n"
        "    salary_equivalent: lots\n    tasks:\n      office_app.flaky_reviews: t\n",
        ["agents.yaml:5:", "agent 'reputation_wb'", "field 'salary_equivalent'", "integer"],
    ),
    "beyond the column": (
        "agents:\n  reputation_wb:\n    department: " + "d" * 51 + "\n    name: WB\n"
        "    tasks:\n      office_app.flaky_reviews: t\n",
        ["agents.yaml:3:", "agent 'reputation_wb'", "field 'department'", "at most 50 characters"],
    ),
    "no tasks": (
        "agents:\n  reputation_wb:\n    department: reputation\n    name: WB\n    tasks: {}\n",
        ["agents.yaml:5:", "agent 'reputation_wb'", "field 'tasks'"],
    ),
    "NUL in a task's text": (  # once passed the start, then PostgreSQL refused every run
        "agents:\n" + GOOD_AGENT.replace("Сканирование", '"Скан\\0ирование"'),
        ["agents.yaml:6:", "agent 'watcher_price_monitor'", "field 'tasks'", "NUL character",
         "remove it"],
    ),
    "lone surrogate in a name": (
        "agents:\n" + GOOD_AGENT.replace("Мониторинг цен", '"Мониторинг \\udcff"'),
        ["agents.yaml:4:", "field 'name'", "lone surrogate (U+DCFF)"],
    ),
    "500-character agent id": (
        "agents:\n" + GOOD_AGENT.replace("watcher_price_monitor", "w" * 500),
        ["agents.yaml:2:", "agent '" + "w" * 99 + "…'", "at most 100 characters, got 500"],
    ),
    "empty file": ("# nothing here\n", ["agents.yaml", "empty"]),
    "invalid yaml": (
        "agents:\n  reputation_wb:\n    department: [reputation\n    name: WB\n",
        ["agents.yaml:", "invalid YAML"],
    ),
    "glob conflict": (
        "agents:\n  a:\n    department: watcher\n    name: A\n"
        "    tasks:\n      'office_app.scan_*': null\n"
        "  b:\n    department: watcher\n    name: B\n"
        "    tasks:\n      'office_app.*_prices': null\n",
        ["agents.yaml:", "office_app.scan_prices", "'a'", "'b'", "exact"],
    ),
}


def _run_worker(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "celery", "-A", "office_app", "worker", "-P", "solo",
         "-l", "info", "--without-mingle", "--without-gossip"],
        cwd=HERE, env=env, capture_output=True, text=True, timeout=60,
    )


@pytest.fixture
def worker_env(tmp_path, monkeypatch):
    import os

    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        "CELERY_BROKER_URL": "memory://",
        "OFFICE_DATABASE_URL": f"sqlite:///{tmp_path / 'office.db'}",
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_registry_stops_the_worker(case, tmp_path, worker_env):
    content, expected = CASES[case]
    path = tmp_path / "agents.yaml"
    path.write_text(content, encoding="utf-8")
    done = _run_worker({**worker_env, "OFFICE_AGENTS_FILE": str(path)})
    assert done.returncode != 0, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("celery-office:")]
    assert len(lines) == 1, done.stderr
    assert str(path) in lines[0]
    for part in expected:
        assert part in lines[0], (part, lines[0])
    assert "w" * 100 not in lines[0]  # long values are cut in the line
    assert "Traceback" not in done.stderr
    assert "ready." not in done.stdout + done.stderr


def test_missing_registry_names_the_path_and_the_setting(tmp_path, worker_env):
    path = tmp_path / "nowhere" / "agents.yaml"
    done = _run_worker({**worker_env, "OFFICE_AGENTS_FILE": str(path)})
    assert done.returncode != 0
    assert str(path) in done.stderr
    assert "OFFICE_AGENTS_FILE" in done.stderr and "office_agents_file" in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_setting_stops_the_worker(tmp_path, worker_env):
    done = _run_worker(
        {**worker_env, "OFFICE_AGENTS_FILE": str(HERE / "agents.yaml"),
         "OFFICE_FLUSH_INTERVAL": "soon"}
    )
    assert done.returncode != 0
    assert "OFFICE_FLUSH_INTERVAL must be a number of seconds, got 'soon'" in done.stderr
