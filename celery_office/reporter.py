"""``OfficeReporter``: the spec's hand-called API, for code that runs outside a Celery worker.

Inside a worker, the bootstep reports every agent without any call; use this for scripts,
web handlers or other schedulers. Each call is one synchronous UPSERT on ``agent_id`` with the
database clock, in its own transaction, or in the caller's when ``db`` (a SQLAlchemy ``Session``
or ``Connection``) is given.

Differences from the spec's code, all deliberate: ``last_activity`` comes from the database
clock (the spec's naive ``datetime.utcnow()`` is wrong on any server not set to UTC); a heartbeat
of an agent with no row registers it as idle (the spec's did nothing, and passed a raw SQL string
that SQLAlchemy 2 rejects); ``metrics=None`` keeps the row's metrics (the spec's ``metrics or {}``
blanked them on every report without metrics); long texts are cut to the column's 255
characters instead of failing. The agent's own fields follow the rules of ``agents.yaml``
(:mod:`celery_office.validation`), so a module moved from hand calls to the worker keeps its row.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session

from . import validation
from .core.errors import OfficeError, invalid_url
from .core.statuses import AgentStatus
from .core.texts import LANGUAGES, words_for
from .db.engine import create_office_engine
from .db.upserts import touch_agents, upsert_status
from .jsonsafe import fit_text, metrics_dict
from .settings import DEFAULT_DATABASE_URL

__all__ = ["OfficeReporter", "default_engine"]

DbArg = Session | Connection | None


class OfficeReporter:
    """Reports one agent's status by hand, as in the ADOLF integration spec.

    Parameters:
        agent_id: unique id of the agent (at most 100 characters: Latin letters, digits,
            ``_ . : -``).
        department: the module, e.g. ``watcher`` (at most 50).
        name: the name the dashboard shows (at most 100).
        brand: optional brand (at most 20).
        salary_equivalent: monthly salary of a human doing the same work (non-negative integer).
        fte_coefficient: full-time equivalent, a number (not text) from 0 to 9.99 with two
            decimals.
        engine: where to write; default: the process's engine from ``OFFICE_DATABASE_URL``
            (``sqlite:///office.db`` when unset).
        language: of the error text's prefix, ``ru`` (``Ошибка: ``) or ``en`` (``Error: ``);
            default ``OFFICE_LANGUAGE``, else ``ru``.

    A field breaking these rules raises :class:`~celery_office.core.errors.FieldError` (a
    ``ValueError``) naming the field and the limit, the same rules as ``agents.yaml``.
    """

    def __init__(
        self,
        agent_id: str,
        department: str,
        name: str,
        brand: str | None = None,
        salary_equivalent: int = 60000,
        fte_coefficient: float | Decimal = 1.0,
        *,
        engine: Engine | None = None,
        language: str | None = None,
    ) -> None:
        self.agent_id: str = validation.check("agent_id", agent_id)
        self.department: str = validation.check("department", department)
        self.name: str = validation.check("name", name)
        self.brand: str | None = validation.check("brand", brand)
        self.salary_equivalent: int = validation.check("salary_equivalent", salary_equivalent)
        self.fte_coefficient: Decimal = validation.check("fte_coefficient", fte_coefficient)
        self._engine = engine
        language = language or os.environ.get("OFFICE_LANGUAGE") or "ru"
        if language not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, got {language!r}")
        self._words = words_for(language)

    def __repr__(self) -> str:
        return f"OfficeReporter({self.agent_id!r}, {self.department!r}, {self.name!r})"

    # -------------------------------------------------------------- the spec's methods

    def report_working(
        self, task: str, metrics: dict[str, Any] | None = None, db: DbArg = None
    ) -> None:
        """Status ``ok``, working on ``task``."""
        self._upsert(db, AgentStatus.ok, fit_text(task), metrics)

    def report_idle(self, metrics: dict[str, Any] | None = None, db: DbArg = None) -> None:
        """Status ``ok``, waiting for a task (task NULL)."""
        self._upsert(db, AgentStatus.ok, None, metrics)

    def report_warning(
        self, task: str, metrics: dict[str, Any] | None = None, db: DbArg = None
    ) -> None:
        """Status ``warning``: needs attention."""
        self._upsert(db, AgentStatus.warning, fit_text(task), metrics)

    def report_error(
        self, error_message: str, metrics: dict[str, Any] | None = None, db: DbArg = None
    ) -> None:
        """Status ``error``, task ``"Ошибка: <message>"`` (``"Error: <message>"`` in English)."""
        self._upsert(db, AgentStatus.error, fit_text(self._words.error_text(error_message)),
                     metrics)

    def report_offline(self, db: DbArg = None) -> None:
        """Status ``offline``, task NULL and metrics emptied (as the spec does)."""
        self._upsert(db, AgentStatus.offline, None, {})

    def heartbeat(self, db: DbArg = None) -> None:
        """Refresh ``last_activity`` only; an agent with no row yet is registered as idle."""

        def beat(conn: Connection) -> None:
            if touch_agents(conn, [self.agent_id]) == 0:
                upsert_status(conn, self, status=AgentStatus.ok, task=None, metrics=None)

        self._run(db, beat)

    # -------------------------------------------------------------- plumbing

    def _upsert(self, db: DbArg, status: AgentStatus, task: str | None, metrics: Any) -> None:
        checked = metrics_dict(metrics)
        self._run(db, lambda conn: upsert_status(conn, self, status=status, task=task,
                                                 metrics=checked))

    def _run(self, db: DbArg, work: Callable[[Connection], None]) -> None:
        if db is None:
            with (self._engine or default_engine()).begin() as conn:
                work(conn)
        elif isinstance(db, Session):
            work(db.connection())
            if not db.in_nested_transaction():  # inside begin_nested(), the caller commits
                db.commit()
        elif isinstance(db, Connection):
            work(db)
            if not db.in_nested_transaction() and db.in_transaction():
                db.commit()
        else:
            raise TypeError(
                f"db must be a SQLAlchemy Session or Connection, got {type(db).__name__}"
            )


_engines: dict[tuple[int, str], Engine] = {}
_engines_lock = threading.Lock()


def default_engine(url: str | None = None) -> Engine:
    """The process's engine for ``url`` (default ``OFFICE_DATABASE_URL``), made lazily.

    Keyed by process id, so a forked child never uses its parent's connections. A URL it
    cannot use raises :class:`~celery_office.core.errors.OfficeConfigError`, one line naming the
    fix and never the password (an asynchronous driver: the synchronous one to use instead).
    """
    url = url or os.environ.get("OFFICE_DATABASE_URL") or DEFAULT_DATABASE_URL
    key = (os.getpid(), url)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = _create(url)
        return engine


def _create(url: str) -> Engine:
    """The engine, or one OfficeConfigError: a reporter's caller should read what to fix, not
    the URL parser's ``invalid literal for int()``."""
    try:
        return create_office_engine(url)
    except OfficeError:
        raise
    except (ArgumentError, ValueError) as exc:  # make_url: an unknown form, a port not a number
        check = "OFFICE_DATABASE_URL, or pass engine= to OfficeReporter"
        raise invalid_url(exc, check=check) from None
