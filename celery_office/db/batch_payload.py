"""A batch as the JSON document PostgreSQL's ``office_apply_batch`` takes (revision 0005).

One document, one round trip: what the worker's Python used to send in about seven statements
under the agents' locks. Times are epoch seconds (the worker's clock, as everywhere a batch
orders events); day counts carry their day in the app's timezone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..core.changes import AgentInfo, Batch
from .statements import agent_values, run_key
from .workers import FlushId

__all__ = ["batch_payload"]


def _agent(agent: AgentInfo) -> dict[str, Any]:
    values = agent_values(agent)
    values["fte_coefficient"] = str(values["fte_coefficient"])  # a Decimal, exactly
    return values


def batch_payload(
    batch: Batch, agents: Mapping[str, AgentInfo], node_name: str | None, *,
    flush: FlushId | None, resend: bool = False,
) -> str:
    """The JSON text of ``batch`` for ``office_apply_batch`` (``flush``: the flush's writer
    and number; ``resend``: sent before, it may have landed, so a number already there means
    it did)."""
    touched = sorted(batch.touched | {run.agent_id for run in batch.runs.values()})
    document: dict[str, Any] = {
        "node": node_name,
        "touched": touched,
        "agents": [_agent(agents[a]) for a in touched if a in agents],
        "runs": [
            {"id": run_key(task_id), "agent": run.agent_id, "task": run.task,
             "at": run.started_at, "ended": run.ended}
            for task_id, run in batch.runs.items()
        ],
        "outcomes": [
            {"agent": agent_id, "status": outcome.status.value, "task": outcome.task,
             "at": outcome.at}
            for agent_id, outcome in batch.outcomes.items()
        ],
        "metrics": [
            {"agent": agent_id, "metrics": metrics, "at": at}
            for agent_id, (metrics, at) in batch.metrics.items()
        ],
        "started": [{"agent": a, "task": t} for a, t in sorted(batch.started)],
        "counts": [
            {"agent": agent_id, "day": day.isoformat(), **c.as_dict()}
            for (agent_id, day), c in sorted(batch.counts.items())
        ],
    }
    if flush is not None:  # numbered per writer: a worker's, or a process that writes alone
        document.update(writer=flush.writer, seq=flush.seq, resend=resend)
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
