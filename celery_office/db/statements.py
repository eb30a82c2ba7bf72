"""The statements of the write path and the names they share, built once per dialect.

Building and cache-keying SQLAlchemy constructs on every flush would cost more CPU than the
writes themselves, so every statement a batch or a heartbeat runs often is built here once.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..core.changes import AGENT_FIELDS, AgentInfo
from .base import db_now
from .tables import ALERT, OUTCOME, RUN, START, STATUS, WORKER

__all__ = [
    "STATUS", "RUN", "OUTCOME", "WORKER", "ALERT", "START", "RUN_KEY_MAX",
    "statements_for", "insert_into", "is_postgresql", "agent_values", "run_key", "seconds_ago",
]

RUN_KEY_MAX: int = RUN.c.task_id.type.length  # type: ignore[attr-defined]


def insert_into(conn: Connection, table: Any) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def is_postgresql(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


# --------------------------------------------------------------------------- agent rows


def agent_values(agent: AgentInfo) -> dict[str, Any]:
    """The row's columns that describe the agent, from the registry or a reporter."""
    return {name: getattr(agent, name) for name in AGENT_FIELDS}


class Statements:
    """The statements of the write path, built once per dialect: building and cache-keying
    SQLAlchemy constructs on every flush would cost more CPU than the writes themselves."""

    def __init__(self, dialect: str) -> None:
        insert = (postgresql if dialect == "postgresql" else sqlite).insert
        ids: Any = bindparam("ids", expanding=True)

        self.ensure = (
            insert(STATUS)
            .values(last_activity=db_now(), created_at=db_now(), updated_at=db_now())
            .on_conflict_do_nothing(index_elements=["agent_id"])
        )
        self.read = _locked_read(ids)
        # taken in a statement of its own, before the read: in READ COMMITTED a locking read
        # that waited returns the locked rows fresh but the joined runs and outcomes as of the
        # statement's start, i.e. stale by the very commit it waited for
        self.lock = (
            select(STATUS.c.agent_id)
            .where(STATUS.c.agent_id.in_(ids))
            .order_by(STATUS.c.agent_id)
            .with_for_update()
        ) if dialect == "postgresql" else None
        self.delete_runs = delete(RUN).where(
            RUN.c.task_id.in_(bindparam("task_ids", expanding=True))
        )
        run = insert(RUN)
        self.upsert_runs = run.on_conflict_do_update(
            index_elements=["task_id"],
            set_={"task": run.excluded.task, "node_name": run.excluded.node_name},
        )
        outcome = insert(OUTCOME)
        self.upsert_outcomes = outcome.on_conflict_do_update(
            index_elements=["agent_id"],
            set_={k: outcome.excluded[k] for k in ("finished_at", "status", "task", "metrics_at")},
        )
        # for agents no live worker serves: their silence must keep counting
        self.update_status_quiet = (
            update(STATUS)
            .where(STATUS.c.agent_id == bindparam("a"))
            .values(status=bindparam("status"), task=bindparam("task"), updated_at=db_now())
        )
        self.update_status = self.update_status_quiet.values(last_activity=db_now())
        self.update_status_metrics = self.update_status.values(
            metrics=bindparam("metrics", type_=STATUS.c.metrics.type)
        )


def _locked_read(ids: Any) -> Any:
    """Every row that decides an agent's status: its outcome, runs and alerts, joined."""
    return (
        select(
            STATUS.c.agent_id,
            OUTCOME.c.finished_at,
            OUTCOME.c.status,
            OUTCOME.c.task,
            OUTCOME.c.metrics_at,
            RUN.c.task_id,
            RUN.c.task.label("run_task"),
            RUN.c.started_at,
            ALERT.c.kind.label("alert_kind"),
            ALERT.c.subject.label("alert_subject"),
            ALERT.c.task.label("alert_task"),
            ALERT.c.node_name.label("alert_node"),
            ALERT.c.since.label("alert_since"),
        )
        .select_from(
            STATUS.outerjoin(OUTCOME, OUTCOME.c.agent_id == STATUS.c.agent_id)
            .outerjoin(RUN, RUN.c.agent_id == STATUS.c.agent_id)
            .outerjoin(ALERT, ALERT.c.agent_id == STATUS.c.agent_id)  # a few an agent
        )
        .where(STATUS.c.agent_id.in_(ids))
        .order_by(STATUS.c.agent_id)
    )


@functools.cache
def statements_for(dialect: str) -> Statements:
    return Statements(dialect)



def run_key(task_id: Any) -> str:
    """The run's key in ``office_agent_run``: the task id, or a digest of one too long for the
    column (Celery accepts any string as a custom task id, and some pass other types)."""
    task_id = task_id if isinstance(task_id, str) else str(task_id)
    if len(task_id) <= RUN_KEY_MAX:
        return task_id
    return "sha256:" + hashlib.sha256(task_id.encode("utf-8", "surrogatepass")).hexdigest()



def seconds_ago(conn: Connection, seconds: float) -> Any:
    if is_postgresql(conn):
        return func.now() - func.make_interval(0, 0, 0, 0, 0, 0, literal(float(seconds)))
    return func.strftime("%Y-%m-%d %H:%M:%f000", "now", f"-{float(seconds)} seconds")
