"""`celery -A APP office serve` as a real process on a free loopback port, and its endpoints."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


def free_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


class ServeProcess:
    """One `celery office serve` process, its stderr (``log``: where every line of serve
    goes), and reads of its endpoints."""

    def __init__(self, app: str, *, cwd: Path, env: dict[str, str], log_path: Path,
                 args: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self._out = open(log_path.with_suffix(".stdout"), "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", app, "office", "serve", "--port",
             str(self.port), *args],
            cwd=cwd, env={**env, "PYTHONUNBUFFERED": "1"}, stdout=self._out,
            stderr=self._log)

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_log(self, needle: str, timeout: float = 20.0) -> str:
        """The first line of stderr holding ``needle``, once there."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [line for line in self.log.splitlines() if needle in line]
            if found:
                return found[0]
            time.sleep(0.1)
        raise AssertionError(f"{needle!r} not in serve's stderr after {timeout} s:\n{self.log}")

    def wait_ready(self, timeout: float = 30.0) -> ServeProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited ({self.proc.returncode}):\n{self.log}")
            try:
                if self.get("/healthz")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"serve did not answer /healthz in {timeout} s:\n{self.log}")

    def get(self, path: str, *, headers: dict[str, str] | None = None,
            timeout: float = 15.0) -> tuple[int, bytes]:
        request = urllib.request.Request(self.base + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def agents(self) -> dict[str, Any]:
        status, body = self.get("/api/agents")
        assert status == 200, body
        return {agent["agent_id"]: agent for agent in json.loads(body)["agents"]}

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        self._out.close()
