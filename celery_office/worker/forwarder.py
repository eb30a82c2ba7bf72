"""The role of a prefork pool process: hand the changes to the worker's main process.

A pool process never touches the database: every half ``office_flush_interval`` it sends its
coalesced changes over the hand-over socket (:mod:`.handover`), without blocking; what the
socket cannot take now (the main process is busy) stays, coalesced, for the next try. So a pool
process that exits (``max_tasks_per_child``, the end of a warm shutdown) never waits on the
database nor takes a run's end with it.

A run's end does not wait for the next turn: it wakes the thread, which hands it over at once
(a process SIGKILLed a moment after a run ended, by the OOM killer say, would take the end
along), or, when the last hand-over is younger than :data:`END_HANDOVER_GAP`, that long after
it: under a flood of short tasks hand-overs stay batches.
"""

from __future__ import annotations

import time

from ..core.changes import Batch
from ..settings import OfficeSettings
from .buffer import StatusBuffer
from .handover import Handover

__all__ = ["Forwarder", "HANDOVER_SHARE", "EXIT_HANDOVER_WAIT", "END_HANDOVER_GAP"]

HANDOVER_SHARE = 0.5  # a pool process hands over every half flush interval: a change reaches
# the table within about 1.5 intervals, the main process still writes once per interval
END_HANDOVER_GAP = 0.1  # seconds: the least time between two hand-overs an end brings
# forward: at most 10 a second under load (a hand-over costs about 0.2 ms of CPU in all);
# a run longer than this is handed over as it ends
EXIT_HANDOVER_WAIT = 1.0  # seconds an exiting pool process retries a hand-over the main
# process is too busy to take (never a wait on the database)


class Forwarder:
    """Hands what ``buffer`` holds to the main process through ``handover``: the role of a
    pool process (:mod:`.roles`)."""

    forwards = True
    retires = False
    receives = False

    def __init__(self, buffer: StatusBuffer, handover: Handover, *,
                 settings: OfficeSettings) -> None:
        self.buffer = buffer
        self.handover = handover
        self.settings = settings

    def interval(self) -> float:
        """Half a flush interval: a change reaches the table within about 1.5 intervals."""
        return self.settings.flush_interval * HANDOVER_SHARE

    def hold_gap(self, wait: float) -> float:
        """Ends are handed over at most every :data:`END_HANDOVER_GAP`."""
        return min(END_HANDOVER_GAP, self.interval())

    def stop_timeout(self, timeout: float) -> float:
        """An exiting pool process waits on the main process, never on the database."""
        return min(timeout, EXIT_HANDOVER_WAIT + 1.0)

    def start(self) -> None:
        pass

    def keep_unwritten(self) -> str | None:
        return None

    def prepare(self) -> None:
        pass

    def child(self) -> Forwarder:
        """A process a pool process forks (a task's own) hands over too."""
        self.handover.after_fork_in_child()
        return Forwarder(self.buffer, self.handover, settings=self.settings)

    def cycle(self) -> bool:
        """Hand the pending changes over; False when some had to wait for the next try."""
        batch, first_out = self.buffer.take()
        if not batch:
            return True
        unsent = Batch()
        for part, data in self.handover.messages(batch):
            if unsent or not self.handover.send(part, data=data):
                unsent.merge_older(part)  # the rest waits too: one agent's order is kept
                continue
            self.buffer.settle(part, first_out, ok=True)
        if not unsent:
            return True
        self.buffer.settle(unsent, first_out & unsent.runs.keys(), ok=False)
        self.buffer.put_back(unsent)
        return False

    def last_cycle(self, *, retire: bool = False) -> None:
        """The process exits: hand over what is left, retrying for a moment (the main
        process may be busy), never waiting on the database. Retiring is the main
        process's."""
        deadline = time.monotonic() + EXIT_HANDOVER_WAIT
        while not self.cycle() and time.monotonic() < deadline:
            time.sleep(0.01)
