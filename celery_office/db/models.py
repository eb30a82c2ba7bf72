"""The tables celery-office writes.

``office_agent_status`` is the contract with the Office Dashboard: its columns, types, lengths,
nullability and indexes are those of the ADOLF integration spec and must not change. Everything
the worker needs for its own bookkeeping lives in tables of its own, so a dashboard that reads
only ``office_agent_status`` never sees them.

Timestamps are timezone-aware and come from the database clock (:class:`db_now`), never from a
worker's clock: workers on many hosts must agree, whatever their time zone.

celery-office migrates these tables with its own Alembic history; a host application's
autogenerate leaves them alone through ``celery_office.include_name`` and ``include_object``
(:mod:`celery_office.db.host_alembic`). An existing ``office_agent_status`` that differs from the
model in ways that do not matter is adopted as it is (:mod:`celery_office.db.contract`).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Date, Enum, Float, Integer, Numeric, String, text
from sqlalchemy.orm import Mapped, mapped_column

from ..core.limits import AGENT_ID_MAX, BRAND_MAX, DEPARTMENT_MAX, NAME_MAX, TASK_MAX
from ..core.statuses import AgentStatus
from .base import JSON_DOCUMENT, STATUS_TABLE, AwareDateTime, Base, agent_key, db_now
from .notify_tables import (  # on Base.metadata with the rest: migrations compare them all
    NOTICE_TABLE,
    TIMELINE_TABLE,
    OfficeAgentNotice,
    OfficeAgentTimeline,
    OfficeNotifyDelivery,
    OfficeNotifyEvent,
    OfficeNotifyTarget,
)

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

EFFECTIVE_STATUS_VIEW = "office_agent_status_effective"
DAY_TABLE = "office_agent_day"
DAY_VIEW = "office_agent_day_view"  # the day's numbers with department, name and brand

class OfficeAgentStatus(Base):
    """One row per agent: what the Office Dashboard shows (the spec's table, unchanged)."""

    __tablename__ = STATUS_TABLE

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent_id: Mapped[str] = mapped_column(
        String(AGENT_ID_MAX), unique=True, nullable=False, index=True
    )
    department: Mapped[str] = mapped_column(String(DEPARTMENT_MAX), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX), nullable=False)
    brand: Mapped[str | None] = mapped_column(String(BRAND_MAX), index=True)
    status: Mapped[AgentStatus] = mapped_column(
        Enum(AgentStatus, name="agentstatus"), nullable=False, default=AgentStatus.ok
    )
    last_activity: Mapped[datetime | None] = mapped_column(AwareDateTime())
    task: Mapped[str | None] = mapped_column(String(TASK_MAX))
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON_DOCUMENT, default=dict)
    salary_equivalent: Mapped[int | None] = mapped_column(Integer, default=60000)
    fte_coefficient: Mapped[Decimal | None] = mapped_column(Numeric(3, 2), default=1.0)
    created_at: Mapped[datetime | None] = mapped_column(AwareDateTime(), default=db_now())
    updated_at: Mapped[datetime | None] = mapped_column(
        AwareDateTime(), default=db_now(), onupdate=db_now()
    )

    def __repr__(self) -> str:
        return f"<OfficeAgentStatus {self.agent_id} {self.status.value} task={self.task!r}>"


class OfficeWorker(Base):
    """A Celery worker (by node name) that serves agents; its heartbeat tells it is alive."""

    __tablename__ = "office_worker"

    node_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    hostname: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    agents: Mapped[list[str] | None] = mapped_column(JSON_DOCUMENT)
    started_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    last_seen: Mapped[datetime | None] = mapped_column(AwareDateTime(), index=True)
    stopped_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    # 0.2.0's flush numbers, unused since revision 0007 (office_writer.flush_seq)
    flush_seq: Mapped[int | None] = mapped_column(BigInteger)


class OfficeWriter(Base):
    """One start of a process that writes flushes: its number, from the database (so it never
    goes backwards, whatever the clocks say), and its last flush that landed (exactly once)."""

    __tablename__ = "office_writer"

    writer_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    node_name: Mapped[str] = mapped_column(String(255), nullable=False, index=True)
    hostname: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    flush_seq: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("0"))
    started_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    last_seen: Mapped[datetime | None] = mapped_column(AwareDateTime())
    # the agents whose changes wait in this writer (its flushes fail), as of its last heartbeat:
    # the other writers' heartbeats leave their last_activity alone
    waiting: Mapped[list[str] | None] = mapped_column(JSON_DOCUMENT)


