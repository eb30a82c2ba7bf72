"""The writing of a process that writes (a worker's main process, or one that writes alone:
:mod:`.roles`).

One flush per cycle, numbered, so it lands exactly once: a flush whose COMMIT may have landed
(the connection lost once it was sent) is kept and sent again, first, with its number. The
numbers run from 1 under a writer number the database hands out at the process's first flush
(never the local clock, which may step back), and a flush the database cannot place under it
is said in one line and sent again under a new writer number (:mod:`.numbering`). A change
the database refuses for what it holds is dropped alone, agent by agent
(:meth:`Writer.write_apart`), never blocking every later write. A worker's main process is
migrated and registered before its first flush, beats at every heartbeat, and retires its agents
at a warm shutdown (:class:`.roles.MainProcess`, :mod:`.registration`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ..core.changes import AgentInfo, Batch
from ..db.failures import is_rejection
from ..db.flush import write_batch
from ..db.workers import FlushId, is_writer_refusal
from ..logs import log_once
from ..render import first_line, type_name
from ..settings import OfficeSettings
from .buffer import StatusBuffer
from .guard import GuardedDatabase
from .numbering import FlushNumbers
from .registration import Registration

__all__ = ["Writer"]

REFUSALS_BEFORE_APART = 2  # the same content refused twice in a row: no passing fault


class Writer:
    """Writes what ``buffer`` holds through ``db``. Registering first is the role's
    (:class:`.roles.MainProcess`)."""

    def __init__(
        self, settings: OfficeSettings, agents: Mapping[str, AgentInfo], *, buffer: StatusBuffer,
        db: GuardedDatabase, registration: Registration, node_name: str | None,
    ) -> None:
        self.settings = settings
        self.agents = agents
        self.buffer = buffer
        self.db = db
        self.registration = registration
        self.node_name = node_name
        self.numbers = FlushNumbers(registration, node_name)
        self.reset()

    def reset(self) -> None:
        """Fresh state: at construction and in a child after ``fork()``."""
        self.registration.reset()
        self.rejections = 0  # writes refused in a row for their content
        # flushes whose COMMIT may have landed: (batch, its first-out runs, its number)
        self.in_doubt: list[tuple[Batch, set[str], FlushId | None]] = []
        self.in_flight: tuple[Batch, FlushId | None] | None = None  # a flush being sent
        self.numbers.reset()

    # ------------------------------------------------------------------ the cycle

    def cycle(self) -> None:
        """Resend what may have landed, then one flush."""
        if not self._resolve_doubts():
            return
        self.buffer.forget_old_ends()
        batch, first_out = self.buffer.take()
        if not batch:
            return
        if self.write(batch, first_out):
            self.rejections = 0
            return
        self.buffer.put_back(batch)
        if not is_rejection(self.db.last_error):
            self.rejections = 0
            return
        self.rejections += 1
        if self.rejections >= REFUSALS_BEFORE_APART:
            self.rejections = 0
            self.write_apart()

    # ------------------------------------------------------------------ one flush

    def write(self, batch: Batch, first_out: set[str]) -> bool:
        """Write ``batch`` as one flush; True when it landed. A failure that may have landed
        (the connection lost once the COMMIT was sent) keeps the batch, with its number, to
        be sent again before anything newer: it then lands exactly once. Any other failure
        leaves ``batch`` to the caller, which keeps or drops it."""
        if not self.numbers.ready():  # the first write, or the first after a refusal
            self.buffer.settle(batch, first_out, ok=False)
            return False
        flush = self.numbers.next()
        self.in_flight = (batch, flush)  # what a stop that cannot wait keeps (.leftovers)
        sent, self.in_flight = self._send(batch, flush), None
        if sent:
            self.buffer.settle(batch, first_out, ok=True)
            return True
        elif is_writer_refusal(self.db.last_error):
            self.numbers.refused(flush, self.db.last_error)
        elif self.db.commit_sent and not is_rejection(self.db.last_error):
            self.in_doubt.append((batch, first_out, flush))
            return True  # not the caller's any more: sent again, first, at the next cycle
        self.buffer.settle(batch, first_out, ok=False)
        return False

    def _send(self, batch: Batch, flush: FlushId | None, *, resend: bool = False) -> bool:
        def work(engine: Any) -> None:
            # sent before (now again, or on a connection since dropped): landed if numbered there
            again = resend or self.db.commit_sent
            write_batch(engine, batch, self.agents, self.node_name, flush=flush, resend=again,
                        statement_timeout=self.settings.statement_timeout,
                        sent=self.db.mark_sent)

        return self.db.run("status write", work, transaction=False)

    def _resolve_doubts(self) -> bool:
        """Send again, oldest first, the flushes whose COMMIT may have landed; True once none
        is left. Sent with their own numbers, each lands exactly once whatever happened."""
        while self.in_doubt:
            batch, first_out, flush = self.in_doubt[0]
            if not self._send(batch, flush, resend=True):
                error = self.db.last_error
                if is_writer_refusal(error):
                    # its writer's row is gone: sent again under a new writer number
                    self.numbers.refused(flush, error)
                elif not is_rejection(error):
                    return False
                # refused: the number was new to the database, so the first try never landed
                self.in_doubt.pop(0)
                self.buffer.settle(batch, first_out, ok=False)
                self.buffer.put_back(batch)
                continue
            self.in_doubt.pop(0)
            self.buffer.settle(batch, first_out, ok=True)
        return True

    def waiting_agents(self) -> set[str]:
        """The agents whose changes wait to be written: pending, or in a flush in doubt."""
        waiting = self.buffer.pending_agent_ids()
        for batch, _, _ in self.in_doubt:
            waiting.update(batch.by_agent())
        return waiting

    # ------------------------------------------------------------------ refusals

    def write_apart(self) -> None:
        """The database refused the same changes twice for what they hold (a value, a
        constraint, a trigger), not for being away: write each agent's part on its own and
        drop only the parts it refuses, so one bad value never blocks every later write of
        the process. A refused part still gets its runs' ends written, so its agent is never
        left working; when no part at all gets through, the cause is not one agent's data and
        everything is kept."""
        batch, first_out = self.buffer.take()
        parts = sorted(batch.by_agent().items())
        refused: list[tuple[str, Batch, BaseException | None]] = []
        for agent_id, part in parts:
            if not self.write(part, first_out & part.runs.keys()):
                refused.append((agent_id, part, self.db.last_error))
        if len(refused) == len(parts) > 1 or not all(is_rejection(e) for _, _, e in refused):
            for _, part, _ in refused:
                self.buffer.put_back(part)
            return
        for agent_id, part, error in refused:
            ends = Batch(runs={t: r for t, r in part.runs.items() if r.ended}, touched={agent_id},
                         counts=part.counts)  # its runs were counted: so are they written
            if (ends.runs or ends.counts) and not self.write(ends, set()) and ends.runs:
                self.write(Batch(runs=ends.runs, touched={agent_id}), set())  # without counts
            self.buffer.forget_dropped(part)
            log_once(
                f"refused:{agent_id}",
                "celery-office: the database refuses the status change of agent %s (%s: %s); "
                "it is dropped so that the other agents' statuses are written",
                agent_id, type_name(error), first_line(error) if error else "",
                level=logging.ERROR,
            )
