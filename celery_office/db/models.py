"""ORM classes of celery-office's tables, for applications that read or write them with
SQLAlchemy's ORM (:class:`celery_office.OfficeReporter` does).

The tables themselves are SQLAlchemy Core tables (:mod:`.tables`, :mod:`.notify_tables`),
with what each column means: a worker writes through Core alone and never loads the ORM. The
annotations here give each class its typed attributes; the columns are the tables'.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import DeclarativeBase, Mapped

from ..core.statuses import AgentStatus
from . import tables
from .base import METADATA, STATUS_TABLE, AwareDateTime, db_now
from .tables import DAY_TABLE, DAY_VIEW, EFFECTIVE_STATUS_VIEW, NOTICE_TABLE, TIMELINE_TABLE

__all__ = [
    "AgentStatus",
    "Base",
    "OfficeAgentStatus",
    "OfficeWorker",
    "OfficeWriter",
    "OfficeAgentRun",
    "OfficeAgentOutcome",
    "OfficeAgentDay",
    "OfficeAgentTotal",
    "OfficeAgentAlert",
    "OfficeAgentStart",
    "OfficeAgentNotice",
    "OfficeAgentTimeline",
    "OfficeNotifyEvent",
    "OfficeNotifyDelivery",
    "OfficeNotifyTarget",
    "AwareDateTime",
    "db_now",
    "STATUS_TABLE",
    "EFFECTIVE_STATUS_VIEW",
    "DAY_TABLE",
    "DAY_VIEW",
    "NOTICE_TABLE",
    "TIMELINE_TABLE",
]


class Base(DeclarativeBase):
    """Declarative base on celery-office's own metadata (every table of :mod:`.tables`)."""

    metadata = METADATA


class OfficeAgentStatus(Base):
    """One row per agent: what the Office Dashboard shows (the spec's table, unchanged)."""

    __table__ = tables.STATUS

    id: Mapped[int]
    agent_id: Mapped[str]
    department: Mapped[str]
    name: Mapped[str]
    brand: Mapped[str | None]
    status: Mapped[AgentStatus]
    last_activity: Mapped[datetime | None]
    task: Mapped[str | None]
    metrics: Mapped[dict[str, Any] | None]
    salary_equivalent: Mapped[int | None]
    fte_coefficient: Mapped[Decimal | None]
    created_at: Mapped[datetime | None]
    updated_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<OfficeAgentStatus {self.agent_id} {self.status.value} task={self.task!r}>"


class OfficeWorker(Base):
    __table__ = tables.WORKER

    node_name: Mapped[str]
    hostname: Mapped[str | None]
    pid: Mapped[int | None]
    agents: Mapped[list[str] | None]
    started_at: Mapped[datetime | None]
    last_seen: Mapped[datetime | None]
    stopped_at: Mapped[datetime | None]
    flush_seq: Mapped[int | None]


class OfficeWriter(Base):
    __table__ = tables.WRITER

    writer_id: Mapped[int]
    node_name: Mapped[str]
    hostname: Mapped[str | None]
    pid: Mapped[int | None]
    flush_seq: Mapped[int]
    started_at: Mapped[datetime | None]
    last_seen: Mapped[datetime | None]
    waiting: Mapped[list[str] | None]


class OfficeAgentRun(Base):
    __table__ = tables.RUN

    task_id: Mapped[str]
    agent_id: Mapped[str]
    node_name: Mapped[str | None]
    task: Mapped[str | None]
    started_at: Mapped[float]


class OfficeAgentOutcome(Base):
    __table__ = tables.OUTCOME

    agent_id: Mapped[str]
    finished_at: Mapped[float]
    status: Mapped[AgentStatus]
    task: Mapped[str | None]
    metrics_at: Mapped[float]


class OfficeAgentDay(Base):
    __table__ = tables.DAY

    agent_id: Mapped[str]
    day: Mapped[date]
    runs: Mapped[int]
    succeeded: Mapped[int]
    failed: Mapped[int]
    retried: Mapped[int]
    revoked: Mapped[int]
    runtime_s: Mapped[float]
    max_runtime_s: Mapped[float]
    last_success_at: Mapped[datetime | None]
    last_failure_at: Mapped[datetime | None]


class OfficeAgentTotal(Base):
    __table__ = tables.TOTAL

    agent_id: Mapped[str]
    runs: Mapped[int]
    succeeded: Mapped[int]
    failed: Mapped[int]
    retried: Mapped[int]
    revoked: Mapped[int]
    runtime_s: Mapped[float]


class OfficeAgentAlert(Base):
    __table__ = tables.ALERT

    agent_id: Mapped[str]
    kind: Mapped[str]
    subject: Mapped[str]
    node_name: Mapped[str | None]
    task: Mapped[str | None]
    since: Mapped[datetime | None]


class OfficeAgentStart(Base):
    __table__ = tables.START

    agent_id: Mapped[str]
    task_name: Mapped[str]
    started_at: Mapped[datetime]


class OfficeAgentTimeline(Base):
    __table__ = tables.TIMELINE

    id: Mapped[int]
    agent_id: Mapped[str]
    status: Mapped[str]
    alert: Mapped[str | None]
    last_run_ok: Mapped[bool]
    task: Mapped[str | None]
    since: Mapped[datetime]
    until: Mapped[datetime | None]


class OfficeAgentNotice(Base):
    __table__ = tables.NOTICE

    agent_id: Mapped[str]
    state: Mapped[str]
    version: Mapped[int]
    changed_at: Mapped[datetime | None]
    period_id: Mapped[int | None]


class OfficeNotifyEvent(Base):
    __table__ = tables.EVENT

    id: Mapped[int]
    key: Mapped[str]
    agent_id: Mapped[str]
    state: Mapped[str]
    body: Mapped[str]
    created_at: Mapped[datetime]


class OfficeNotifyDelivery(Base):
    __table__ = tables.DELIVERY

    event_id: Mapped[int]
    target: Mapped[str]
    state: Mapped[str]
    attempts: Mapped[int]
    next_try_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    leased_by: Mapped[str | None]
    done_at: Mapped[datetime | None]


class OfficeNotifyTarget(Base):
    __table__ = tables.TARGET

    target: Mapped[str]
    seen_at: Mapped[datetime]
