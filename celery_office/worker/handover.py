"""Pool processes hand their status changes to the worker's main process, which alone writes.

Why: a pool process that wrote to the database itself held connections of its own (a worker of
``-c 16`` could hold 34), ran a transaction per flush, and had to reach the database before it
could exit. With a hung database every ``max_tasks_per_child`` recycling then waited the whole
``office_shutdown_timeout``, and what it could not write left with it. Now a pool process only
hands its coalesced changes over, through a datagram socket pair the main process makes before
the pool forks, and the main process's writer is the only one that speaks SQL: one connection
per worker, one transaction per flush interval, and nothing lost when a process exits while the
database is away.

Why this socket: a datagram keeps its boundaries (many processes share one sending end and their
messages never interleave) and its order; a connected ``socketpair`` is not subject to the
kernel's per-receiver queue length, only to the send buffer, set large here. Sending never
blocks (``MSG_DONTWAIT``): when the socket is full because the main process is busy, the send
fails and the change stays where it was, coalesced, for the next try.

The messages are pickles of :class:`~celery_office.core.changes.Batch` parts: they travel
between the processes of one worker only, through a socket nobody else can reach.
"""

from __future__ import annotations

import dataclasses
import pickle
import select
import socket
import threading
from collections.abc import Callable, Iterator

from ..core.changes import Batch
from ..logs import log_once
from ..render import describe

__all__ = ["Handover"]

MAX_MESSAGE = 64 * 1024  # bytes: batches are cut into parts of whole agents below this
LARGEST_MESSAGE = 1024 * 1024  # bytes: the receiving buffer; a larger part cannot be sent
SEND_BUFFER = 4 * 1024 * 1024  # asked for; the kernel caps it (net.core.wmem_max)


class Handover:
    """The socket pair of one worker: pool processes send, the main process receives."""

    def __init__(self) -> None:
        receiver, self._sender = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._receiver: socket.socket | None = receiver
        try:
            self._sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        except OSError:  # pragma: no cover - the default buffer still works, with more retries
            pass
        self._receiving = threading.Lock()  # one reader at a time keeps the messages in order
        self._buffer = bytearray(LARGEST_MESSAGE)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # ------------------------------------------------------------------ pool process side

    def after_fork_in_child(self) -> None:
        """In a pool process: the receiving end is the main process's; drop this copy."""
        self._thread = None
        self._receiving = threading.Lock()
        self._stop = threading.Event()
        self._buffer = bytearray()
        receiver, self._receiver = self._receiver, None
        if receiver is not None:
            receiver.close()

    def send(self, part: Batch, *, data: bytes | None = None) -> bool:
        """Hand ``part`` over without waiting; False when it could not go (socket full, the
        main process gone): the caller keeps it for the next try. ``data``: its pickle, when
        :meth:`messages` made it already."""
        if data is None:
            data = _pickled(part)
        if len(data) >= LARGEST_MESSAGE:  # only a pathological part (an agent's thousands of
            log_once(  # runs at once in one process): dropping it beats blocking the rest
                "handover-too-large",
                "celery-office: a status change of %d bytes is too large to hand over; dropped",
                len(data),
            )
            return True
        try:
            self._sender.send(data, socket.MSG_DONTWAIT)
            return True
        except OSError:
            return False

    @staticmethod
    def messages(batch: Batch) -> Iterator[tuple[Batch, bytes]]:
        """The parts of ``batch`` (:meth:`parts`), each with its pickle: a batch is pickled
        once on its way, not once to be measured and again to be sent."""
        data = _pickled(batch)
        if len(data) <= MAX_MESSAGE:
            yield batch, data
            return
        for part in Handover.parts(batch):
            yield part, _pickled(part)

    @staticmethod
    def parts(batch: Batch) -> Iterator[Batch]:
        """``batch`` as one part, or cut into parts of whole agents that each fit a message.

        An agent's changes stay together, so the order of one run's start and end is kept.
        """
        if len(_pickled(batch)) <= MAX_MESSAGE:
            yield batch
            return
        part = Batch()
        size = 0
        for _agent_id, agent_part in sorted(batch.by_agent().items()):
            agent_size = len(_pickled(agent_part))
            if agent_size > MAX_MESSAGE:
                agent_part = _without_metrics(agent_part)
            if part and size + agent_size > MAX_MESSAGE:
                yield part
                part, size = Batch(), 0
            part.merge_older(agent_part)
            size += agent_size
        if part:
            yield part

    # ------------------------------------------------------------------ main process side

    def start_receiving(self, absorb: Callable[[Batch], None]) -> None:
        """Start the main process's receiving thread: it hands every part to ``absorb``.

        A thread of its own, so the socket keeps draining while the writer waits on a slow
        database: pool processes never find it full for that reason.
        """
        if self._thread is not None or self._receiver is None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._receive_loop, args=(absorb,), name="celery-office-handover", daemon=True
        )
        self._thread.start()

    def _receive_loop(self, absorb: Callable[[Batch], None]) -> None:
        receiver = self._receiver
        while receiver is not None and not self._stop.is_set():
            try:
                readable, _, _ = select.select([receiver], [], [], 0.5)
            except (OSError, ValueError):
                return
            if readable:
                self.drain(absorb)

    def drain(self, absorb: Callable[[Batch], None]) -> int:
        """Receive every part waiting now, in order; returns how many."""
        count = 0
        with self._receiving:
            receiver = self._receiver
            while receiver is not None:
                try:
                    size = receiver.recv_into(self._buffer, 0, socket.MSG_DONTWAIT)
                except OSError:  # nothing more waiting (EAGAIN), or the socket closed
                    break
                count += 1
                try:
                    absorb(pickle.loads(memoryview(self._buffer)[:size]))
                except Exception as exc:  # a bug here must not stop the hand-over
                    log_once(
                        "handover-absorb",
                        "celery-office: a status change handed over by a pool process could not "
                        "be taken (%s)", describe(exc), exc_info=True,
                    )
        return count

    def stop_receiving(self) -> None:
        """Stop the receiving thread (the caller drains what is left)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(1.0)


def _pickled(part: Batch) -> bytes:
    return pickle.dumps(part, protocol=pickle.HIGHEST_PROTOCOL)


def _without_metrics(part: Batch) -> Batch:
    """An agent's part too large for one message: its metrics are what can be that large."""
    log_once(
        "handover-large-metrics",
        "celery-office: the metrics of agent(s) %s are over %d KiB and are not written",
        ", ".join(sorted(part.metrics)), MAX_MESSAGE // 1024,
    )
    return dataclasses.replace(part, metrics={})  # everything else of it goes
