"""The tables celery-office writes, as SQLAlchemy Core tables on :data:`.base.METADATA`.

``office_agent_status`` is the contract with the Office Dashboard: its columns, types, lengths,
nullability and indexes are those of the ADOLF integration spec and must not change. Everything
the worker needs for its own bookkeeping lives in tables of its own, so a dashboard that reads
only ``office_agent_status`` never sees them.

Timestamps are timezone-aware and come from the database clock (:class:`.base.db_now`), never
from a worker's clock: workers on many hosts must agree, whatever their time zone.

celery-office migrates these tables with its own Alembic history; a host application's
autogenerate leaves them alone through ``celery_office.include_name`` and ``include_object``
(:mod:`celery_office.db.host_alembic`). An existing ``office_agent_status`` that differs from
these columns in ways that do not matter is adopted as it is (:mod:`celery_office.db.contract`).
The ORM classes of the same tables are in :mod:`.models`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Enum,
    Float,
    Integer,
    Numeric,
    String,
    Table,
    text,
)

from ..core.limits import AGENT_ID_MAX, BRAND_MAX, DEPARTMENT_MAX, NAME_MAX, TASK_MAX
from ..core.statuses import AgentStatus
from .base import JSON_DOCUMENT, METADATA, STATUS_TABLE, AwareDateTime, agent_key, db_now
from .notify_tables import (  # on METADATA with the rest: migrations compare them all
    DELIVERY,
    EVENT,
    NOTICE,
    NOTICE_TABLE,
    TARGET,
    TIMELINE,
    TIMELINE_TABLE,
)

__all__ = [
    "STATUS", "WORKER", "WRITER", "RUN", "OUTCOME", "DAY", "TOTAL", "ALERT", "START",
    "TIMELINE", "NOTICE", "EVENT", "DELIVERY", "TARGET", "METADATA",
    "STATUS_TABLE", "EFFECTIVE_STATUS_VIEW", "DAY_TABLE", "DAY_VIEW", "NOTICE_TABLE",
    "TIMELINE_TABLE",
]

EFFECTIVE_STATUS_VIEW = "office_agent_status_effective"
DAY_TABLE = "office_agent_day"
DAY_VIEW = "office_agent_day_view"  # the day's numbers with department, name and brand


def _zero(type_: Any, name: str) -> Column[Any]:
    """A number that starts at zero and is never NULL."""
    return Column(name, type_, nullable=False, server_default=text("0"))


def _status() -> Enum:
    return Enum(AgentStatus, name="agentstatus")


# One row per agent: what the Office Dashboard shows (the spec's table, unchanged).
STATUS = Table(
    STATUS_TABLE, METADATA,
    Column("id", Integer, primary_key=True),
    Column("agent_id", String(AGENT_ID_MAX), unique=True, nullable=False, index=True),
    Column("department", String(DEPARTMENT_MAX), nullable=False, index=True),
    Column("name", String(NAME_MAX), nullable=False),
    Column("brand", String(BRAND_MAX), index=True),
    Column("status", _status(), nullable=False, default=AgentStatus.ok),
    Column("last_activity", AwareDateTime()),
    Column("task", String(TASK_MAX)),
    Column("metrics", JSON_DOCUMENT, default=dict),
    Column("salary_equivalent", Integer, default=60000),
    Column("fte_coefficient", Numeric(3, 2), default=1.0),
    Column("created_at", AwareDateTime(), default=db_now()),
    Column("updated_at", AwareDateTime(), default=db_now(), onupdate=db_now()),
)

# A Celery worker (by node name) that serves agents; its heartbeat tells it is alive.
WORKER = Table(
    "office_worker", METADATA,
    Column("node_name", String(255), primary_key=True),
    Column("hostname", String(255)),
    Column("pid", Integer),
    Column("agents", JSON_DOCUMENT),
    Column("started_at", AwareDateTime()),
    Column("last_seen", AwareDateTime(), index=True),
    Column("stopped_at", AwareDateTime()),
    Column("flush_seq", BigInteger),  # 0.2.0's flush numbers, unused since revision 0007
)

# One start of a process that writes flushes: its number, from the database (so it never goes
# backwards, whatever the clocks say), and its last flush that landed (exactly once).
WRITER = Table(
    "office_writer", METADATA,
    Column("writer_id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
           autoincrement=True),
    Column("node_name", String(255), nullable=False, index=True),
    Column("hostname", String(255)),
    Column("pid", Integer),
    _zero(BigInteger, "flush_seq"),
    Column("started_at", AwareDateTime()),
    Column("last_seen", AwareDateTime()),
    # the agents whose changes wait in this writer (its flushes fail), as of its last
    # heartbeat: the other writers' heartbeats leave their last_activity alone
    Column("waiting", JSON_DOCUMENT),
)

# A run of an agent's task in progress, so overlapping runs keep the agent working.
RUN = Table(
    "office_agent_run", METADATA,
    Column("task_id", String(255), primary_key=True),
    Column("agent_id", String(AGENT_ID_MAX), nullable=False, index=True),
    Column("node_name", String(255), index=True),
    Column("task", String(TASK_MAX)),
    Column("started_at", Float, nullable=False),
)

# The last finished run of an agent and when it happened (worker clock, seconds). Writers
# from many processes flush in any order; the times here let the newest event win.
OUTCOME = Table(
    "office_agent_outcome", METADATA,
    agent_key(),
    _zero(Float, "finished_at"),
    Column("status", _status(), nullable=False, default=AgentStatus.ok),
    Column("task", String(TASK_MAX)),
    _zero(Float, "metrics_at"),
)

# An agent's day in numbers (the day in the app's ``timezone``), summed by every writer. Each
# batch adds what its process counted since its last write (``runs = runs + ...``), so runs
# that start and end between two writes are counted without a row of their own. Keyed by
# agent id alone (no foreign key): a row deleted by hand leaves its days until retention.
# ``last_success_at`` and ``last_failure_at`` are when the run ended, by the worker's clock: a
# run that ends during an outage is written later, at its own time.
DAY = Table(
    DAY_TABLE, METADATA,
    Column("agent_id", String(AGENT_ID_MAX), primary_key=True),
    Column("day", Date, primary_key=True, index=True),
    *(_zero(Integer, name) for name in ("runs", "succeeded", "failed", "retried", "revoked")),
    _zero(Float, "runtime_s"),
    _zero(Float, "max_runtime_s"),
    Column("last_success_at", AwareDateTime()),
    Column("last_failure_at", AwareDateTime()),
)

# What retention folded away of an agent's days: its sums (``DAY_SUMS``) before the oldest day
# kept, so the totals of :mod:`celery_office.db.totals` never go down.
TOTAL = Table(
    "office_agent_total", METADATA,
    Column("agent_id", String(AGENT_ID_MAX), primary_key=True),
    *(_zero(BigInteger, name) for name in ("runs", "succeeded", "failed", "retried", "revoked")),
    _zero(Float, "runtime_s"),
)

# Why an agent needs a look although nothing failed: a run past its limit (``overlong``,
# ``subject`` its run key, ``node_name`` the worker that runs it and judges it) or an expected
# run that did not start (``missed``, ``subject`` the task pattern it was expected of). One row
# per subject, so a second missed schedule never hides behind the first. Every writer reads
# them when it recomputes the agent's row, so the warning holds whoever writes next; of
# several, the one set first shows.
ALERT = Table(
    "office_agent_alert", METADATA,
    agent_key(),
    Column("kind", String(20), primary_key=True),
    Column("subject", String(255), primary_key=True),
    Column("node_name", String(255)),
    Column("task", String(TASK_MAX)),
    Column("since", AwareDateTime()),
)

# When a task of an agent last started (database clock), for judging missed schedules.
# ``task_name`` '' is the moment the office began to watch the agent's schedules: a run cannot
# be missed before anyone expected it.
START = Table(
    "office_agent_start", METADATA,
    agent_key(),
    Column("task_name", String(255), primary_key=True),
    Column("started_at", AwareDateTime(), nullable=False),
)
