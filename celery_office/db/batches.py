"""A process's coalesced changes written in one transaction (:func:`apply_batch`), exactly once."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Connection, text

from ..core.changes import AgentInfo, Batch, Outcome, RunChange, supersedes
from ..core.state import AgentState
from ..core.statuses import AgentStatus
from .agent_rows import ensure_agents, read_locked, write_status
from .alerts import clear_cured, record_starts
from .batch_payload import batch_payload
from .daily import add_day_counts
from .statements import run_key, statements_for
from .workers import FlushId, claim_flush

__all__ = ["apply_batch", "apply_in_python"]


APPLY_BATCH = text("SELECT office_apply_batch(CAST(:batch AS jsonb))")


def apply_batch(
    conn: Connection,
    batch: Batch,
    agents: Mapping[str, AgentInfo],
    node_name: str | None,
    known: set[str] | None = None,
    *,
    flush: FlushId | None = None,
    resend: bool = False,
) -> None:
    """Write one process's coalesced changes and recompute the status of the agents touched.

    ``flush``: the flush's writer and number; sent again after a lost COMMIT (``resend``), a
    flush already written changes nothing, so every count lands exactly once. A flush the
    writers' ledger cannot place raises (:class:`~.workers.WriterRefused`).

    PostgreSQL: one call of ``office_apply_batch`` (revision 0005), which does inside the
    database what :func:`apply_in_python` does here for SQLite.
    """
    if conn.dialect.name == "postgresql":
        payload = batch_payload(batch, agents, node_name, flush=flush, resend=resend)
        conn.execute(APPLY_BATCH, {"batch": payload})
        return
    if flush is not None and not claim_flush(conn, flush, node_name=node_name, resend=resend):
        return
    apply_in_python(conn, batch, agents, node_name, known)


def apply_in_python(
    conn: Connection,
    batch: Batch,
    agents: Mapping[str, AgentInfo],
    node_name: str | None,
    known: set[str] | None = None,
) -> None:
    """The batch's rules, statement by statement (SQLite, where one writer holds the whole
    database and round trips cost nothing).

    Runs in progress and outcomes are read under the agents' locks, the batch is applied to
    them in memory (a newer outcome or metrics wins, whichever process flushes last), and each
    table is written with one statement. ``known``: agents whose rows this process has seen
    exist, so their insert is skipped; the agents written are added to it.
    """
    agent_ids = sorted(batch.touched | {run.agent_id for run in batch.runs.values()})
    missing = agent_ids if known is None else [a for a in agent_ids if a not in known]
    ensure_agents(conn, [agents[a] for a in missing if a in agents])
    states = read_locked(conn, agent_ids)
    absent = [a for a in agent_ids if a not in states]
    if absent:  # rows deleted by hand since this process wrote them: put them back
        ensure_agents(conn, [agents[a] for a in absent if a in agents])
        states.update(read_locked(conn, absent))
        states.update((a, AgentState()) for a in absent if a not in states)
    _write_runs(conn, batch.runs, states, node_name)
    if batch.started:
        record_starts(conn, batch.started)
    if any(state.alerts for state in states.values()):
        ended = [task_id for task_id, run in batch.runs.items() if run.ended]
        clear_cured(conn, states, ended_runs=ended, started=batch.started)

    newer_outcomes = set()
    for agent_id, outcome in batch.outcomes.items():
        state = states[agent_id]
        if supersedes(outcome.at, None if state.outcome is None else state.outcome.at):
            state.outcome = outcome
            newer_outcomes.add(agent_id)
    newer_metrics = {}
    for agent_id, (metrics, at) in batch.metrics.items():
        state = states[agent_id]
        if supersedes(at, state.metrics_at):
            state.metrics_at = at
            newer_metrics[agent_id] = metrics
    _write_outcomes(conn, {a: states[a] for a in sorted(newer_outcomes | set(newer_metrics))})

    add_day_counts(conn, batch.counts)  # under the agents' locks, in the same transaction
    write_status(conn, states, newer_metrics)
    if known is not None:
        known.update(agent_ids)


def _write_runs(
    conn: Connection,
    runs: Mapping[str, RunChange],
    states: Mapping[str, AgentState],
    node_name: str | None,
) -> None:
    """Delete the runs that ended, upsert the ones that started or changed their text, and
    apply both to ``states``."""
    ended = []
    started = []
    for task_id, run in runs.items():
        in_progress = states[run.agent_id].runs
        key = run_key(task_id)
        if run.ended:
            ended.append(key)
            in_progress.pop(key, None)
            continue
        started_at = in_progress[key][0] if key in in_progress else run.started_at
        in_progress[key] = (started_at, run.task)
        started.append(
            {"task_id": key, "agent_id": run.agent_id, "node_name": node_name,
             "task": run.task, "started_at": started_at}
        )
    statements = statements_for(conn.dialect.name)
    if ended:
        conn.execute(statements.delete_runs, {"task_ids": ended})
    if started:
        conn.execute(statements.upsert_runs, started)



def _write_outcomes(conn: Connection, states: Mapping[str, AgentState]) -> None:
    """Upsert the outcomes and metrics times the batch made newer, in one statement."""
    if not states:
        return
    rows = []
    for agent_id, state in states.items():
        outcome = state.outcome or Outcome(AgentStatus.ok, None, 0.0)
        rows.append(
            {"agent_id": agent_id, "finished_at": outcome.at, "status": outcome.status,
             "task": outcome.task, "metrics_at": state.metrics_at}
        )
    conn.execute(statements_for(conn.dialect.name).upsert_outcomes, rows)
