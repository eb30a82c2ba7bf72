"""The tables of the timeline and the notifications.

``office_agent_timeline`` holds each agent's periods: one row per status it entered, written
by triggers on ``office_agent_status`` (revision 0008), so every writer, ours or the host's,
records each change in its own transaction. ``office_agent_notice`` is what notifications last
announced of each agent and the last period they read; ``office_notify_event`` and
``office_notify_delivery`` are the outbox: each event once, and per target its delivery's
state, tries, next try and lease (:mod:`celery_office.db.outbox`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from ..core.limits import AGENT_ID_MAX, TASK_MAX
from .base import AwareDateTime, Base, agent_key

__all__ = ["TIMELINE_TABLE", "NOTICE_TABLE", "OfficeAgentTimeline", "OfficeAgentNotice",
           "OfficeNotifyEvent", "OfficeNotifyDelivery", "OfficeNotifyTarget"]

TIMELINE_TABLE = "office_agent_timeline"
NOTICE_TABLE = "office_agent_notice"
_SERIAL = BigInteger().with_variant(Integer(), "sqlite")  # SQLite numbers INTEGER keys only
_OPEN = text("until IS NULL")


class OfficeAgentTimeline(Base):
    """A period of an agent: the status it entered ``since``, until the next (NULL: now).

    ``alert`` says which alert a warning is (``overlong`` before ``missed``; NULL: a retry's
    warning or a team's own), ``last_run_ok`` whether an ``ok`` began with a successful end
    (or an idle report) rather than with a new run after a failure: only the first is a
    recovery. No foreign key: the history outlives an agent's row until retention."""

    __tablename__ = TIMELINE_TABLE
    __table_args__ = (
        Index("ix_office_agent_timeline_agent_id_id", "agent_id", "id"),
        Index("uq_office_agent_timeline_open", "agent_id", unique=True,
              postgresql_where=_OPEN, sqlite_where=_OPEN),
    )

    id: Mapped[int] = mapped_column(_SERIAL, primary_key=True, autoincrement=True)
    agent_id: Mapped[str] = mapped_column(String(AGENT_ID_MAX), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    alert: Mapped[str | None] = mapped_column(String(20))
    last_run_ok: Mapped[bool] = mapped_column(Boolean(), nullable=False,
                                              server_default=text("false"))
    task: Mapped[str | None] = mapped_column(String(TASK_MAX))
    since: Mapped[datetime] = mapped_column(AwareDateTime(), nullable=False)
    until: Mapped[datetime | None] = mapped_column(AwareDateTime())


class OfficeAgentNotice(Base):
    """What notifications last announced of an agent (``ok``, ``error``, ``offline``,
    ``missed``, ``overlong``; '' nothing yet: :mod:`celery_office.web.transitions`), how many
    announcements were made (``version``) and the last period read (``period_id``; NULL: none
    since revision 0008)."""

    __tablename__ = NOTICE_TABLE

    agent_id: Mapped[str] = agent_key()
    state: Mapped[str] = mapped_column(String(20), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    changed_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    period_id: Mapped[int | None] = mapped_column(BigInteger())


class OfficeNotifyEvent(Base):
    """An announcement, stored once: ``key`` is the event id receivers see (derived from the
    timeline row), ``body`` the JSON every target is sent."""

    __tablename__ = "office_notify_event"

    id: Mapped[int] = mapped_column(_SERIAL, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(100), nullable=False, unique=True,
                                     index=True)
    agent_id: Mapped[str] = mapped_column(String(AGENT_ID_MAX), nullable=False)
    state: Mapped[str] = mapped_column(String(20), nullable=False)
    body: Mapped[str] = mapped_column(Text(), nullable=False)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime(), nullable=False, index=True)


class OfficeNotifyDelivery(Base):
    """An event's delivery to one target (``target``: a digest of its URL, never the URL):
    ``pending`` until posted (``done``) or refused (``dropped``); a replica posting it holds a
    lease, which another takes over once it expires."""

    __tablename__ = "office_notify_delivery"
    __table_args__ = (
        Index("ix_office_notify_delivery_due", "target", "state", "next_try_at"),
    )

    event_id: Mapped[int] = mapped_column(
        _SERIAL, ForeignKey("office_notify_event.id", ondelete="CASCADE"), primary_key=True)
    target: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(10), nullable=False,
                                       server_default=text("'pending'"))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    next_try_at: Mapped[datetime] = mapped_column(AwareDateTime(), nullable=False)
    lease_until: Mapped[datetime | None] = mapped_column(AwareDateTime())
    leased_by: Mapped[str | None] = mapped_column(String(100))
    done_at: Mapped[datetime | None] = mapped_column(AwareDateTime())


class OfficeNotifyTarget(Base):
    """A target some ``serve`` replica posts to, and when it last said so: events are queued
    for every target seen lately, so replicas with different ``--notify`` lists all get
    theirs."""

    __tablename__ = "office_notify_target"

    target: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(AwareDateTime(), nullable=False)
