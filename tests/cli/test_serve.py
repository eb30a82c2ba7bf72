"""`celery office serve`: the real `celery` CLI in a subprocess, serving a real database."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from celery_office import migrate

from ..web.serve_process import ServeProcess, free_port
from .test_cli import CASES, SECRET, _argv, _env, assert_one_line_error, office

WEB_MODULES = ("starlette", "uvicorn", "prometheus_client", "celery_office.web")


def _fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_office_help_lists_serve_and_its_options() -> None:
    result = office("--help")
    assert result.returncode == 0 and "serve" in result.stdout
    result = office("serve", "--help")
    assert result.returncode == 0, result.stderr
    for option in ("--host", "--port", "--notify", "--notify-interval", "--database-url",
                   "--offline-after", "--basic-auth", "--no-auth", "--allowed-host"):
        assert option in result.stdout


def test_no_other_command_loads_the_web_stack() -> None:
    """The entry point stays light, and `celery office status` has no use for Starlette."""
    code = (
        "import sys\n"
        "from importlib.metadata import entry_points\n"
        "[ep.load() for ep in entry_points(group='celery.commands') if ep.name == 'office']\n"
        "from celery_office.cli import office\n"
        "import click\n"
        "office.get_command(click.Context(office), 'serve')\n"
        "office.get_command(click.Context(office), 'status')\n"
        f"print(' '.join(m for m in {WEB_MODULES!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, env=_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_without_the_web_extra_one_line_says_what_to_install(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "sys.modules['starlette'] = None  # as if the web extra were not installed\n"
        "sys.argv = ['celery', '-A', 'cli_app', 'office', 'serve']\n"
        "from celery.__main__ import main\n"
        "main()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=CASES, capture_output=True,
                            text=True, timeout=60, env=_env(f"sqlite:///{tmp_path}/office.db"))
    line = assert_one_line_error(result, "serve")
    assert "starlette" in line and line.endswith("pip install 'celery-office[web]'")


def test_a_notify_that_is_no_url_is_one_line_without_the_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'office.db'}"
    migrate(url)
    result = office("serve", "--notify", f"hooks.example.com/{SECRET}", url=url)
    line = assert_one_line_error(result, "serve")
    assert "--notify #1" in line and SECRET not in line


def test_a_missing_sqlite_file_is_not_created(tmp_path: Path) -> None:
    result = office("serve", url=f"sqlite:///{tmp_path / 'typo.db'}")
    assert "there is no database file" in assert_one_line_error(result, "serve")
    assert not (tmp_path / "typo.db").exists()


def test_serve_serves_the_office_and_stops_on_sigterm(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'office.db'}"
    migrate(url)
    port = free_port()
    proc = subprocess.Popen(
        _argv("serve", "--port", str(port)), cwd=CASES, env=_env(url),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, encoding="utf-8")
    try:
        deadline = time.monotonic() + 30
        health: tuple[int, bytes] = (0, b"")
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                health = _fetch(f"http://127.0.0.1:{port}/healthz")
                break
            except OSError:
                time.sleep(0.1)
        assert health == (200, b'{"status":"ok"}'), health
        status, body = _fetch(f"http://127.0.0.1:{port}/api/agents")
        assert status == 200 and json.loads(body)["agents"] == []
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    # uvicorn shuts down cleanly, then (0.29 and later) dies of the signal it caught, as a
    # process stopped by SIGTERM should
    assert proc.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output
    assert output.splitlines()[0] == (
        f"celery office serve: the office of {url} at http://127.0.0.1:{port}/; "
        "no authentication")
    assert "Traceback" not in output


def assert_bad_option(result: subprocess.CompletedProcess[str], option: str) -> str:
    """Exit status 2 (click's, for a bad option), one line naming the option and the fix."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("celery office serve: "), result.stderr
    assert option in lines[0] and "Traceback" not in result.stderr
    return lines[0]


def test_a_malformed_basic_auth_or_allowed_host_starts_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'office.db'}"
    migrate(url)
    port = str(free_port())
    no_colon = assert_bad_option(office("serve", "--port", port, "--basic-auth", SECRET, url=url),
                                 "--basic-auth")
    assert "user:password" in no_colon and SECRET not in no_colon
    empty_user = assert_bad_option(
        office("serve", "--port", port, "--basic-auth", f":{SECRET}", url=url), "--basic-auth")
    assert "empty user" in empty_user and SECRET not in empty_user
    assert "empty password" in assert_bad_option(
        office("serve", "--port", port, "--basic-auth", "admin:", url=url), "--basic-auth")
    setting = office("serve", "--port", port, url=url, OFFICE_BASIC_AUTH=f"admin:{SECRET},bob")
    assert "OFFICE_BASIC_AUTH #2" in assert_bad_option(setting, "office_basic_auth")
    host = assert_bad_option(
        office("serve", "--port", port, "--allowed-host", "https://office.example.com/",
               url=url), "--allowed-host")
    assert "office.example.com" in host and "without scheme, port or path" in host


