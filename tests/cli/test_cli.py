"""`celery office`: the real `celery` CLI in a subprocess, on real databases, plus its pure helpers.

The app is `tests/cli_cases/cli_app.py`; its database and registry come from OFFICE_DATABASE_URL
and OFFICE_AGENTS_FILE, as a user's would.
"""

from __future__ import annotations

import json
import os
import pty
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, update

from celery_office import OfficeReporter, create_office_engine
from celery_office.cli.database import db_error_reason
from celery_office.cli.status_view import (
    THIN_SPACE,
    compact_metrics,
    format_amount,
    salary_total,
    status_counts,
    status_footer,
    status_json,
    status_table,
)
from celery_office.cli.table import display_width, fit_widths, render_table, truncate
from celery_office.core.statuses import AgentStatus
from celery_office.core.texts import human_duration
from celery_office.db.models import OfficeAgentStatus
from celery_office.db.read import AgentRow
from celery_office.render import one_line

CASES = Path(__file__).parent / "cli_cases"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
SECRET = "s3cret-pw"
UNREACHABLE = f"postgresql+psycopg2://office:{SECRET}@127.0.0.1:1/x"
LONG_TASK = (
    "Сканирование цен конкурентов на Wildberries и Ozon, страница 14 из 200, "
    "категория «Детская одежда», бренд ohana_market"
)
AGENTS = {  # agent_id -> (department, brand, salary, fte)
    "watcher_price_monitor": ("watcher", "ohana_market", 60000, 1.0),
    "reputation_reviews": ("reputation", "ohana_kids", 70000, 0.5),
    "content_cards": ("content", "ohana_market", 100000, 1.5),
    "watcher_night_agent": ("watcher", None, 45000, 0.5),
}
# Not offline: 60000 + 35000 + 150000; the night agent (22 500) is silent for 10 minutes.
SALARY = 245000


# ------------------------------------------------------------------------------------ helpers


def _env(url: str | None = None, agents_file: str | None = None, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OFFICE_", "CELERY_")) and k not in ("NO_COLOR", "COLUMNS")
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(CASES), os.environ.get("PYTHONPATH")]))
    env["PYTHONIOENCODING"] = "utf-8"
    env["PYTHONUNBUFFERED"] = "1"
    if url is not None:
        env["OFFICE_DATABASE_URL"] = url
    if agents_file is not None:
        env["OFFICE_AGENTS_FILE"] = agents_file
    env.update(extra)
    return env


def _argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "cli_app", "office", *args]


