"""Celery signal handlers: turn task events into agent state changes, nothing else.

Each handler looks the task up in the routes the bootstep resolved at start (a dict lookup), then
records the change in this process's :class:`~celery_office.writer.StatusWriter`, which does no
I/O. A handler never raises into Celery: Celery's arguments are not to be trusted blindly and an
instrumentation bug must not fail a task, so each body runs under :func:`_never_raise`, which
logs a problem at most once a minute per handler.

Where each signal fires under prefork (pool process or main process) is listed in the project's
notes; the handlers do not care: they use the ``task_id`` they are given, and the writer of the
process they run in.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from typing import Any

from celery import signals
from celery.utils.log import get_logger

from .jsonsafe import fit_text, json_safe
from .models import AgentStatus
from .writer import get_writer

__all__ = ["OfficeSignals", "set_routes", "route_of", "ERROR_PREFIX", "RETRY_PREFIX"]

logger = get_logger("celery_office")

ERROR_PREFIX = "Ошибка: "
RETRY_PREFIX = "Повтор: "
_LOG_EVERY = 60.0

_routes: Mapping[str, Any] = {}  # task name -> registry.TaskRoute, set by the bootstep
_last_logged: dict[str, float] = {}


def set_routes(routes: Mapping[str, Any]) -> None:
    """The task-name-to-agent routes of this worker (resolved once, at worker start)."""
    global _routes
    _routes = dict(routes)


def route_of(task_name: str | None) -> Any:
    """The route of a task name, or None when no agent covers it."""
    return _routes.get(task_name) if task_name else None


def log_once(kind: str, message: str, *args: Any, exc_info: bool = False) -> None:
    """Log ``message`` unless a line of the same kind was logged in the last minute."""
    now = time.monotonic()
    last = _last_logged.get(kind)
    if last is not None and now - last < _LOG_EVERY:
        return
    _last_logged[kind] = now
    logger.warning(message, *args, exc_info=exc_info)


def _never_raise(handler: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(handler)
    def guarded(*args: Any, **kwargs: Any) -> None:
        try:
            handler(*args, **kwargs)
        except Exception as exc:  # an instrumentation bug must never fail the task
            log_once(
                handler.__name__,
                "celery-office: %s failed (%s: %s); the task is not affected",
                handler.__name__, type(exc).__name__, exc, exc_info=True,
            )

    return guarded


def describe(exc: Any) -> str:
    """``ExceptionType: message``, the way the dashboard shows a failure."""
    if isinstance(exc, BaseException):
        text = str(exc).strip()
        return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return str(exc)


def _name_of(sender: Any) -> str | None:
    if isinstance(sender, str):
        return sender
    return getattr(sender, "name", None)


def metrics_of(task: Any, result: Any) -> dict[str, Any] | None:
    """Metrics a ``@metrics``-decorated task's result yields, or None (metrics unchanged)."""
    extract = getattr(getattr(task, "run", None), "__office_metrics__", None)
    if extract is None:
        return None
    try:
        value = extract(result)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise TypeError(f"metrics must be a dict, got {type(value).__name__}")
        return json_safe(value)
    except Exception as exc:
        log_once(
            f"metrics:{_name_of(task)}",
            "celery-office: metrics of task %s could not be computed (%s); they are skipped",
            _name_of(task), describe(exc),
        )
        return None


# ---------------------------------------------------------------------- handlers


@_never_raise
def on_task_prerun(sender: Any = None, task_id: str | None = None, **_: Any) -> None:
    route = _routes.get(_name_of(sender))
    writer = get_writer()
    if route is None or writer is None or task_id is None:
        return
    writer.run_started(task_id, route.agent.agent_id, route.text)


@_never_raise
def on_task_success(sender: Any = None, result: Any = None, **_: Any) -> None:
    route = _routes.get(_name_of(sender))
    writer = get_writer()
    if route is None or writer is None:
        return
    task_id = sender.request.id
    if task_id is None:
        return
    writer.run_finished(
        task_id, route.agent.agent_id, AgentStatus.ok, None, metrics_of(sender, result)
    )


@_never_raise
def on_task_failure(
    sender: Any = None, task_id: str | None = None, exception: Any = None, **_: Any
) -> None:
    route = _routes.get(_name_of(sender))
    writer = get_writer()
    if route is None or writer is None or task_id is None:
        return
    writer.run_finished(
        task_id, route.agent.agent_id, AgentStatus.error, fit_text(ERROR_PREFIX + describe(exception))
    )


@_never_raise
def on_task_retry(sender: Any = None, request: Any = None, reason: Any = None, **_: Any) -> None:
    route = _routes.get(_name_of(sender))
    writer = get_writer()
    task_id = getattr(request, "id", None)
    if route is None or writer is None or task_id is None:
        return
    writer.run_finished(
        task_id,
        route.agent.agent_id,
        AgentStatus.warning,
        fit_text(f"{RETRY_PREFIX}{route.text} — {describe(reason)}"),
    )


@_never_raise
def on_task_postrun(sender: Any = None, task_id: str | None = None, **_: Any) -> None:
    """Ends runs no verdict ended (``revoke(terminate=True)``); a no-op after the others."""
    route = _routes.get(_name_of(sender))
    writer = get_writer()
    if route is None or writer is None or task_id is None:
        return
    writer.run_finished(task_id, route.agent.agent_id, None, only_if_active=True)


@_never_raise
def on_task_revoked(sender: Any = None, request: Any = None, **_: Any) -> None:
    """A revoked or terminated run leaves the working state; it is not an error."""
    route = _routes.get(_name_of(sender))
    writer = get_writer()
    task_id = getattr(request, "id", None)
    if route is None or writer is None or task_id is None:
        return
    writer.run_finished(task_id, route.agent.agent_id, None)


@_never_raise
def on_worker_process_shutdown(**_: Any) -> None:
    """A pool process exits (also on ``max_tasks_per_child``): write what it holds, bounded."""
    writer = get_writer()
    if writer is not None and not writer.has_worker_duties:
        writer.stop()


@_never_raise
def on_worker_shutdown(**_: Any) -> None:
    """Warm shutdown, after the pool drained: write the rest and mark the agents offline."""
    writer = get_writer()
    if writer is not None and writer.has_worker_duties:
        writer.stop(retire=True)


class OfficeSignals:
    """Connects and disconnects every handler, as one list, so the two mirror each other."""

    HANDLERS = (
        (signals.task_prerun, on_task_prerun),
        (signals.task_success, on_task_success),
        (signals.task_failure, on_task_failure),
        (signals.task_retry, on_task_retry),
        (signals.task_postrun, on_task_postrun),
        (signals.task_revoked, on_task_revoked),
        (signals.worker_process_shutdown, on_worker_process_shutdown),
        (signals.worker_shutdown, on_worker_shutdown),
    )

    @classmethod
    def connect(cls) -> None:
        for signal, handler in cls.HANDLERS:
            signal.connect(handler, weak=False, dispatch_uid=f"celery_office.{handler.__name__}")

    @classmethod
    def disconnect(cls) -> None:
        for signal, handler in cls.HANDLERS:
            signal.disconnect(handler, dispatch_uid=f"celery_office.{handler.__name__}")
