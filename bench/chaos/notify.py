"""Notifications under chaos: ``celery office serve`` replicas posting to the harness's webhooks,
and issue 30's faults aimed at them.

:class:`Notifications` runs ``--serves`` replicas (``python -m celery -A chaos_app office serve
--notify URL ...``), each posting to every target (``TARGETS`` paths of one loopback receiver of
the harness), through the same fault proxy as the workers: what hangs the workers hangs them.
The receiver records every post: its target, its JSON, its ``event_id`` (in the body, or the
``X-Office-Event-Id`` header) when there is one, and when it arrived. The posts are judged by
``bench/chaos/posts.py``.

Faults:

``long_outage``   the database stopped (``stop``) or frozen (``freeze``: the proxy stops
                  answering) for ``office_offline_after`` + 3-10 s while every worker lives: no
                  post may say a live agent went offline, nor that it recovered.
``flapping_agent`` agent ``chaos_flapper``'s runs, back to back on one worker, for 20-40 s: most
                  fail (``FAIL_SHARE``), a few succeed, each run 0.3-1.5 s, so error and
                  recovery alternate faster than serve looks; the last run succeeds. Every
                  transition must be posted, and no recovery while a failing run is in progress.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .cluster import free_port
from .schedule import Injected, Planned

__all__ = ["Notifications", "long_outage", "flapping_agent", "TARGETS", "FLAP_AGENT"]

HERE = Path(__file__).resolve().parent
TARGETS = ("/hooks/one", "/hooks/two")
FLAP_AGENT = "chaos_flapper"
FAIL_SHARE = 0.7
EVENT_HEADER = "X-Office-Event-Id"


class Notifications:
    """The receiver and the serve replicas, started and stopped together.

    Parameters:
        env: the workers' environment (database through the proxy, settings).
        log_dir: where ``serve-<n>.log`` go.
        serves: how many replicas.
        interval: their ``--notify-interval``.
        offline_after: their ``--offline-after``.
    """

    def __init__(self, env: dict[str, str], log_dir: Path, *, serves: int, interval: float,
                 offline_after: float) -> None:
        self.env = {k: v for k, v in env.items() if k != "CHAOS_SOLO_TASKS"}
        self.log_dir = log_dir
        self.serves = serves
        self.interval = interval
        self.offline_after = offline_after
        self.posts: list[dict[str, Any]] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        self.started: float | None = None
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def _receive(self) -> str:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    message = json.loads(body)
                except ValueError:
                    message = {"unreadable": body[:200].decode("utf-8", "replace")}
                event_id = message.get("event_id") or self.headers.get(EVENT_HEADER)
                with owner._lock:
                    owner.posts.append({"target": self.path, "received": time.time(),
                                        "event_id": event_id, "body": message})
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        base = self._receive()
        ports = []
        for number in range(self.serves):
            port = free_port()
            args = [sys.executable, "-m", "celery", "-A", "chaos_app", "office", "serve",
                    "--host", "127.0.0.1", "--port", str(port),
                    "--notify-interval", str(self.interval),
                    "--offline-after", str(self.offline_after)]
            for target in TARGETS:
                args += ["--notify", base + target]
            with open(self.log_dir / f"serve-{number + 1}.log", "ab") as log:
                self.procs.append(subprocess.Popen(args, cwd=HERE, env=self.env, stdout=log,
                                                   stderr=subprocess.STDOUT,
                                                   start_new_session=True))
            ports.append(port)
        for port, proc in zip(ports, self.procs, strict=True):
            self._wait_up(port, proc)
        self.started = time.time()

    @staticmethod
    def _wait_up(port: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"celery office serve exited at start ({proc.returncode})")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    return
            except Exception:
                time.sleep(0.2)
        raise RuntimeError(f"celery office serve not up on port {port} after {timeout} s")

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.posts)

    def exited(self) -> list[int]:
        """Exit codes of the replicas that died during the run."""
        return [p.returncode for p in self.procs if p.poll() is not None]

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def long_outage(faults: Any, planned: Planned, entry: Injected) -> None:
    if planned.target == "stop":
        faults.servers.stop_pg()
        time.sleep(planned.duration)
        faults.servers.start_pg()
    else:
        faults.proxy.set_mode("hang")
        time.sleep(planned.duration)
        faults.proxy.set_mode("forward")
    entry.note = f"database {'stopped' if planned.target == 'stop' else 'frozen'} " \
                 f"{planned.duration:.0f} s"


def flapping_agent(faults: Any, planned: Planned, entry: Injected) -> None:
    rng = random.Random(f"flap-{planned.at}")
    queue = f"chaos.{planned.target}"
    until = time.monotonic() + planned.duration
    runs = failed = lost = 0
    while True:
        last = time.monotonic() >= until
        fail = not last and rng.random() < FAIL_SHARE
        sent = faults.send("flap", queue=queue, duration=round(rng.uniform(0.3, 1.5), 2),
                           fail=fail) if faults.send else None
        if sent is None:
            break
        deadline = time.monotonic() + 20.0
        while faults.tail.end_of(sent.task_id) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        runs += 1
        failed += fail
        lost += time.monotonic() >= deadline
        if last:
            break
    entry.note = f"{runs} runs back to back, {failed} failing, {lost} with no end"
