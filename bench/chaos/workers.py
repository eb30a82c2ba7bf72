"""Real ``celery worker`` processes of the chaos app, and what the harness does to them.

Each :class:`Worker` is one node name (``w1@host``) over its life: it may be warmly restarted
or SIGKILLed and started again under the same name, and each start is an :class:`Incarnation`
that the oracle needs (which process ran which task, and how that process ended). A worker runs
in a process group of its own, so a SIGKILL of the group takes its pool processes too, as a
lost host would, and the harness's cleanup never leaves one behind.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

__all__ = ["Worker", "Incarnation", "office_lines"]

HERE = Path(__file__).resolve().parent
GAVE_UP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): CRITICAL/MainProcess\] "
                     r"Unrecoverable error", re.M)


def office_lines(text: str) -> list[str]:
    """The plugin's own log lines in a worker log."""
    return [line for line in text.splitlines() if "celery-office" in line]


@dataclass
class Incarnation:
    """One start of a worker: its main process, when it ran, and how it ended."""

    pid: int
    started: float  # wall clock (time.time()), as the task records use
    ready: float | None = None
    ended: float | None = None
    how: str = "running"  # running, warm (SIGTERM, exited), killed (SIGKILL of the group),
    # exited (on its own: Celery's "Unrecoverable error", after a warm shutdown of its own)
    stop_began: float | None = None
    rss_start: dict[int, int] = field(default_factory=dict)  # pid -> bytes
    rss_end: dict[int, int] = field(default_factory=dict)


