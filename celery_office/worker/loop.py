"""The background thread of a process: started lazily after ``fork()``, woken to stop or to turn
early (a run ended), and never silenced by its own bugs (an unexpected error in one turn is
logged once a minute and the thread goes on)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..logs import log_once
from ..render import describe

__all__ = ["Loop"]


class Loop:
    """Calls ``turn()`` until stopped, ``wait()`` seconds apart (asked before each turn), then
    ``last()`` once. :meth:`wake` brings the next turn forward, ``hold()`` seconds later (asked
    then: how long the role wants between two turns that move something).

    Nothing of it (thread, events) crosses a ``fork()``: :meth:`reset` makes fresh ones in a
    child, whose thread starts when the child first needs it.
    """

    def __init__(self, turn: Callable[[], None], last: Callable[[], None], *,
                 wait: Callable[[], float], hold: Callable[[], float] = lambda: 0.0,
                 name: str = "celery-office-writer") -> None:
        self._turn = turn
        self._last = last
        self._wait = wait
        self._hold = hold
        self._name = name
        self.reset()

    def reset(self) -> None:
        self._wake = threading.Event()
        self.stopping = threading.Event()
        self.done = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (the caller makes sure it is started once)."""
        self.thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self.thread.start()

    def wake(self) -> None:
        """Turn early: a run ended. Cheap (an event set), for the signal handlers' path."""
        self._wake.set()

    def stop(self, timeout: float) -> bool:
        """Ask the thread to finish, wait up to ``timeout`` seconds; True if it did."""
        self.stopping.set()
        self._wake.set()
        if self.thread is not None:
            self.thread.join(timeout)
        return self.thread is None or not self.thread.is_alive()

    def _run(self) -> None:
        try:
            while not self.stopping.is_set():
                woken = self._wake.wait(self._wait())
                self._wake.clear()
                if woken and not self.stopping.is_set():
                    self._survive(self._held)
                if self.stopping.is_set():
                    break
                self._survive(self._turn)
            self._survive(self._last)
        finally:
            self.done.set()

    def _held(self) -> None:
        """Woken early: wait what the role asks between two turns (a stop ends the wait)."""
        hold = self._hold()
        if hold > 0:
            self.stopping.wait(hold)

    @staticmethod
    def _survive(step: Callable[[], None]) -> None:
        try:
            step()
        except Exception as exc:
            log_once(
                "writer-loop",
                "celery-office: the status writer met an unexpected error (%s); it goes on",
                describe(exc), exc_info=True,
            )