class OfficeAgentRun(Base):
    """A run of an agent's task in progress, so overlapping runs keep the agent working."""

    __tablename__ = "office_agent_run"

    task_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    agent_id: Mapped[str] = mapped_column(String(AGENT_ID_MAX), nullable=False, index=True)
    node_name: Mapped[str | None] = mapped_column(String(255), index=True)
    task: Mapped[str | None] = mapped_column(String(TASK_MAX))
    started_at: Mapped[float] = mapped_column(Float, nullable=False)


class OfficeAgentOutcome(Base):
    """The last finished run of an agent and when it happened (worker clock, seconds).

    Writers from many processes flush in any order; the times here let the newest event win.
    """

    __tablename__ = "office_agent_outcome"

    agent_id: Mapped[str] = agent_key()
    finished_at: Mapped[float] = mapped_column(Float, nullable=False, server_default=text("0"))
    status: Mapped[AgentStatus] = mapped_column(
        Enum(AgentStatus, name="agentstatus"), nullable=False, default=AgentStatus.ok
    )
    task: Mapped[str | None] = mapped_column(String(TASK_MAX))
    metrics_at: Mapped[float] = mapped_column(Float, nullable=False, server_default=text("0"))


class OfficeAgentDay(Base):
    """An agent's day in numbers (the day in the app's ``timezone``), summed by every writer.

    Each batch adds what its process counted since its last write (``runs = runs + ...``), so
    runs that start and end between two writes are counted without a row of their own. Keyed
    by agent id alone (no foreign key): a row deleted by hand leaves its days until retention.
    ``last_success_at`` and ``last_failure_at`` are when the run ended, by the worker's clock:
    a run that ends during an outage is written later, at its own time.
    """

    __tablename__ = DAY_TABLE

    agent_id: Mapped[str] = mapped_column(String(AGENT_ID_MAX), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True, index=True)
    runs: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    succeeded: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    failed: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    retried: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    revoked: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    runtime_s: Mapped[float] = mapped_column(Float, nullable=False, server_default=text("0"))
    max_runtime_s: Mapped[float] = mapped_column(Float, nullable=False, server_default=text("0"))
    last_success_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    last_failure_at: Mapped[datetime | None] = mapped_column(AwareDateTime())


class OfficeAgentTotal(Base):
    """What retention folded away of an agent's days: its sums (``DAY_SUMS``) before the
    oldest day kept, so the totals of :mod:`celery_office.db.totals` never go down."""

    __tablename__ = "office_agent_total"

    agent_id: Mapped[str] = mapped_column(String(AGENT_ID_MAX), primary_key=True)
    runs: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("0"))
    succeeded: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("0"))
    failed: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("0"))
    retried: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("0"))
    revoked: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=text("0"))
    runtime_s: Mapped[float] = mapped_column(Float, nullable=False, server_default=text("0"))


class OfficeAgentAlert(Base):
    """Why an agent needs a look although nothing failed: a run past its limit (``overlong``,
    ``subject`` its run key, ``node_name`` the worker that runs it and judges it) or an
    expected run that did not start (``missed``, ``subject`` the task pattern it was expected
    of). One row per subject, so a second missed schedule never hides behind the first. Every
    writer reads them when it recomputes the agent's row, so the warning holds whoever writes
    next; of several, the one set first shows."""

    __tablename__ = "office_agent_alert"

    agent_id: Mapped[str] = agent_key()
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    subject: Mapped[str] = mapped_column(String(255), primary_key=True)
    node_name: Mapped[str | None] = mapped_column(String(255))
    task: Mapped[str | None] = mapped_column(String(TASK_MAX))
    since: Mapped[datetime | None] = mapped_column(AwareDateTime())


class OfficeAgentStart(Base):
    """When a task of an agent last started (database clock), for judging missed schedules.

    ``task_name`` '' is the moment the office began to watch the agent's schedules: a run
    cannot be missed before anyone expected it."""

    __tablename__ = "office_agent_start"

    agent_id: Mapped[str] = agent_key()
    task_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(AwareDateTime(), nullable=False)
