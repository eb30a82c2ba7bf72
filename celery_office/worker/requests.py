"""What Celery says this worker runs, held against the table, at each heartbeat.

The main process knows every request its pool runs (``celery.worker.state.active_requests``,
with names and start times). Against the worker's runs in the table, that tells two things no
signal does: a run the table still has but nobody runs (its end was never written: a task
requeued after its pool process was lost, a process lost after storing its result), and the
runs this worker runs that the table lost (another worker took this one for dead and ended
them). Both wait a grace first: a start or an end may still be on its way from a pool process.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from ..core.changes import RunChange
from ..db.statements import run_key
from ..settings import OfficeSettings

__all__ = ["RunningRequests", "LOST_RUN_GRACE_MIN", "running_requests"]

LOST_RUN_GRACE_MIN = 5.0  # seconds: a run unknown to the main process this long (plus
# office_statement_timeout, and at least two flush intervals) has ended unseen


class RunningRequests:
    """The worker's requests against its runs in the table; keeps, between two heartbeats,
    since when each run of the table has been unknown to the main process."""

    def __init__(self, settings: OfficeSettings,
                 routes: Mapping[str, tuple[str, str | None]]) -> None:
        self.settings = settings
        self.routes = dict(routes)  # task name -> (agent id, text while it runs)
        # runs of this worker in the table that its main process no longer runs:
        # task_id -> (agent_id, when first seen so)
        self._unowned_runs: dict[str, tuple[str, float]] = {}

    def grace(self) -> float:
        """How long a run's start or end may take to reach the table from a pool process."""
        return (
            max(2 * self.settings.flush_interval, LOST_RUN_GRACE_MIN)
            + self.settings.statement_timeout
        )

    def in_progress(self, requests: Sequence[Any]) -> dict[str, RunChange]:
        """The runs of the agents' tasks this worker runs now, by Celery's own list, started
        longer ago than the grace (a younger start may still be on its way to the table)."""
        now = time.time()
        runs = {}
        for request in requests:
            route = self.routes.get(getattr(request, "name", None) or "")
            started = getattr(request, "time_start", None)
            task_id = getattr(request, "id", None)
            if route is None or task_id is None or not started or now - started < self.grace():
                continue
            runs[run_key(task_id)] = RunChange(route[0], route[1], float(started))
        return runs

    def lost(self, in_table: Mapping[str, str], running: set[str]) -> dict[str, str]:
        """The runs this worker has in the table but has not run for a while.

        Their end was never written: a run Celery requeued after its pool process was lost
        (``reject_on_worker_lost``) or whose process died after storing its result (neither
        sends a signal). A run must stay unknown to the main process longer than a pool
        process's end takes to be handed over and written before it counts as lost. The
        heartbeat ends them in its own transaction, under the agents' locks, so a run
        restarted with the same id since this look is never ended in its place.
        """
        now = time.monotonic()
        grace = self.grace()
        unowned = {}
        for task_id, agent_id in in_table.items():
            if task_id not in running:
                unowned[task_id] = (agent_id, self._unowned_runs.get(task_id, (agent_id, now))[1])
        self._unowned_runs = unowned
        return {t: a for t, (a, first_seen) in unowned.items() if now - first_seen >= grace}



def running_requests() -> list[Any] | None:
    """The requests this worker runs now (its main process's view, with their names and start
    times), or None outside one or when it cannot be read (the heartbeat goes on without the
    lost-run check)."""
    try:
        from celery.worker import state

        for _ in range(10):
            try:  # a WeakSet the consumer thread changes: copying it may meet a change
                return list(state.active_requests)
            except RuntimeError:
                continue
    except Exception:  # never let the check cost the heartbeat
        pass
    return None
