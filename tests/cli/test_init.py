"""`celery office init`: a first agents.yaml from the app's registered tasks, that `office check`
accepts as it is. The real `celery` CLI in a subprocess, on the ADOLF example app and on an app
written here with the awkward names a real project has (Django's layout, custom task names that
YAML would misread, a module name too long for an agent id).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from celery_office import validation
from celery_office.cli.init import department_of
from celery_office.core.limits import AGENT_ID_MAX, DEPARTMENT_MAX, NAME_MAX
from celery_office.registry import parse_registry

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
LONG = "x" * 120  # a module name longer than an agent id may be


def celery(app: str, *args: str, cwd: Path, path: Path) -> subprocess.CompletedProcess[str]:
    """`celery -A app office ARGS` with `path` importable, as a user runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OFFICE_", "CELERY_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(path), os.environ.get("PYTHONPATH")]))
    env["PYTHONIOENCODING"] = "utf-8"
    env["ADOLF_DATA_DIR"] = str(cwd / ".adolf")
    return subprocess.run(
        [sys.executable, "-m", "celery", "-A", app, "office", *args],
        cwd=cwd, env=env, capture_output=True, text=True, encoding="utf-8", timeout=60,
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("celery office init: "), lines[0]
    return lines[0]


def adolf_tasks(tmp_path: Path) -> set[str]:
    """The example app's own tasks, as a process of its own registers them."""
    listed = subprocess.run(
        [sys.executable, "-c", "from adolf.app import app; print(' '.join(app.tasks))"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(EXAMPLES),
                           "ADOLF_DATA_DIR": str(tmp_path / ".adolf")},
        capture_output=True, text=True, check=True, timeout=60,
    )
    return {name for name in listed.stdout.split() if not name.startswith("celery.")}


# ------------------------------------------------------------------------------------ ADOLF


def test_init_then_check_on_the_example_app(tmp_path: Path) -> None:
    result = celery("adolf.app", "init", "--output", "agents.yaml", cwd=tmp_path, path=EXAMPLES)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Wrote agents.yaml: 8 agents, 15 tasks;"), result.stdout
    text = (tmp_path / "agents.yaml").read_text(encoding="utf-8")
    registry = parse_registry(text)
    own = adolf_tasks(tmp_path)
    assert len(own) == 15
    routed = {name: registry.route(name) for name in own}
    assert all(routed.values()), routed
    assert routed["adolf.tasks.watcher.poll_prices"].agent.department == "watcher"
    assert routed["adolf.tasks.reputation.process_wb_reviews"].agent.name == (
        "Process ozon reviews, process wb reviews, process ym reviews"
    )
    assert routed["adolf.tasks.watcher.poll_prices"].text == "Poll prices"
    listed = {name for agent in registry.agents.values() for name in agent.tasks}
    assert listed == own  # Celery's own celery.* tasks left out
    assert "# What to edit:" in text and "# adolf.tasks.watcher: 3 tasks" in text

    # `check` finds the file where init wrote it and accepts it as it is, warnings included.
    checked = celery("adolf.app", "check", "--strict", cwd=tmp_path, path=EXAMPLES)
    assert checked.returncode == 0, checked.stderr
    assert "agents.yaml: 8 agents, 15 of 15 tasks covered; 0 errors, 0 warnings" in checked.stdout


def test_init_prints_the_draft_without_output(tmp_path: Path) -> None:
    printed = celery("adolf.app", "init", cwd=tmp_path, path=EXAMPLES)
    assert printed.returncode == 0, printed.stderr
    assert printed.stderr == ""  # stdout is the file: `> agents.yaml` keeps only YAML
    written = celery("adolf.app", "init", "--output", "a.yaml", cwd=tmp_path, path=EXAMPLES)
    assert written.stdout.rstrip().endswith("office check --agents-file a.yaml")
    assert printed.stdout == (tmp_path / "a.yaml").read_text(encoding="utf-8")
    assert not list(tmp_path.glob("agents.yaml"))


def test_init_never_overwrites(tmp_path: Path) -> None:
    edited = tmp_path / "agents.yaml"
    edited.write_text("# edited by hand\n", encoding="utf-8")
    line = one_line_error(
        celery("adolf.app", "init", "--output", "agents.yaml", cwd=tmp_path, path=EXAMPLES)
    )
    assert line == ("celery office init: agents.yaml already exists: nothing written; edit it, "
                    "or choose another --output (or remove the file first)")
    assert edited.read_text(encoding="utf-8") == "# edited by hand\n"


def test_init_into_a_missing_folder(tmp_path: Path) -> None:
    line = one_line_error(
        celery("adolf.app", "init", "--output", "conf/agents.yaml", cwd=tmp_path, path=EXAMPLES)
    )
    assert f"the folder {tmp_path / 'conf'} does not exist; create it" in line
    assert not (tmp_path / "conf").exists()


def test_init_on_an_app_without_tasks_of_its_own(tmp_path: Path) -> None:
    (tmp_path / "bare.py").write_text("from celery import Celery\napp = Celery('bare')\n")
    line = one_line_error(celery("bare", "init", cwd=tmp_path, path=tmp_path))
    assert "the app bare registers no tasks of its own (only Celery's celery.*)" in line
    # No -A at all: Celery's default app, which has none either.
    no_app = subprocess.run([sys.executable, "-m", "celery", "office", "init"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert one_line_error(no_app) == (
        "celery office init: no app given: name yours with -A, e.g. celery -A proj office init"
    )


# ------------------------------------------------------------------------ a project's names

PROJECT = {
    "proj/__init__.py": "",
    "proj/celery.py": """
        from celery import Celery

        app = Celery("proj", broker="memory://")
        app.autodiscover_tasks(["shop", "billing", "long"])  # Django's way: lazily, by package
        app.conf.imports = ["shop.jobs"]

        @app.task(bind=True)
        def debug_task(self):
            return None
        """,
    "shop/__init__.py": "",
    "shop/tasks.py": """
        from proj.celery import app

        @app.task
        def send_receipt():
            return None

        @app.task(name="yes")                 # YAML 1.1 reads it as true unless quoted
        def confirm():
            return None

        @app.task(name="emails: send #1")     # ': ' and ' #' mean something in YAML
        def send_first_email():
            return None

        @app.task(name="reports[daily]")      # '[' would make the name a glob
        def daily_report():
            return None
        """,
    "shop/jobs.py": """
        from proj.celery import app

        @app.task
        def restock():
            return None
        """,
    "billing/__init__.py": "",
    "billing/tasks/__init__.py": "from . import charge, shop  # noqa: F401\n",
    "billing/tasks/charge.py": """
        from proj.celery import app

        @app.task
        def charge_card():
            return None
        """,
    "billing/tasks/shop.py": """
        from proj.celery import app

        @app.task
        def refund():
            return None
        """,
    "long/__init__.py": "",
    "long/tasks/__init__.py": f"from . import {LONG}  # noqa: F401\n",
    f"long/tasks/{LONG}.py": """
        from proj.celery import app

        @app.task
        def archive_everything_that_was_ever_written_down_by_anyone_at_the_company():
            return None
        """,
}


def test_init_then_check_on_a_project_with_awkward_names(tmp_path: Path) -> None:
    for name, body in PROJECT.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(textwrap.dedent(body), encoding="utf-8")
    result = celery("proj", "init", "--output", "agents.yaml", cwd=tmp_path, path=tmp_path)
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "agents.yaml").read_text(encoding="utf-8")
    registry = parse_registry(text)
    agents = {name: registry.route(name).agent for name in [  # type: ignore[union-attr]
        "proj.celery.debug_task", "shop.tasks.send_receipt", "yes", "emails: send #1",
        "reports[daily]", "shop.jobs.restock", "billing.tasks.charge.charge_card",
        "billing.tasks.shop.refund",
        f"long.tasks.{LONG}.archive_everything_that_was_ever_written_down_by_anyone_at_the_company",
    ]}
    ids = {name: agent.agent_id for name, agent in agents.items()}
    assert ids["proj.celery.debug_task"] == "proj"
    assert ids["shop.jobs.restock"] == "shop"
    # two modules, one department: the second agent id is its module's whole path
    assert ids["shop.tasks.send_receipt"] == ids["yes"] == ids["emails: send #1"] == "shop_tasks"
    assert ids["billing.tasks.charge.charge_card"] == "billing_charge"
    assert ids["billing.tasks.shop.refund"] == "billing_shop"
    assert {agents[name].department for name in ids if "billing" in name} == {"billing"}
    assert agents["yes"].tasks == {"shop.tasks.send_receipt": "Send receipt", "yes": "Yes",
                                   "emails: send #1": "Emails: send #1",
                                   "reports[[]daily]": "Reports[daily]"}
    assert registry.route("reportsd") is None  # the escaped name matches itself alone
    for agent in registry.agents.values():  # within the contract's limits, as check says too
        assert validation.agent_id(agent.agent_id) == agent.agent_id
        assert len(agent.agent_id) <= AGENT_ID_MAX and len(agent.department) <= DEPARTMENT_MAX
        assert len(agent.name) <= NAME_MAX
    assert max(len(agent.agent_id) for agent in registry.agents.values()) == AGENT_ID_MAX

    checked = celery("proj", "check", "--strict", cwd=tmp_path, path=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "6 agents, 9 of 9 tasks covered; 0 errors, 0 warnings" in checked.stdout


@pytest.mark.parametrize(("module", "department"), [
    ("adolf.tasks.watcher", "watcher"),  # the app's own tasks folder: one module a department
    ("app.tasks.watcher.polling", "watcher"),
    ("app.tasks", "app"),
    ("app.celery", "app"),
    ("shop.tasks", "shop"),  # another package's (a Django app's) tasks: the package's
    ("billing.tasks.charge", "billing"),
    ("app.billing.jobs", "billing"),
    ("cli_app", "cli_app"),
    ("tasks.watcher", "watcher"),
    ("tasks", "general"),
    ("", "general"),
])
def test_department_of_a_module(module: str, department: str) -> None:
    assert department_of(module, home={"adolf", "app"}) == department