def office(*args: str, url: str | None = None, agents_file: str | None = None,
           **extra: str) -> subprocess.CompletedProcess[str]:
    """Run `celery -A cli_app office ARGS` and return its result."""
    return subprocess.run(
        _argv(*args),
        cwd=CASES,
        env=_env(url, agents_file, **extra),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], command: str) -> str:
    """Exit status 1, one line on stderr naming the command, no traceback; returns the line."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"celery office {command}: "), lines[0]
    return lines[0]


def table_rows(stdout: str) -> dict[str, list[str]]:
    """agent_id -> the cells of its row in the status table."""
    rows = {}
    for line in stdout.splitlines():
        cells = re.split(r" {2,}", line.strip())
        if cells and cells[0] in AGENTS:
            rows[cells[0]] = cells
    return rows


def _populate(url: str) -> None:
    engine = create_office_engine(url)
    try:
        reporters = {
            agent_id: OfficeReporter(agent_id, dept, agent_id.replace("_", " "), brand, salary,
                                     fte, engine=engine)
            for agent_id, (dept, brand, salary, fte) in AGENTS.items()
        }
        reporters["watcher_price_monitor"].report_working(
            LONG_TASK, metrics={"products_scanned": 150, "errors": 0}
        )
        reporters["reputation_reviews"].report_idle(metrics={"reviews": 12})
        reporters["content_cards"].report_error("Wildberries API timeout after 30s")
        reporters["watcher_night_agent"].report_working("Ночная проверка цен")
        with engine.begin() as conn:
            conn.execute(
                update(OfficeAgentStatus)
                .where(OfficeAgentStatus.agent_id == "watcher_night_agent")
                .values(last_activity=datetime.now(timezone.utc) - timedelta(minutes=10))
            )
    finally:
        engine.dispose()


@pytest.fixture
def office_db(db_url: str) -> str:
    """A migrated database (PostgreSQL, then SQLite) with four agents, one silent for 10 min."""
    _populate(db_url)
    return db_url


@pytest.fixture
def office_pg(pg_url: str) -> str:
    _populate(pg_url)
    return pg_url


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) | set(inspect(engine).get_view_names())
    finally:
        engine.dispose()


# ------------------------------------------------------------------------------------ plugin


def test_celery_help_lists_office() -> None:
    result = subprocess.run([sys.executable, "-m", "celery", "--help"], capture_output=True,
                            text=True, timeout=60, env=_env())
    assert result.returncode == 0
    assert re.search(r"^\s+office\s", result.stdout, re.M)
    result = office("--help")
    assert result.returncode == 0
    assert {"migrate", "status", "check"} <= set(re.findall(r"^\s+(\w+)\s", result.stdout, re.M))


def test_other_celery_commands_do_not_load_the_office() -> None:
    """Celery loads every entry point on each `celery ...` run: ours must not pull in
    SQLAlchemy, Alembic or PyYAML for commands that are not `celery office`."""
    code = (
        "import sys\n"
        "from importlib.metadata import entry_points\n"
        "[ep.load() for ep in entry_points(group='celery.commands') if ep.name == 'office']\n"
        "print(' '.join(m for m in ('sqlalchemy', 'alembic', 'yaml', 'celery_office.cli.commands')"
        " if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, env=_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_public_names_are_the_functions_not_their_modules() -> None:
    code = (  # the submodules first
        "import celery_office.cli.commands, celery_office.worker.task_metrics\n"
        "import celery_office.db.schema, celery_office\n"
        "from celery_office import metrics, migrate, progress, OfficeReporter\n"
        "print(all(callable(f) and not isinstance(f, type(celery_office))"
        " for f in (metrics, migrate, progress, celery_office.migrate, celery_office.metrics)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, env=_env())
    assert result.stdout.strip() == "True", result.stderr


# ------------------------------------------------------------------------------------ migrate


def test_migrate_sqlite_creates_then_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'office.db'}"
    first = office("migrate", url=url)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("Created the celery-office tables"), first.stdout
    assert first.stdout.strip().endswith(f"in {url}")
    assert len(first.stdout.strip().splitlines()) == 1
    tables = _tables(url)
    assert {"office_agent_status", "office_agent_status_effective"} <= tables
    second = office("migrate", url=url)
    assert second.returncode == 0, second.stderr
    assert "up to date" in second.stdout
    assert _tables(url) == tables


def test_migrate_postgres_twice_with_option_and_hidden_password(fresh_pg_url: str) -> None:
    # Trust authentication ignores the password: it is there to be hidden.
    from sqlalchemy.engine import make_url

    with_password = make_url(fresh_pg_url).set(password=SECRET).render_as_string(
        hide_password=False
    )
    for expected in ("Created the celery-office tables", "up to date"):
        # The option beats OFFICE_DATABASE_URL, which points nowhere here.
        result = office("migrate", "--database-url", with_password, url=UNREACHABLE)
        assert result.returncode == 0, result.stderr
        assert expected in result.stdout
        assert SECRET not in result.stdout + result.stderr
        assert ":***@" in result.stdout
    assert "office_agent_status" in _tables(fresh_pg_url)


def test_migrate_unreachable_database() -> None:
    result = office("migrate", url=UNREACHABLE)
    line = assert_one_line_error(result, "migrate")
    assert SECRET not in line
    assert "office:***@127.0.0.1:1/x" in line
    assert "connection refused" in line.lower()
    assert "OFFICE_DATABASE_URL" in line


# ------------------------------------------------------------------------------------ status


def test_status_table(office_db: str) -> None:
    result = office("status", "--wide", url=office_db)
    assert result.returncode == 0, result.stderr
    assert not ANSI.search(result.stdout)  # piped: plain text
    assert result.stdout.splitlines()[0].split() == [
        "AGENT", "DEPARTMENT", "BRAND", "STATUS", "LAST", "SEEN", "TODAY", "FAIL", "TASK",
        "METRICS"
    ]
    rows = table_rows(result.stdout)
    assert set(rows) == set(AGENTS)
    assert rows["watcher_price_monitor"][1:4] == ["watcher", "ohana_market", "ok"]
    assert rows["watcher_price_monitor"][5:7] == ["0", "0"]  # no run today
    assert rows["watcher_price_monitor"][7] == LONG_TASK  # --wide: not cut
    assert rows["watcher_price_monitor"][8] == "errors=0, products_scanned=150"
    assert rows["reputation_reviews"][3:8] == ["ok", rows["reputation_reviews"][4], "0", "0", "—"]
    assert rows["content_cards"][3] == "error"
    assert rows["content_cards"][7] == "Ошибка: Wildberries API timeout after 30s"
    assert rows["watcher_night_agent"][2:5] == ["—", "offline", "10m ago"]
    assert re.fullmatch(r"\d+s ago", rows["watcher_price_monitor"][4])
    assert "4 agents: 2 ok, 0 warning, 1 error, 1 offline" in result.stdout
    assert f"Salary equivalent: 245{THIN_SPACE}000 ₽/month" in result.stdout


def test_status_json(office_db: str) -> None:
    result = office("status", "--json", url=office_db)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    agents = {agent["agent_id"]: agent for agent in data["agents"]}
    assert set(agents) == set(AGENTS)
    assert {a: v["effective_status"] for a, v in agents.items()} == {
        "watcher_price_monitor": "ok",
        "reputation_reviews": "ok",
        "content_cards": "error",
        "watcher_night_agent": "offline",
    }
    night = agents["watcher_night_agent"]
    assert night["status"] == "ok" and night["task"] == "Ночная проверка цен"
    assert 590 < night["silent_for"] < 900
    assert night["brand"] is None
    assert night["fte_coefficient"] == 0.5 and night["salary_equivalent"] == 45000
    scan = agents["watcher_price_monitor"]
    assert scan["task"] == LONG_TASK
    assert scan["metrics"] == {"products_scanned": 150, "errors": 0}
    assert scan["name"] == "watcher price monitor"
    activity = datetime.fromisoformat(scan["last_activity"])
    assert activity.tzinfo is not None
    assert abs((datetime.now(timezone.utc) - activity).total_seconds()) < 120
    assert isinstance(agents["content_cards"]["fte_coefficient"], float)
    summary = data["summary"]
    assert summary["total"] == 4
    assert summary["counts"] == {"ok": 2, "warning": 0, "error": 1, "offline": 1}
    assert summary["salary_equivalent"] == SALARY
    assert summary["offline_after"] == 300.0
    datetime.fromisoformat(summary["generated_at"])


def test_status_offline_after_override(office_pg: str) -> None:
    data = json.loads(office("status", "--json", url=office_pg, OFFICE_OFFLINE_AFTER="3600").stdout)
    assert data["summary"]["counts"] == {"ok": 3, "warning": 0, "error": 1, "offline": 0}
    assert data["summary"]["salary_equivalent"] == SALARY + 22500
    assert data["summary"]["offline_after"] == 3600
    data = json.loads(office("status", "--json", "--offline-after", "0.25", url=office_pg).stdout)
    assert data["summary"]["counts"]["offline"] == 4
    assert data["summary"]["salary_equivalent"] == 0


def test_status_filters(office_pg: str) -> None:
    def ids(*args: str) -> set[str]:
        result = office("status", *args, url=office_pg)
        assert result.returncode == 0, result.stderr
        return set(table_rows(result.stdout))

    assert ids("--department", "watcher") == {"watcher_price_monitor", "watcher_night_agent"}
    assert ids("--department", "watcher", "--department", "content") == {
        "watcher_price_monitor", "watcher_night_agent", "content_cards"
    }
    assert ids("--brand", "ohana_kids") == {"reputation_reviews"}
    assert ids("--brand", "ohana_market", "--department", "content") == {"content_cards"}
    result = office("status", "--department", "watcher", url=office_pg)
    assert "2 agents: 1 ok, 0 warning, 0 error, 1 offline" in result.stdout
    assert f"60{THIN_SPACE}000 ₽/month" in result.stdout
    data = json.loads(office("status", "--json", "--brand", "ohana_market", url=office_pg).stdout)
    assert {a["agent_id"] for a in data["agents"]} == {"watcher_price_monitor", "content_cards"}
    assert data["summary"]["brands"] == ["ohana_market"]
    # A valid department and a valid brand that no agent has together: an empty table.
    result = office("status", "--department", "reputation", "--brand", "ohana_market",
                    url=office_pg)
    assert result.returncode == 0
    assert "No agents match the filters." in result.stdout


def test_status_unknown_department_or_brand(office_pg: str) -> None:
    line = assert_one_line_error(office("status", "--department", "marketing", url=office_pg),
                                 "status")
    assert "unknown department 'marketing'" in line
    assert "known departments: content, reputation, watcher" in line
    line = assert_one_line_error(
        office("status", "--json", "--brand", "nike", url=office_pg), "status"
    )
    assert "unknown brand 'nike'" in line
    assert "known brands: ohana_kids, ohana_market" in line


def test_status_database_unreachable() -> None:
    result = office("status", url=UNREACHABLE)
    line = assert_one_line_error(result, "status")
    assert SECRET not in result.stdout + result.stderr
    assert line == (
        "celery office status: cannot reach the database at "
        "postgresql+psycopg2://office:***@127.0.0.1:1/x: connection refused. "
        "Check office_database_url / OFFICE_DATABASE_URL."
    )
    # From the option, the hint names the option.
    line = assert_one_line_error(office("status", "--json", "--database-url", UNREACHABLE),
                                 "status")
    assert line.endswith("Check --database-url.")


def test_status_missing_tables(fresh_pg_url: str, tmp_path: Path) -> None:
    line = assert_one_line_error(office("status", url=fresh_pg_url), "status")
    assert "tables are missing" in line
    assert "run `celery -A cli_app office migrate` first" in line
    # An SQLite file that does not exist is not created by a read.
    missing = tmp_path / "nowhere.db"
    line = assert_one_line_error(office("status", url=f"sqlite:///{missing}"), "status")
    assert "run `celery -A cli_app office migrate` first" in line
    assert not missing.exists()


def test_status_bad_setting_and_url() -> None:
    line = assert_one_line_error(
        office("status", url="sqlite://", OFFICE_OFFLINE_AFTER="soon"), "status"
    )
    assert "OFFICE_OFFLINE_AFTER" in line
    line = assert_one_line_error(office("status", url="not a url"), "status")
    assert "not valid" in line


@pytest.mark.parametrize("command", ["status", "migrate"])
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            f"postgresql+psycopg2://office:{SECRET}@127.0.0.1:notaport/office",
            "the database URL is not valid: its port is not a number; expected "
            "dialect+driver://user:password@host:port/database. Check {hint}.",
        ),
        (
            f"postgresql+asyncpg://office:{SECRET}@127.0.0.1:1/x",
            "the database URL postgresql+asyncpg://office:***@127.0.0.1:1/x names the "
            "asynchronous driver 'asyncpg'",
        ),
        ("sqlite+aiosqlite:///office.db", "names the asynchronous driver 'aiosqlite'"),
    ],
    ids=["port-not-a-number", "asyncpg", "aiosqlite"],
)
def test_database_url_problems_are_one_line(command: str, url: str, expected: str) -> None:
    """Every command says what is wrong with the URL in one line (never a traceback, never
    the password), from the setting or from the option."""
    for args, hint in (((), "office_database_url / OFFICE_DATABASE_URL"),
                       (("--database-url", url), "--database-url")):
        result = office(command, *args, url=url if not args else "sqlite://")
        line = assert_one_line_error(result, command)
        assert SECRET not in result.stdout + result.stderr
        assert expected.format(hint=hint) in line, line
        assert line.endswith(f"Check {hint}."), line
        if "asynchronous" in expected:  # it names the synchronous driver to use instead
            sync = "postgresql+psycopg2://office:***@" if "asyncpg" in url else "sqlite:///"
            assert f"use {sync}" in line, line


def test_status_unknown_department_is_cut_in_the_message(office_pg: str) -> None:
    line = assert_one_line_error(office("status", "--department", "d" * 500, url=office_pg),
                                 "status")
    assert f"unknown department '{'d' * 98}…;" in line, line
    assert "d" * 120 not in line


def test_status_truncates_to_terminal_width(office_pg: str) -> None:
    result = office("status", url=office_pg, COLUMNS="100")
    assert result.returncode == 0, result.stderr
    table = result.stdout.split("\n\n")[0].splitlines()
    assert all(display_width(line) <= 100 for line in table), table
    # No room for METRICS and BRAND beside a readable task: left out, and said so.
    assert table[0].split() == ["AGENT", "DEPARTMENT", "STATUS", "LAST", "SEEN", "TODAY", "FAIL",
                                "TASK"]
    assert table[-1] == "(METRICS, BRAND left out to fit 100 columns; --wide shows all)"
    task = table_rows(result.stdout)["watcher_price_monitor"][6]
    assert task.endswith("…") and LONG_TASK.startswith(task[:-1])
    # JSON is never cut.
    data = json.loads(office("status", "--json", url=office_pg, COLUMNS="100").stdout)
    assert LONG_TASK in {a["task"] for a in data["agents"]}


def _run_on_tty(args: list[str], env: dict[str, str]) -> str:
    """Run with stdout on a pseudo-terminal (stderr piped); return what it printed."""
    try:
        master, slave = pty.openpty()
    except OSError as exc:  # pragma: no cover - a sandbox without pseudo-terminals
        pytest.skip(f"no pseudo-terminal: {exc}")
    try:
        proc = subprocess.Popen(args, cwd=CASES, env=env, stdout=slave,
                                stderr=subprocess.PIPE)
        os.close(slave)
        chunks = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
        proc.stderr.close()
        return b"".join(chunks).decode("utf-8")
    finally:
        os.close(master)


def test_status_colours_only_on_a_terminal(office_pg: str) -> None:
    env = _env(office_pg, COLUMNS="200")
    coloured = _run_on_tty(_argv("status"), env)
    assert "\x1b[32m" in coloured  # ok: green
    assert "\x1b[31m" in coloured  # error: red
    assert "\x1b[90m" in coloured  # offline: grey
    assert set(table_rows(ANSI.sub("", coloured))) == set(AGENTS)
    assert not ANSI.search(_run_on_tty(_argv("status", "--no-color"), env))
    celery_flag = [sys.executable, "-m", "celery", "-C", "-A", "cli_app", "office", "status"]
    assert not ANSI.search(_run_on_tty(celery_flag, env))
    assert not ANSI.search(_run_on_tty(_argv("status"), {**env, "NO_COLOR": "1"}))


def _start_watch(url: str, *args: str) -> tuple[subprocess.Popen[str], queue.Queue[str]]:
    proc = subprocess.Popen(
        _argv("status", *args), cwd=CASES, env=_env(url), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, encoding="utf-8",
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return proc, lines


def _wait_lines(lines: queue.Queue[str], wanted: int, matches, timeout: float = 40.0) -> list[str]:
    seen, hits = [], 0
    deadline = time.monotonic() + timeout
    while hits < wanted:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            pytest.fail(f"only {hits} of {wanted} redraws in {timeout}s: {''.join(seen)[-2000:]}")
        seen.append(line)
        hits += bool(matches(line))
    return seen


def _interrupt(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return code, proc.stderr.read()  # type: ignore[union-attr]


def test_status_watch_redraws_until_ctrl_c(office_pg: str) -> None:
    proc, lines = _start_watch(office_pg, "--watch", "0.5")
    try:
        seen = _wait_lines(lines, 3, lambda line: line.startswith("Salary equivalent:"))
    finally:
        code, stderr = _interrupt(proc)
    assert code == 0, stderr
    assert stderr.strip() == "", stderr  # quietly: no traceback, no "Aborted!"
    text = "".join(seen)
    assert text.count("celery office status · ") >= 3
    assert "every 0.5s" in text
    assert text.count("watcher_night_agent") >= 3


def test_status_watch_json_lines(office_pg: str) -> None:
    proc, lines = _start_watch(office_pg, "--json", "--watch", "0.5", "--department", "content")
    try:
        seen = _wait_lines(lines, 2, lambda line: line.startswith("{"))
    finally:
        code, stderr = _interrupt(proc)
    assert code == 0, stderr
    for line in seen:
        data = json.loads(line)
        assert [a["agent_id"] for a in data["agents"]] == ["content_cards"]


def test_status_watch_fails_fast_when_unreachable() -> None:
    result = office("status", "--watch", "0.5", url=UNREACHABLE)
    assert "cannot reach the database" in assert_one_line_error(result, "status")


# ------------------------------------------------------------------------------------ check


def test_check_clean_registry() -> None:
    result = office("check", agents_file="agents_clean.yaml")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.strip() == (
        "agents_clean.yaml: 3 agents, 3 of 3 tasks covered; 0 errors, 0 warnings"
    )


def test_check_warnings_and_strict() -> None:
    result = office("check", agents_file="agents_warnings.yaml")
    assert result.returncode == 0, result.stderr
    assert "warning: task 'cli_app.orphan_task' is not covered by any agent" in result.stdout
    assert (
        "warning: agents_warnings.yaml:14: agent 'reputation_reviews': pattern "
        "'cli_app.removed_*' matches no registered task"
    ) in result.stdout
    assert "celery." not in result.stdout  # Celery's own tasks need no agent
    assert "2 agents, 2 of 3 tasks covered; 0 errors, 2 warnings" in result.stdout
    strict = office("check", "--strict", "--agents-file", "agents_warnings.yaml",
                    agents_file="agents_clean.yaml")  # the option beats the setting
    assert strict.returncode == 1
    assert "Traceback" not in strict.stderr
    assert len(strict.stderr.strip().splitlines()) == 2
    assert "cli_app.orphan_task" in strict.stderr and "cli_app.removed_*" in strict.stderr
    assert "2 errors, 0 warnings (--strict)" in strict.stdout


def test_check_registry_error_names_file_and_line() -> None:
    line = assert_one_line_error(office("check", agents_file="agents_broken.yaml"), "check")
    assert "agents_broken.yaml:5:" in line
    assert "salary_equivalent" in line  # the suggestion
    line = assert_one_line_error(office("check", "--agents-file", "missing.yaml"), "check")
    assert "missing.yaml: file not found" in line


def test_check_refuses_a_character_the_database_cannot_store() -> None:
    """A NUL in a task's text once passed `office check` and the worker's start; PostgreSQL
    then refused every run of that task."""
    line = assert_one_line_error(office("check", agents_file="agents_nul.yaml"), "check")
    assert line == (
        "celery office check: agents_nul.yaml:8: agent 'watcher_price_monitor': field 'tasks': "
        "text for 'cli_app.scan_prices': contains a NUL character (U+0000) at character 13, "
        "which the database cannot store; remove it"
    )


def test_check_glob_conflict_between_agents() -> None:
    result = office("check", agents_file="agents_conflict.yaml")
    line = assert_one_line_error(result, "check")
    assert "agents_conflict.yaml:13:" in line
    assert "'cli_app.scan_prices'" in line
    assert "watcher_price_monitor" in line and "pricing_agent" in line
    assert "1 error" in result.stdout


# ------------------------------------------------------------------------------------ helpers


def _row(agent_id: str, status: AgentStatus, effective: AgentStatus | None = None, *,
         salary: int | None = 60000, fte: str | None = "1.00", task: str | None = None,
         metrics: dict | None = None, silent: float | None = 3.0) -> AgentRow:
    return AgentRow(
        agent_id=agent_id, department="watcher", name=agent_id, brand=None, status=status,
        effective_status=effective or status, task=task, metrics=metrics or {},
        salary_equivalent=salary, fte_coefficient=None if fte is None else Decimal(fte),
        last_activity=datetime(2025, 1, 1, tzinfo=timezone.utc), silent_for=silent,
        updated_at=None,
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "—"), (-2, "0s"), (0, "0s"), (5.9, "5s"), (59, "59s"), (60, "1m"), (199, "3m"),
     (3599, "59m"), (7200, "2h"), (86399, "23h"), (86400 * 3 + 5, "3d")],
)
def test_human_duration(seconds, text) -> None:
    assert human_duration(seconds) == text


def test_format_amount() -> None:
    assert format_amount(345000) == f"345{THIN_SPACE}000"
    assert format_amount(Decimal("1234567.5")) == f"1{THIN_SPACE}234{THIN_SPACE}568"
    assert format_amount(0) == "0"
    assert format_amount(999) == "999"


def test_salary_counts_and_footer() -> None:
    rows = [
        _row("a", AgentStatus.ok, salary=60000, fte="1.00"),
        _row("b", AgentStatus.error, salary=70000, fte="0.50"),
        _row("c", AgentStatus.ok, AgentStatus.offline, salary=45000),
        _row("d", AgentStatus.warning, salary=None, fte=None),
    ]
    assert salary_total(rows) == Decimal("95000")
    assert status_counts(rows) == {"ok": 1, "warning": 1, "error": 1, "offline": 1}
    assert status_footer(rows) == [
        "4 agents: 1 ok, 1 warning, 1 error, 1 offline",
        f"Salary equivalent: 95{THIN_SPACE}000 ₽/month (agents not offline)",
    ]
    assert status_footer(rows[:1])[0].startswith("1 agent: ")
    assert ANSI.search("".join(status_footer(rows, color=True)))


def test_compact_metrics() -> None:
    assert compact_metrics({}) == "" and compact_metrics(None) == ""
    assert compact_metrics({"n": 150, "ok": True, "rate": 0.5, "none": None}) == (
        "n=150, none=null, ok=true, rate=0.5"
    )
    assert compact_metrics({"who": "wb", "msg": "a b", "list": [1, 2]}) == (
        'list=[1,2], msg="a b", who=wb'
    )


def test_truncate_and_display_width() -> None:
    assert truncate("Сканирование", 20) == "Сканирование"
    assert truncate("Сканирование", 6) == "Скани…"
    assert truncate("abc", 0) == ""
    assert display_width("価格") == 4
    assert truncate("価格価格", 5) == "価格…"


def test_fit_widths() -> None:
    assert fit_widths([10, 50, 30], None, [1, 2]) == [10, 50, 30]
    assert fit_widths([10, 50, 30], 200, [1, 2]) == [10, 50, 30]
    # 94 columns with gaps; 64 available: the widest shrinks first, then both together.
    assert fit_widths([10, 50, 30], 84, [1, 2]) == [10, 40, 30]
    assert fit_widths([10, 50, 30], 64, [1, 2]) == [10, 25, 25]
    assert fit_widths([10, 50, 30], 10, [1, 2]) == [10, 8, 8]  # never below the minimum
    assert fit_widths([10, 5, 30], 30, [1, 2]) == [10, 5, 11]  # never widened


def test_render_table_and_status_table() -> None:
    table = render_table(("A", "BB", "C"), [["x", "y\n z", "long text here"]], max_width=16,
                         shrinkable=[2])
    assert table.lines == ["A  BB   C", "x  y z  long te…"]  # cut, but not below 8 columns
    # Narrower still: clipped where the line must end, never longer.
    assert render_table(("A", "BB", "C"), [["x", "y", "long text here"]], max_width=14,
                        shrinkable=[2]).lines == ["A  BB  C", "x  y   long t…"]
    rows = [
        _row("scan", AgentStatus.ok, task=LONG_TASK, metrics={"n": 1}),
        _row("night", AgentStatus.ok, AgentStatus.offline, silent=600),
        _row("cards", AgentStatus.error, task="Ошибка: \x1b[31mboom"),
    ]
    plain = status_table(rows, max_width=80)
    assert all(display_width(line) <= 80 for line in plain)
    assert "\x1b" not in "".join(plain)  # the task's own escape sequence is neutralised
    assert "10m ago" in plain[2] and "offline" in plain[2]
    coloured = status_table(rows, max_width=80, color=True)
    assert [ANSI.sub("", line) for line in coloured] == plain
    assert "\x1b[90m" in coloured[2] and "\x1b[31m" in coloured[3]


def test_status_json_is_plain_json() -> None:
    rows = [_row("a", AgentStatus.ok, fte="0.75", metrics={"n": 1}),
            _row("b", AgentStatus.ok, AgentStatus.offline)]
    data = json.loads(json.dumps(status_json(rows, offline_after=300.0)))
    assert data["agents"][0]["fte_coefficient"] == 0.75
    assert data["agents"][0]["last_activity"] == "2025-01-01T00:00:00+00:00"
    assert data["summary"]["salary_equivalent"] == 45000
    assert data["summary"]["counts"]["offline"] == 1


def test_db_error_reason() -> None:
    class Wrapped(Exception):
        def __init__(self, orig: Exception) -> None:
            self.orig = orig

    refused = Exception(
        'connection to server at "127.0.0.1", port 1 failed: Connection refused\n'
        "\tIs the server running on that host and accepting TCP/IP connections?\n"
    )
    assert db_error_reason(Wrapped(refused)) == "connection refused"
    missing = Exception('connection to server at "h", port 5432 failed: FATAL:  database "x" '
                        "does not exist\n")
    assert db_error_reason(Wrapped(missing)) == 'database "x" does not exist'
    auth = Exception('FATAL:  password authentication failed for user "u" (pw hunter2)')
    url = "postgresql+psycopg2://office:hunter2@db/adolf"
    assert "hunter2" not in db_error_reason(Wrapped(auth), url)
    assert db_error_reason(Exception("unable to open database file")) == (
        "unable to open database file"
    )
    assert one_line("a\n\tb (Background on this error at: https://sqlalche.me/e/20/e3q8)") == "a b"


# ------------------------------------------------------------------ the day's numbers, --fail-on

TODAY_KEYS = ["runs", "succeeded", "failed", "retried", "revoked", "runtime_s", "max_runtime_s"]


def _count_today(url: str, agent_id: str, **numbers: float) -> None:
    """Add numbers to an agent's day (today in UTC, the app's timezone here) as a worker does."""
    from celery_office.core.changes import DayCount
    from celery_office.core.days import today
    from celery_office.db.daily import add_day_counts

    engine = create_office_engine(url)
    try:
        with engine.begin() as conn:
            add_day_counts(conn, {(agent_id, today("UTC")): DayCount(**numbers)})  # type: ignore
            yesterday = today("UTC") - timedelta(days=1)
            add_day_counts(conn, {(agent_id, yesterday): DayCount(runs=1000, failed=1000)})
    finally:
        engine.dispose()


def test_status_shows_todays_runs_and_failures(office_db: str) -> None:
    _count_today(office_db, "content_cards", runs=12, succeeded=9, failed=2, retried=1,
                 runtime_s=30.25, max_runtime_s=8.5, last_failure_at=time.time())
    result = office("status", url=office_db)
    assert result.returncode == 0, result.stderr
    rows = table_rows(result.stdout)
    assert rows["content_cards"][5:7] == ["12", "2"]  # today's only, not yesterday's 1000
    assert rows["reputation_reviews"][5:7] == ["0", "0"]
    data = json.loads(office("status", "--json", url=office_db).stdout)
    today = {agent["agent_id"]: agent["today"] for agent in data["agents"]}
    assert today["content_cards"] == {"runs": 12, "succeeded": 9, "failed": 2, "retried": 1,
                                      "revoked": 0, "runtime_s": 30.25, "max_runtime_s": 8.5}
    assert list(today["content_cards"]) == TODAY_KEYS
    assert today["watcher_night_agent"] == dict.fromkeys(TODAY_KEYS, 0)


def test_status_stays_readable_in_120_columns(office_pg: str) -> None:
    _count_today(office_pg, "watcher_price_monitor", runs=1234, failed=56)
    result = office("status", url=office_pg, COLUMNS="120")
    assert result.returncode == 0, result.stderr
    table = result.stdout.split("\n\n")[0].splitlines()
    assert all(display_width(line) <= 120 for line in table), table
    row = table_rows(result.stdout)["watcher_price_monitor"]
    assert row[5:7] == ["1234", "56"]  # numbers are never cut; the task text is
    assert row[7].endswith("…")


def _set_status(url: str, agent_id: str, status: AgentStatus) -> None:
    engine = create_office_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(update(OfficeAgentStatus).where(OfficeAgentStatus.agent_id == agent_id)
                         .values(status=status, task="Повтор: ..."))
    finally:
        engine.dispose()


def test_fail_on_exit_status_for_each_state(office_pg: str) -> None:
    """One agent in each state: ok (2), warning, error, offline (the night agent, silent)."""
    _set_status(office_pg, "reputation_reviews", AgentStatus.warning)
    expected = {"error": "content_cards", "warning": "reputation_reviews",
                "offline": "watcher_night_agent"}
    for state, agent_id in expected.items():
        result = office("status", "--fail-on", state, url=office_pg)
        assert result.returncode == 1, (state, result.stderr)
        assert set(table_rows(result.stdout)) == set(AGENTS)  # the table as without it
        assert result.stderr.strip() == (
            f"celery office status: 1 agent in {state} (--fail-on): {agent_id} ({state})"
        )
    result = office("status", "--fail-on", "error,offline", url=office_pg)
    assert result.returncode == 1
    assert result.stderr.strip().endswith(
        "2 agents in error or offline (--fail-on): content_cards (error), "
        "watcher_night_agent (offline)"
    )
    # with the filters: the watcher department has one offline agent and no error
    assert office("status", "--fail-on", "error,warning", "--department", "watcher",
                  url=office_pg).returncode == 0
    assert office("status", "--fail-on", "offline", "--department", "watcher",
                  url=office_pg).returncode == 1
    assert office("status", "--fail-on", "warning", "--brand", "ohana_market",
                  url=office_pg).returncode == 0
    assert office("status", "--fail-on", "warning", "--brand", "ohana_kids",
                  url=office_pg).returncode == 1


def test_fail_on_with_json_prints_the_json_and_exits_1(office_pg: str) -> None:
    result = office("status", "--json", "--fail-on", "error", "--fail-on", "offline",
                    url=office_pg)
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)  # stdout is still the JSON alone
    assert len(data["agents"]) == 4
    assert data["summary"]["fail_on"] == ["error", "offline"]
    assert data["summary"]["failing"] == ["content_cards", "watcher_night_agent"]
    healthy = office("status", "--json", "--fail-on", "warning", url=office_pg)
    assert healthy.returncode == 0 and healthy.stderr == ""
    assert json.loads(healthy.stdout)["summary"]["failing"] == []


def test_fail_on_healthy_office_exits_0(office_pg: str) -> None:
    result = office("status", "--fail-on", "error", "--department", "reputation", url=office_pg)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert set(table_rows(result.stdout)) == {"reputation_reviews"}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--fail-on", "errror"), "--fail-on: unknown status 'errror' (did you mean 'error'?); "
                                  "use one or more of error, warning, offline"),
        (("--fail-on", "error,ok"), "unknown status 'ok'"),
        (("--fail-on", ","), "--fail-on needs one or more of error, warning, offline"),
        (("--fail-on", "error", "--watch", "1"), "leave out --watch"),
    ],
    ids=["typo", "ok-is-not-a-failure", "empty", "with-watch"],
)
def test_fail_on_usage_errors_are_one_line_exit_2(office_pg: str, args, expected) -> None:
    """A typo in a probe is neither a healthy office (0) nor an agent in error (1)."""
    result = office("status", *args, url=office_pg)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("celery office status: "), result.stderr
    assert expected in lines[0]
    assert result.stdout == ""


# ------------------------------------------------------------------------------------ sql


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
def test_sql_prints_the_shipped_script_for_a_dialect(dialect: str) -> None:
    from celery_office.db.sql_scripts import sql_script

    result = office("sql", "--dialect", dialect)
    assert result.returncode == 0, result.stderr
    assert result.stdout == sql_script(dialect)  # type: ignore[arg-type]
    assert "CREATE TABLE office_agent_status" in result.stdout


def test_sql_takes_the_dialect_of_the_database_url(tmp_path: Path) -> None:
    result = office("sql", url="postgresql+psycopg2://office:secret@db.invalid/adolf")
    assert result.returncode == 0, result.stderr
    assert "CREATE TYPE agentstatus" in result.stdout  # PostgreSQL's, not SQLite's script
    assert "secret" not in result.stdout + result.stderr
    sqlite = office("sql", url=f"sqlite:///{tmp_path / 'office.db'}")
    assert sqlite.returncode == 0 and "CREATE TYPE" not in sqlite.stdout


def test_sql_for_a_database_it_has_no_script_for_is_one_line() -> None:
    result = office("sql", url="mysql+pymysql://office:secret@db.invalid/adolf")
    line = assert_one_line_error(result, "sql")
    assert "--dialect" in line and "secret" not in line


def test_sql_applied_by_hand_makes_a_database_migrate_takes_over(fresh_pg_url: str) -> None:
    """What a DBA does with the printed script: apply it, then the workers' migrate() finds the
    tables at head and changes nothing."""
    from sqlalchemy import create_engine

    from celery_office.db.revisions import head_revision
    from celery_office.db.schema import current_revision

    printed = office("sql", "--dialect", "postgresql").stdout
    engine = create_engine(fresh_pg_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(printed)
    finally:
        engine.dispose()
    assert current_revision(fresh_pg_url) == head_revision()
    migrated = office("migrate", url=fresh_pg_url)
    assert migrated.returncode == 0 and "up to date" in migrated.stdout
