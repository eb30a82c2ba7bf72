"""A local webhook receiver: an HTTP server on a free loopback port that records each post."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Receiver:
    """What was posted, and how to answer: ``statuses`` are the answers to the first posts
    (then 200); ``hold``, when set, keeps each post waiting until it is set; ``delay`` seconds
    before each answer (a slow receiver). ``arrivals``: every post that arrived, answered or
    not, with its ``X-Office-Event-Id`` header."""

    url: str = ""
    posts: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    hold: threading.Event | None = None
    delay: float = 0.0
    arrivals: list[tuple[str | None, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Event = field(default_factory=threading.Event)

    def wait_for(self, check: Callable[[list[dict[str, Any]]], bool], timeout: float = 30.0,
                 what: str = "") -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                posts = list(self.posts)
            if check(posts):
                return posts
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what or check}; posts: {self.posts}")


@contextmanager
def receiving(path: str = "/hooks/T000/B000/secret-token") -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            receiver.arrived.set()
            with receiver.lock:
                receiver.arrivals.append((self.headers.get("X-Office-Event-Id"), json.loads(body)))
            if receiver.delay:
                time.sleep(receiver.delay)
            if receiver.hold is not None:
                receiver.hold.wait(30)
            with receiver.lock:
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                if status < 300:
                    receiver.posts.append(json.loads(body))
                receiver.paths.append(self.path)
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        if receiver.hold is not None:
            receiver.hold.set()
        server.shutdown()
        server.server_close()