class Worker:
    """A node of the chaos app.

    Parameters:
        name: the node's short name (``w1``); the node name is ``name@host``.
        pool: ``prefork`` or ``solo``.
        concurrency: pool processes (prefork).
        max_tasks_per_child: recycle each pool process after this many tasks (prefork).
        env: the environment (broker, database through the fault proxy, settings).
        log_dir: where ``worker-<name>.log`` goes (every incarnation appends to it).
        log_name: another file name than ``worker-<name>`` (a twin's).
    """

    def __init__(self, name: str, *, pool: str, env: dict[str, str], log_dir: Path,
                 concurrency: int = 2, max_tasks_per_child: int | None = None,
                 log_name: str | None = None) -> None:
        self.name = name
        self.pool = pool
        self.env = env
        self.log_path = log_dir / f"{log_name or f'worker-{name}'}.log"
        self._options = {"pool": pool, "env": env, "log_dir": log_dir, "concurrency": concurrency,
                         "max_tasks_per_child": max_tasks_per_child}
        args = ["-A", "chaos_app", "worker", "-P", pool, "-n", f"{name}@%h",
                "-Q", f"chaos,chaos.{name}", "-l", "info",
                "--without-mingle", "--without-gossip", "--without-heartbeat"]
        if pool == "prefork":
            args += ["-c", str(concurrency)]
            if max_tasks_per_child:
                args += ["--max-tasks-per-child", str(max_tasks_per_child)]
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None
        self.incarnations: list[Incarnation] = []
        self._log_offset = 0

    # ------------------------------------------------------------------ state

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def current(self) -> Incarnation | None:
        return self.incarnations[-1] if self.incarnations else None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def pool_pids(self) -> list[int]:
        if not self.alive or self.pool != "prefork":
            return []
        try:
            main = psutil.Process(self.proc.pid)  # type: ignore[union-attr]
            return [child.pid for child in main.children()]
        except psutil.Error:
            return []

    def rss(self) -> dict[int, int]:
        """RSS of the main process and each pool process, by pid."""
        if not self.alive:
            return {}
        out = {}
        try:
            main = psutil.Process(self.proc.pid)  # type: ignore[union-attr]
            for proc in [main, *main.children()]:
                try:
                    out[proc.pid] = proc.memory_info().rss
                except psutil.Error:
                    pass
        except psutil.Error:
            pass
        return out

    def twin(self) -> Worker:
        """Another worker with the same node name, queues and pool (``twin_node``), logging
        to a file of its own."""
        options: dict[str, Any] = self._options
        return Worker(self.name, log_name=f"worker-{self.name}-twin", **options)

    # ------------------------------------------------------------------ life cycle

    def start(self, *, wait_ready: bool = True, timeout: float = 90.0) -> Incarnation:
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", *self.args], cwd=HERE, env=self.env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        incarnation = Incarnation(pid=self.proc.pid, started=time.time())
        self.incarnations.append(incarnation)
        if wait_ready:
            self.wait_ready(timeout)
        return incarnation

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        incarnation = self.current
        assert incarnation is not None and self.proc is not None
        while time.monotonic() < deadline:
            with open(self.log_path, "rb") as fh:
                fh.seek(self._log_offset)
                if b"ready." in fh.read():
                    incarnation.ready = time.time()
                    incarnation.rss_start = self.rss()
                    return
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited at start ({self.proc.returncode})")
            time.sleep(0.1)
        raise RuntimeError(f"worker {self.name} not ready after {timeout} s")

    def stop_warm(self, timeout: float = 90.0) -> None:
        """SIGTERM: Celery's warm shutdown (running tasks finish, agents retire)."""
        incarnation = self.current
        assert self.proc is not None and incarnation is not None
        incarnation.rss_end = self.rss()
        incarnation.stop_began = time.time()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
            incarnation.how = "warm"
        except subprocess.TimeoutExpired:
            self._kill_group()
            incarnation.how = "killed"
        incarnation.ended = time.time()
        self._kill_group()  # no pool process outlives its worker

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes at once, like a lost host."""
        incarnation = self.current
        assert incarnation is not None
        incarnation.rss_end = self.rss()
        incarnation.stop_began = time.time()
        self._kill_group()
        incarnation.ended = time.time()
        incarnation.how = "killed"

    def kill_main(self, *, linger: float = 0.3) -> float:
        """SIGKILL the main process alone (``main_kill_after_end``); its pool processes, orphans
        now, are killed ``linger`` seconds later, as a supervisor cleaning up would. Returns
        when the main process was killed."""
        incarnation = self.current
        assert incarnation is not None and self.proc is not None
        incarnation.rss_end = self.rss()
        incarnation.stop_began = time.time()
        os.kill(self.proc.pid, signal.SIGKILL)
        killed = incarnation.stop_began
        time.sleep(linger)
        self._kill_group()
        incarnation.ended = time.time()
        incarnation.how = "killed"
        return killed

    def _kill_group(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass

    def reap(self) -> bool:
        """True when the worker exited on its own (not by the harness's hand): its incarnation
        is closed as ``exited``. Celery exits so on an "Unrecoverable error", e.g. kombu's
        when the broker goes away; a supervisor (systemd, Kubernetes) would start it again."""
        incarnation = self.current
        if self.proc is None or self.proc.poll() is None or incarnation is None:
            return False
        if incarnation.ended is not None:
            return False
        incarnation.ended = time.time()
        incarnation.stop_began = (incarnation.stop_began or self._gave_up_at()
                                  or incarnation.ended)
        incarnation.how = "exited"
        self._kill_group()
        return True

    def _gave_up_at(self) -> float | None:
        """When this incarnation logged its "Unrecoverable error": its warm shutdown, and the
        plugin's offline marks, begin then, seconds before the process is seen gone."""
        with open(self.log_path, "rb") as fh:
            fh.seek(self._log_offset)
            text = fh.read().decode(errors="replace")
        found = GAVE_UP.search(text)
        if found is None:
            return None
        try:  # Celery's asctime: local time, milliseconds after a comma
            return datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        except ValueError:
            return None

    def close(self) -> None:
        """The harness's cleanup: whatever state it is in, nothing of it keeps running."""
        if self.alive:
            incarnation = self.current
            if incarnation is not None and incarnation.ended is None:
                incarnation.rss_end = incarnation.rss_end or self.rss()
        self._kill_group()
