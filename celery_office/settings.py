"""celery-office settings: ``office_*`` in ``app.conf``, then ``OFFICE_*`` in the environment,
then the defaults below.

Every value is checked once, when the worker starts, so that a typo stops the worker with a
message naming the setting rather than surfacing later in a background thread.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from .core.errors import OfficeConfigError
from .core.statuses import DASHBOARD_OFFLINE_AFTER
from .core.texts import LANGUAGES
from .logs import logger

__all__ = ["OfficeSettings", "DEFAULT_DATABASE_URL", "misnamed_settings"]

DEFAULT_DATABASE_URL = "sqlite:///office.db"
MAX_SECONDS = 366 * 86400.0  # no interval, timeout or retention (in days) is longer

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class OfficeSettings:
    """Resolved settings.

    Parameters (seconds unless said otherwise):
        database_url: where ``office_agent_status`` lives.
        agents_file: the ``agents.yaml`` registry.
        heartbeat_interval: how often the worker refreshes ``last_activity`` of its agents.
        offline_after: silence after which an agent (or a worker) counts as offline (dead).
        flush_interval: how often each process writes its coalesced changes.
        shutdown_timeout: the most a process waits for its final write when it stops.
        connect_timeout: the most a connection attempt to the database may take.
        statement_timeout: the most one statement may run on PostgreSQL.
        schedule_grace: how late an expected run (a beat entry, or ``schedule:`` in
            agents.yaml) may start before its agent reads as having missed it.
        day_retention: days of ``office_agent_day`` kept (older days are deleted hourly).
        timeline_days: days of ended periods of ``office_agent_timeline`` (and notification
            events) kept; older ones are deleted hourly by workers and ``serve --notify``.
        timezone: the app's ``timezone`` (Celery's, default UTC): the day an agent's numbers
            belong to. Read from ``app.conf.timezone``, not from an ``office_`` setting.
        auto_migrate: create or upgrade the tables when the worker first connects.
        enabled: False turns the worker plugin off (``install`` still succeeds).
        basic_auth: ``celery office serve``'s credentials, ``user:password[,user2:password2]``
            (checked by :mod:`celery_office.web.access`; never in a repr).
        allowed_hosts: host names ``celery office serve`` answers besides the loopback names,
            comma-separated (``office.example.com,*.internal``).
        language: ``ru`` (the ADOLF office's) or ``en``: everything celery-office writes into
            the table (task texts), shows on the page and sends as notifications.
        title, currency: the page's title and the currency of salary equivalents.
        gc_freeze: ``gc.freeze()`` in a prefork worker's main process before the pool forks,
            so pool processes share its pages instead of copying them.
        state_dir: where a worker that stops while the database is away keeps what it could
            not write, for its next start (default: a private directory in the temp dir).
    """

    database_url: str = DEFAULT_DATABASE_URL
    agents_file: str = "agents.yaml"
    heartbeat_interval: float = 60.0
    offline_after: float = DASHBOARD_OFFLINE_AFTER
    flush_interval: float = 1.0
    shutdown_timeout: float = 5.0
    connect_timeout: float = 5.0
    statement_timeout: float = 10.0
    schedule_grace: float = 300.0
    day_retention: float = 90.0
    timeline_days: float = 7.0
    timezone: str = "UTC"
    auto_migrate: bool = True
    enabled: bool = True
    basic_auth: str = field(default="", repr=False)
    allowed_hosts: str = ""
    state_dir: str = ""
    language: str = "ru"
    title: str = "ADOLF Office"
    currency: str = "₽"
    gc_freeze: bool = True

    def __post_init__(self) -> None:
        for name in ("heartbeat_interval", "offline_after", "flush_interval", "shutdown_timeout",
                     "connect_timeout", "statement_timeout", "schedule_grace", "day_retention",
                     "timeline_days"):
            value = getattr(self, name)
            if not math.isfinite(value) or value > MAX_SECONDS:
                raise OfficeConfigError(
                    f"office_{name} must be a finite number, at most {MAX_SECONDS:g}, got {value!r}"
                )
        for name in ("heartbeat_interval", "offline_after", "flush_interval", "shutdown_timeout",
                     "connect_timeout", "statement_timeout", "schedule_grace"):
            if getattr(self, name) <= 0:
                raise OfficeConfigError(
                    f"office_{name} must be a positive number of seconds,"
                    f" got {getattr(self, name)!r}"
                )
        if self.day_retention < 1:
            raise OfficeConfigError(
                f"office_day_retention must be a number of days, at least 1, got "
                f"{self.day_retention!r}"
            )
        if self.timeline_days < 0:
            raise OfficeConfigError(
                f"office_timeline_days must be a number of days, 0 or more, got "
                f"{self.timeline_days!r}"
            )
        if self.language not in LANGUAGES:
            raise OfficeConfigError(
                f"office_language (OFFICE_LANGUAGE) must be one of {', '.join(LANGUAGES)}, "
                f"got {self.language!r}"
            )
        _check_timezone(self.timezone)
        if self.heartbeat_interval >= self.offline_after:
            raise OfficeConfigError(
                f"office_heartbeat_interval ({self.heartbeat_interval:g} s) must be shorter than "
                f"office_offline_after ({self.offline_after:g} s), or every agent reads as offline "
                "between two heartbeats"
            )

    def default_database_file(self) -> str | None:
        """The absolute path of the SQLite file written when no database URL was set."""
        if self.database_url != DEFAULT_DATABASE_URL:
            return None
        return os.path.abspath(DEFAULT_DATABASE_URL.removeprefix("sqlite:///"))

    def default_database_notice(self) -> str | None:
        """Where statuses go when nobody named a database, said in one line (the worker logs
        it, every ``celery office`` command prints it): a file in the working directory that no
        dashboard reads is easy to miss."""
        path = self.default_database_file()
        if path is None:
            return None
        return (
            f"office_database_url is not set, so agent statuses go to the SQLite file {path}; "
            "set OFFICE_DATABASE_URL (or office_database_url in the app's config) to the "
            "dashboard's database, e.g. postgresql+psycopg2://user:password@host/adolf"
        )

    def warn_if_default_database(self) -> None:
        """Say it at worker start, once, as a warning."""
        notice = self.default_database_notice()
        if notice is not None:
            logger.warning("celery-office: %s", notice)

    @classmethod
    def from_sources(
        cls, conf: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> OfficeSettings:
        """Read each setting from ``conf`` (``app.conf``), else the environment, else the
        default."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for setting in fields(cls):
            if setting.name == "timezone":  # Celery's own setting, below
                continue
            key = f"office_{setting.name}"
            raw = conf.get(key) if conf is not None else None
            source = key
            if raw is None:
                raw = environ.get(key.upper())
                source = key.upper()
            if raw is None or raw == "":
                continue
            values[setting.name] = _coerce(setting.type, raw, source)
        zone = conf.get("timezone") if conf is not None else None
        if zone:
            values["timezone"] = str(zone)
        return cls(**values)

    @classmethod
    def from_app(cls, app: Any) -> OfficeSettings:
        """Settings of a Celery app (``app.conf.get`` works before the lazy config loads)."""
        return cls.from_sources(app.conf)


def misnamed_settings(app: Any) -> list[str]:
    """Office settings the app's configuration defines under a name Celery never reads.

    With ``config_from_object('django.conf:settings', namespace='CELERY')`` Celery reads only
    ``CELERY_``-prefixed names: an ``OFFICE_DATABASE_URL`` in Django's settings is silently
    ignored (it must be ``CELERY_OFFICE_DATABASE_URL``). One line per such name, naming the fix.
    """
    namespace = getattr(app, "namespace", None)
    source = getattr(app, "_config_source", None)
    if not namespace or source is None:
        return []
    try:
        if isinstance(source, str):
            from celery.utils.imports import symbol_by_name

            source = symbol_by_name(source)
        defined = [name for name in dir(source) if name.startswith("OFFICE_")]
    except Exception:  # the user's configuration object: it may fail in any way
        return []
    known = {f"OFFICE_{setting.name.upper()}" for setting in fields(OfficeSettings)}
    return [
        f"the app's configuration defines {name}, which Celery does not read with "
        f"namespace={namespace!r}: rename it {namespace}_{name}"
        for name in sorted(defined) if name in known
    ]


def _check_timezone(name: str) -> None:
    """The app's timezone must be one this host knows, or no day could be told."""
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(name)
    except (ValueError, OSError, KeyError) as exc:  # ZoneInfoNotFoundError is a KeyError
        raise OfficeConfigError(
            f"the app's timezone {name!r} (app.conf.timezone) is not a time zone this host "
            "knows: use an IANA name such as 'Europe/Moscow' (pip install tzdata where the "
            f"system has no zone database) ({type(exc).__name__})"
        ) from None


def _coerce(kind: Any, raw: Any, source: str) -> Any:
    kind = kind if isinstance(kind, str) else kind.__name__
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise OfficeConfigError(f"{source} must be true or false, got {raw!r}")
    if kind == "float":
        if isinstance(raw, bool):
            raise OfficeConfigError(f"{source} must be a number of seconds, got {raw!r}")
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise OfficeConfigError(f"{source} must be a number of seconds, got {raw!r}") from None
    if not isinstance(raw, (str, os.PathLike)):
        raise OfficeConfigError(f"{source} must be a string, got {raw!r}")
    return os.fspath(raw)
