"""`celery office status` fits the terminal: one line an agent, long texts cut with "…" to its
width (COLUMNS, the terminal's own, or 120 columns when piped), `--wide` for every text whole.

Found by a new user: a task failed with a several-line message (a banner of 70 asterisks in
it), and its row in `office status` was 300 characters long.
"""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios

import pytest

from celery_office import OfficeReporter, create_office_engine
from celery_office.cli.table import display_width, fit_columns

from .test_cli import ANSI, CASES, _argv, _env, office

BANNER = "*" * 70
ERROR = f"ScraperError: WB 503\n{BANNER}\n  \t\tСервис недоступен   \n{BANNER}\n"
ONE_LINE = " ".join(f"Ошибка: {ERROR}".split())  # what --wide shows: whitespace runs collapsed
METRICS = {"pages_scanned": 1412, "last_url": "https://www.wildberries.ru/catalog/" + "9" * 60}
AGENTS = ("marketing_wb_campaigns", "watcher_price_monitor")


@pytest.fixture
def failed_office(pg_url: str) -> str:
    """Two agents: one in error with a long several-line message and long metrics."""
    engine = create_office_engine(pg_url)
    try:
        failing = OfficeReporter(AGENTS[0], "marketing", "WB кампании", "ohana_market", 60000,
                                 1.0, engine=engine)
        failing.report_error(ERROR, metrics=METRICS)
        OfficeReporter(AGENTS[1], "watcher", "Мониторинг цен", None, 60000, 1.0,
                       engine=engine).report_working("Сканирование цен конкурентов")
    finally:
        engine.dispose()
    return pg_url


def rows_of(stdout: str) -> dict[str, list[str]]:
    """agent id -> every line that mentions it."""
    return {agent: [line for line in stdout.splitlines() if agent in line] for agent in AGENTS}


@pytest.mark.parametrize("width", [80, 60, 100])
def test_status_fits_the_width_one_line_an_agent(failed_office: str, width: int) -> None:
    result = office("status", url=failed_office, COLUMNS=str(width))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert all(display_width(line) <= width for line in lines), "\n".join(lines)
    rows = rows_of(result.stdout)
    assert all(len(found) == 1 for found in rows.values()), rows
    row = rows[AGENTS[0]][0]
    assert "error" in row.split()
    assert "Ошибка: Scrape" in row and row.endswith("…")
    assert BANNER not in result.stdout and "  \t" not in result.stdout


def test_status_wide_keeps_every_text_whole(failed_office: str) -> None:
    result = office("status", "--wide", url=failed_office, COLUMNS="80")
    assert result.returncode == 0, result.stderr
    rows = rows_of(result.stdout)
    assert all(len(found) == 1 for found in rows.values()), rows
    row = rows[AGENTS[0]][0]
    assert ONE_LINE in row  # whole, on one line
    assert METRICS["last_url"] in row and "pages_scanned=1412" in row
    assert "left out" not in result.stdout


def test_status_piped_without_columns_fits_120(failed_office: str) -> None:
    result = office("status", url=failed_office)  # no COLUMNS, stdout a pipe: a cron mail
    assert result.returncode == 0, result.stderr
    assert all(display_width(line) <= 120 for line in result.stdout.splitlines()), result.stdout
    assert all(len(found) == 1 for found in rows_of(result.stdout).values())


def test_status_left_out_columns_are_named(failed_office: str) -> None:
    result = office("status", url=failed_office, COLUMNS="80")
    table = result.stdout.split("\n\n")[0].splitlines()
    assert table[0].split() == ["AGENT", "STATUS", "LAST", "SEEN", "TODAY", "FAIL", "TASK"]
    assert table[-1] == "(METRICS, BRAND, DEPARTMENT left out to fit 80 columns; --wide shows all)"


def test_status_on_a_terminal_takes_its_width(failed_office: str) -> None:
    """No COLUMNS: the width of the terminal stdout is on (a pseudo-terminal of 72 columns)."""
    env = _env(failed_office)
    try:
        master, slave = pty.openpty()
    except OSError as exc:  # pragma: no cover - a sandbox without pseudo-terminals
        pytest.skip(f"no pseudo-terminal: {exc}")
    try:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 72, 0, 0))
        proc = subprocess.Popen(_argv("status"), cwd=CASES, env=env, stdout=slave,
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
        assert proc.wait(timeout=60) == 0, proc.stderr.read()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
    finally:
        os.close(master)
    shown = ANSI.sub("", b"".join(chunks).decode("utf-8")).replace("\r\n", "\n")
    assert all(display_width(line) <= 72 for line in shown.splitlines()), shown
    assert "left out to fit 72 columns" in shown
    assert all(len(found) == 1 for found in rows_of(shown).values())


def test_fit_columns_cuts_then_leaves_out_then_clips() -> None:
    floors = {2: 24, 3: 16}  # columns 2 and 3 may be cut, to 24 and 16 columns at the least
    assert fit_columns([20, 10, 40, 30], None, floors, droppable=(3, 1)) == [20, 10, 40, 30]
    assert fit_columns([20, 10, 40, 30], 90, floors, droppable=(3, 1)) == [20, 10, 27, 27]
    assert fit_columns([20, 10, 40, 30], 60, floors, droppable=(3, 1)) == [20, 10, 26, None]
    # Nothing left to leave out: clipped where the line must end.
    assert fit_columns([20, 10, 40, 30], 40, floors, droppable=(3, 1)) == [20, None, 18, None]
    assert fit_columns([20, 10, 40, 30], 10, floors, droppable=(3, 1)) == [10, None, None, None]