def test_beyond_loopback_without_credentials_it_refuses_to_start(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'office.db'}"
    migrate(url)
    line = assert_bad_option(
        office("serve", "--host", "0.0.0.0", "--port", str(free_port()), url=url), "--host")
    assert "--basic-auth" in line and "--no-auth" in line
    for env, args in (({}, ("--no-auth",)), ({"OFFICE_BASIC_AUTH": f"admin:{SECRET}"}, ())):
        serve = ServeProcess("cli_app", cwd=CASES, env=_env(url, **env),
                             log_path=tmp_path / "serve.log", args=("--host", "0.0.0.0", *args))
        try:
            serve.wait_ready()  # said on purpose: it starts
        finally:
            serve.close()


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_basic_auth_guards_the_office_but_not_its_health(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'office.db'}"
    migrate(url)
    serve = ServeProcess("cli_app", cwd=CASES, env=_env(url, OFFICE_BASIC_AUTH="viewer:other"),
                         log_path=tmp_path / "serve.log",
                         args=("--basic-auth", f"admin:{SECRET}", "--basic-auth", "ops:pw2"))
    try:
        serve.wait_ready()  # /healthz needs no credentials
        for path in ("/", "/api/agents", "/metrics", "/static/office.js"):
            status, _ = serve.get(path)
            assert status == 401, path
            assert serve.get(path, headers=_basic("admin", SECRET))[0] == 200, path
        assert serve.get("/api/agents", headers=_basic("ops", "pw2"))[0] == 200
        assert serve.get("/api/agents", headers=_basic("admin", "wrong"))[0] == 401
        # the option wins over the setting
        assert serve.get("/api/agents", headers=_basic("viewer", "other"))[0] == 401
        status, body = serve.get("/healthz")
        assert status == 200 and SECRET not in body.decode()
        assert serve.get("/livez")[0] == 200
        assert SECRET not in serve.log
    finally:
        serve.close()


def test_a_forged_host_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'office.db'}"
    migrate(url)
    serve = ServeProcess("cli_app", cwd=CASES, env=_env(url, OFFICE_BASIC_AUTH=f"admin:{SECRET}"),
                         log_path=tmp_path / "serve.log",
                         args=("--allowed-host", "office.example.com"))
    try:
        serve.wait_ready()
        auth = _basic("admin", SECRET)
        assert serve.get("/api/agents", headers={**auth, "Host": "attacker.example"})[0] == 400
        assert serve.get("/", headers={**auth, "Host": "attacker.example:8000"})[0] == 400
        for host in ("localhost", f"localhost:{serve.port}", "127.0.0.1", f"[::1]:{serve.port}",
                     "office.example.com", "OFFICE.example.com:443"):
            assert serve.get("/api/agents", headers={**auth, "Host": host})[0] == 200, host
    finally:
        serve.close()
