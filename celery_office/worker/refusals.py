"""Refused writes: the database refuses what a batch holds, not the batch's coming.

One bad value (a constraint or trigger a DBA added, a value no driver encodes) must never block
every later write of the worker. After the same changes are refused twice, they are written
agent by agent and only the refused agent's change is dropped, loudly; anything that is not a
refusal of content (:func:`~celery_office.db.failures.is_rejection`) drops nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from ..core.changes import Batch
from ..db.failures import is_rejection
from ..logs import log_once
from ..render import first_line, type_name

__all__ = ["write_apart"]


def write_apart(flusher: Any) -> None:
    """The database refused the same changes twice for what they hold (a value, a
    constraint, a trigger), not for being away: write each agent's part on its own and
    drop only the parts it refuses, so one bad value never blocks every later write of
    the process. A refused part still gets its runs' ends written, so its agent is never
    left working; when no part at all gets through, the cause is not one agent's data and
    everything is kept."""
    batch, first_out = flusher.buffer.take()
    parts = sorted(batch.by_agent().items())
    refused: list[tuple[str, Batch, BaseException | None]] = []
    for agent_id, part in parts:
        if not flusher.write(part, first_out & part.runs.keys()):
            refused.append((agent_id, part, flusher.db.last_error))
    if len(refused) == len(parts) > 1 or not all(is_rejection(e) for _, _, e in refused):
        for _, part, _ in refused:
            flusher.buffer.put_back(part)
        return
    for agent_id, part, error in refused:
        ends = Batch(runs={t: r for t, r in part.runs.items() if r.ended}, touched={agent_id},
                     counts=part.counts)  # its runs were counted: so are they written
        if (ends.runs or ends.counts) and not flusher.write(ends, set()) and ends.runs:
            flusher.write(Batch(runs=ends.runs, touched={agent_id}), set())  # without counts
        flusher.buffer.forget_dropped(part)
        log_once(
            f"refused:{agent_id}",
            "celery-office: the database refuses the status change of agent %s (%s: %s); "
            "it is dropped so that the other agents' statuses are written",
            agent_id, type_name(error), first_line(error) if error else "",
            level=logging.ERROR,
        )
