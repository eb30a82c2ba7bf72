"""A TCP proxy on loopback in front of PostgreSQL that the fault tests turn bad on purpose.

Modes:
    forward: a plain proxy.
    refuse: the port is closed and every connection through it is cut (a database that is down
        or restarting).
    hang: the port accepts connections and never answers; open connections stop relaying in
        both directions (a database that hangs).

And once: :meth:`FaultProxy.cut_after` cuts the connection that sends a given query, after the
server got it (it runs and commits; the reply is lost) or before (it never arrives): the two
outcomes a client cannot tell apart when its connection dies after COMMIT was sent.
"""

from __future__ import annotations

import select
import socket
import threading
import time


class FaultProxy:
    def __init__(self, target_host: str = "127.0.0.1", target_port: int = 5432) -> None:
        self.target = (target_host, target_port)
        self.mode = "forward"
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._listener: socket.socket | None = None
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._closed = False
        self._cut_rule: tuple[bytes, bool, bool] | None = None
        self.cuts = 0
        self.queries = 0  # queries the clients sent (a simple query, or an extended one's Parse)
        self._listen()

    # ------------------------------------------------------------------ control

    def set_mode(self, mode: str) -> None:
        assert mode in ("forward", "refuse", "hang"), mode
        with self._lock:
            previous, self.mode = self.mode, mode
        if mode == "refuse":
            self._stop_listening()
            self._cut_all()
        elif previous == "refuse":
            self._listen()

    def cut_after(self, marker: bytes, *, delivered: bool, then_refuse: bool = False) -> None:
        """The next query holding ``marker`` cuts its connection: ``delivered`` after the
        server got it (and had a moment to run and commit it), else before it left;
        ``then_refuse``: and the database is down from then on (``refuse``)."""
        self._cut_rule = (marker, delivered, then_refuse)

    def close(self) -> None:
        self._closed = True
        self._stop_listening()
        self._cut_all()

    def url(self, database_url: str) -> str:
        from sqlalchemy.engine import make_url

        return (
            make_url(database_url)
            .set(host="127.0.0.1", port=self.port)
            .render_as_string(hide_password=False)
        )

    # ------------------------------------------------------------------ plumbing

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        for _ in range(50):
            try:
                listener.bind(("127.0.0.1", self.port))
                break
            except OSError:
                time.sleep(0.1)
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept_loop, args=(listener,), daemon=True).start()

    def _stop_listening(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()

    def _cut_all(self) -> None:
        with self._lock:
            conns, self._conns = self._conns, []
        for sock in conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with self._lock:
                self._conns.append(client)
                mode = self.mode
            if mode == "hang":
                continue  # accepted, never answered
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns.append(upstream)
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        try:
            while True:
                if self.mode == "hang":
                    time.sleep(0.05)
                    continue
                ready, _, _ = select.select([a, b], [], [], 0.1)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if sock is a and data[:1] in (b"Q", b"P"):
                        self.queries += 1
                    rule = self._cut_rule
                    if sock is a and rule is not None and rule[0] in data:
                        self._cut_rule = None
                        self.cuts += 1
                        if rule[1]:
                            peers[sock].sendall(data)
                            time.sleep(0.5)  # the server runs and commits it; no reply
                        if rule[2]:
                            self.set_mode("refuse")
                        return
                    peers[sock].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            for sock in (a, b):
                try:
                    sock.close()
                except OSError:
                    pass
