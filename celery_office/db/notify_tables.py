"""The tables of the timeline and the notifications.

``office_agent_timeline`` holds each agent's periods: one row per status it entered, written
by triggers on ``office_agent_status`` (revision 0008), so every writer, ours or the host's,
records each change in its own transaction. ``office_agent_notice`` is what notifications last
announced of each agent and the last period they read; ``office_notify_event`` and
``office_notify_delivery`` are the outbox: each event once, and per target its delivery's
state, tries, next try and lease (:mod:`celery_office.db.outbox`).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    text,
)

from ..core.limits import AGENT_ID_MAX, TASK_MAX
from .base import METADATA, AwareDateTime, agent_key

__all__ = ["TIMELINE_TABLE", "NOTICE_TABLE", "TIMELINE", "NOTICE", "EVENT", "DELIVERY", "TARGET"]

TIMELINE_TABLE = "office_agent_timeline"
NOTICE_TABLE = "office_agent_notice"
_SERIAL = BigInteger().with_variant(Integer(), "sqlite")  # SQLite numbers INTEGER keys only
_OPEN = text("until IS NULL")

# A period of an agent: the status it entered ``since``, until the next (NULL: now).
# ``alert`` says which alert a warning is (``overlong`` before ``missed``; NULL: a retry's
# warning or a team's own), ``last_run_ok`` whether an ``ok`` began with a successful end (or
# an idle report) rather than with a new run after a failure: only the first is a recovery.
# No foreign key: the history outlives an agent's row until retention.
TIMELINE = Table(
    TIMELINE_TABLE, METADATA,
    Column("id", _SERIAL, primary_key=True, autoincrement=True),
    Column("agent_id", String(AGENT_ID_MAX), nullable=False),
    Column("status", String(20), nullable=False),
    Column("alert", String(20)),
    Column("last_run_ok", Boolean(), nullable=False, server_default=text("false")),
    Column("task", String(TASK_MAX)),
    Column("since", AwareDateTime(), nullable=False),
    Column("until", AwareDateTime()),
    Index("ix_office_agent_timeline_agent_id_id", "agent_id", "id"),
    Index("uq_office_agent_timeline_open", "agent_id", unique=True,
          postgresql_where=_OPEN, sqlite_where=_OPEN),
)

# What notifications last announced of an agent (``ok``, ``error``, ``offline``, ``missed``,
# ``overlong``; '' nothing yet: :mod:`celery_office.web.transitions`), how many announcements
# were made (``version``) and the last period read (``period_id``; NULL: none since revision
# 0008).
NOTICE = Table(
    NOTICE_TABLE, METADATA,
    agent_key(),
    Column("state", String(20), nullable=False),
    Column("version", Integer, nullable=False, server_default=text("0")),
    Column("changed_at", AwareDateTime()),
    Column("period_id", BigInteger()),
)

# An announcement, stored once: ``key`` is the event id receivers see (derived from the
# timeline row), ``body`` the JSON every target is sent.
EVENT = Table(
    "office_notify_event", METADATA,
    Column("id", _SERIAL, primary_key=True, autoincrement=True),
    Column("key", String(100), nullable=False, unique=True, index=True),
    Column("agent_id", String(AGENT_ID_MAX), nullable=False),
    Column("state", String(20), nullable=False),
    Column("body", Text(), nullable=False),
    Column("created_at", AwareDateTime(), nullable=False, index=True),
)

# An event's delivery to one target (``target``: a digest of its URL, never the URL):
# ``pending`` until posted (``done``) or refused (``dropped``); a replica posting it holds a
# lease, which another takes over once it expires.
DELIVERY = Table(
    "office_notify_delivery", METADATA,
    Column("event_id", _SERIAL, ForeignKey("office_notify_event.id", ondelete="CASCADE"),
           primary_key=True),
    Column("target", String(64), primary_key=True),
    Column("state", String(10), nullable=False, server_default=text("'pending'")),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_try_at", AwareDateTime(), nullable=False),
    Column("lease_until", AwareDateTime()),
    Column("leased_by", String(100)),
    Column("done_at", AwareDateTime()),
    Index("ix_office_notify_delivery_due", "target", "state", "next_try_at"),
)

# A target some ``serve`` replica posts to, and when it last said so: events are queued for
# every target seen lately, so replicas with different ``--notify`` lists all get theirs.
TARGET = Table(
    "office_notify_target", METADATA,
    Column("target", String(64), primary_key=True),
    Column("seen_at", AwareDateTime(), nullable=False),
)
