"""The ADOLF spec's own model and hand-called reporter, as a module not yet moved to the plugin.

Copied from the integration spec (``app/models/office.py`` and ``app/utils/office_reporter.py``)
with three changes the tests need, each marked ``# test:``:

- ``metrics`` is ``JSON().with_variant(JSONB, "postgresql")``: the spec's bare ``JSONB`` does not
  compile on SQLite, and on PostgreSQL this is still exactly ``JSONB``;
- ``Base`` is a declarative base of this module (the spec imports ``app.core.database.Base``);
- ``db`` is always passed (the spec's default opens ``app.core.database.get_db_session()``).

Everything else, ``datetime.utcnow()``, ``metrics or {}`` and the raw SQL string of
``heartbeat()`` (which SQLAlchemy 2 refuses) included, is the spec's, because the point of
these tests is that such code keeps working beside celery-office on the table they share.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Dict, Optional

from sqlalchemy import JSON, Column, DateTime, Enum, Integer, Numeric, String
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.orm import Session, declarative_base

Base = declarative_base()  # test: app.core.database.Base


class AgentStatus(enum.Enum):
    ok = "ok"
    warning = "warning"
    error = "error"
    offline = "offline"


class OfficeAgentStatus(Base):  # type: ignore[valid-type,misc]
    __tablename__ = "office_agent_status"

    id = Column(Integer, primary_key=True)
    agent_id = Column(String(100), unique=True, nullable=False, index=True)
    department = Column(String(50), nullable=False, index=True)
    name = Column(String(100), nullable=False)
    brand = Column(String(20), index=True)
    status = Column(Enum(AgentStatus), nullable=False, default=AgentStatus.ok)
    last_activity = Column(DateTime(timezone=True))
    task = Column(String(255))
    metrics = Column(JSON().with_variant(JSONB, "postgresql"), default={})  # test: SQLite
    salary_equivalent = Column(Integer, default=60000)
    fte_coefficient = Column(Numeric(3, 2), default=1.0)
    created_at = Column(DateTime(timezone=True), default=datetime.utcnow)
    updated_at = Column(DateTime(timezone=True), default=datetime.utcnow, onupdate=datetime.utcnow)


class OfficeReporter:
    """The spec's utility, called by hand from a module's tasks."""

    def __init__(
        self,
        agent_id: str,
        department: str,
        name: str,
        brand: Optional[str] = None,
        salary_equivalent: int = 60000,
        fte_coefficient: float = 1.0,
    ):
        self.agent_id = agent_id
        self.department = department
        self.name = name
        self.brand = brand
        self.salary_equivalent = salary_equivalent
        self.fte_coefficient = fte_coefficient

    def _upsert(
        self,
        db: Session,
        status: str,
        task: Optional[str] = None,
        metrics: Optional[Dict[str, Any]] = None,
    ) -> None:
        stmt = (
            insert(OfficeAgentStatus)
            .values(
                agent_id=self.agent_id,
                department=self.department,
                name=self.name,
                brand=self.brand,
                status=status,
                task=task,
                metrics=metrics or {},
                salary_equivalent=self.salary_equivalent,
                fte_coefficient=self.fte_coefficient,
                last_activity=datetime.utcnow(),
                updated_at=datetime.utcnow(),
            )
            .on_conflict_do_update(
                index_elements=["agent_id"],
                set_={
                    "status": status,
                    "task": task,
                    "metrics": metrics or {},
                    "last_activity": datetime.utcnow(),
                    "updated_at": datetime.utcnow(),
                },
            )
        )
        db.execute(stmt)
        db.commit()

    def report_working(self, task: str, metrics: Optional[Dict[str, Any]] = None, *, db: Session) -> None:
        self._upsert(db, status="ok", task=task, metrics=metrics)

    def report_idle(self, metrics: Optional[Dict[str, Any]] = None, *, db: Session) -> None:
        self._upsert(db, status="ok", task=None, metrics=metrics)

    def report_warning(self, task: str, metrics: Optional[Dict[str, Any]] = None, *, db: Session) -> None:
        self._upsert(db, status="warning", task=task, metrics=metrics)

    def report_error(self, error_message: str, metrics: Optional[Dict[str, Any]] = None, *, db: Session) -> None:
        self._upsert(db, status="error", task=f"Ошибка: {error_message}", metrics=metrics)

    def report_offline(self, *, db: Session) -> None:
        self._upsert(db, status="offline", task=None, metrics={})

    def heartbeat(self, *, db: Session) -> None:
        db.execute(  # type: ignore[call-overload]  # the spec's raw string: SQLAlchemy 2 refuses it
            "UPDATE office_agent_status SET last_activity = NOW(), updated_at = NOW() WHERE agent_id = :agent_id",
            {"agent_id": self.agent_id},
        )
        db.commit()
