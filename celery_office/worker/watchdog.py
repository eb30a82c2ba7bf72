"""Cut a writer's database sockets when one write takes far longer than any should.

A server that accepts and never answers (or a connection that stops relaying) blocks libpq
forever: no client-side read timeout exists, and ``statement_timeout`` needs a server that
listens. Shutting the socket down from another thread makes the blocked call fail at once; the
changes go back to memory and the next write starts on a fresh connection.
"""

from __future__ import annotations

import os
import socket
import threading
import weakref
from typing import Any

from sqlalchemy import event

from ..logs import logger

__all__ = ["SocketWatch"]


class SocketWatch:
    """The DB-API connections an engine opened, to cut their sockets from another thread."""

    def __init__(self, engine: Any) -> None:
        self._connections: weakref.WeakSet[Any] = weakref.WeakSet()
        self.watchable = engine.dialect.name == "postgresql"
        if self.watchable:
            event.listen(engine, "connect",
                         lambda dbapi_conn, _rec: self._connections.add(dbapi_conn))

    def forget(self) -> None:
        """In a forked child: the parent's connections are not ours to cut."""
        self._connections = weakref.WeakSet()

    def arm(self, limit: float) -> threading.Timer | None:
        """Cut every socket if the caller has not cancelled the timer within ``limit`` s."""
        if not self.watchable:
            return None
        timer = threading.Timer(limit, self.cut_all)
        timer.daemon = True
        timer.start()
        return timer

    def cut_all(self, *, quiet: bool = False) -> None:
        """``quiet``: the caller says it once per condition itself (the office page)."""
        for dbapi_conn in list(self._connections):
            try:
                sock = socket.socket(fileno=os.dup(dbapi_conn.fileno()))
            except Exception:
                continue
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            finally:
                sock.close()
        if not quiet:
            logger.warning("celery-office: the database stopped answering; connections were "
                           "reset")
