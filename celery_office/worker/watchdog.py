"""Cut a writer's database sockets when one write takes far longer than any should.

A server that accepts and never answers (or a connection that stops relaying) blocks libpq
forever: no client-side read timeout exists, and ``statement_timeout`` needs a server that
listens. Shutting the socket down from another thread makes the blocked call fail at once; the
changes go back to memory and the next write starts on a fresh connection.

That other thread is one per process (:class:`Watchdog`), started at the first deadline armed
and kept: arming and cancelling a deadline around every write only take a lock.
"""

from __future__ import annotations

import math
import os
import socket
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy import event

from ..logs import logger

__all__ = ["Alarm", "SocketWatch", "Watchdog", "call_after", "THREAD_NAME"]

THREAD_NAME = "celery-office-watchdog"  # what a thread dump shows


class Alarm:
    """One armed deadline: :meth:`cancel` it before ``due`` and its action never runs."""

    __slots__ = ("due", "action", "_watchdog")

    def __init__(self, watchdog: Watchdog, due: float, action: Callable[[], object]) -> None:
        self.due = due
        self.action = action
        self._watchdog = watchdog

    def cancel(self) -> None:
        self._watchdog.cancel(self)


class Watchdog:
    """One daemon thread that runs each armed action once its deadline has passed.

    It sleeps until the earliest deadline; a deadline armed later than that one does not wake
    it, so a write every few milliseconds costs a lock, not a thread or a wake-up each.
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._wake = threading.Condition(threading.Lock())
        self._armed: set[Alarm] = set()
        self._sleeping_until = -math.inf  # when the thread looks again; -inf: it is awake
        self._thread: threading.Thread | None = None

    def after_fork_in_child(self) -> None:
        """The parent's thread does not exist here, its lock may have been held, and its
        alarms are not ours: cutting the parent's write from here would shut the sockets
        both processes share."""
        self._reset()

    def arm(self, limit: float, action: Callable[[], object]) -> Alarm:
        """Run ``action`` in the watchdog's thread in ``limit`` seconds unless cancelled."""
        alarm = Alarm(self, time.monotonic() + limit, action)
        with self._wake:
            self._armed.add(alarm)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name=THREAD_NAME,
                                                daemon=True)
                self._thread.start()
            elif alarm.due < self._sleeping_until:
                self._wake.notify()
        return alarm

    def cancel(self, alarm: Alarm) -> None:
        with self._wake:
            self._armed.discard(alarm)

    def _loop(self) -> None:
        while True:
            with self._wake:
                now = time.monotonic()
                due = [alarm for alarm in self._armed if alarm.due <= now]
                if not due:
                    self._sleeping_until = min((a.due for a in self._armed), default=math.inf)
                    wait = self._sleeping_until - now
                    self._wake.wait(None if math.isinf(wait) else wait)
                    self._sleeping_until = -math.inf
                    continue
                self._armed.difference_update(due)
            for alarm in sorted(due, key=lambda a: a.due):
                try:
                    alarm.action()
                except Exception:  # the next deadline must still be kept
                    logger.exception("celery-office: the database watchdog's action failed")


_WATCHDOG = Watchdog()
os.register_at_fork(after_in_child=_WATCHDOG.after_fork_in_child)


def call_after(limit: float, action: Callable[[], object]) -> Alarm:
    """``action()`` in ``limit`` seconds, from this process's watchdog thread, unless the
    returned alarm is cancelled first."""
    return _WATCHDOG.arm(limit, action)


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

    def arm(self, limit: float) -> Alarm | None:
        """Cut every socket unless the caller cancels the alarm within ``limit`` s."""
        if not self.watchable:
            return None
        return call_after(limit, self.cut_all)

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
