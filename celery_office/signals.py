"""Celery signal handlers: turn task events into agent state changes, nothing else.

Each handler looks the task up in the routes the bootstep resolved at start (a dict lookup), then
records the change in this process's :class:`~celery_office.writer.StatusWriter`, which does no
I/O. A handler never raises into Celery: Celery's arguments are not to be trusted blindly and an
instrumentation bug must not fail a task, so each body catches everything and logs a problem at
most once a minute per handler.

Where each signal fires under prefork (pool process or main process) is listed in the project's
notes; the handlers do not care: they use the ``task_id`` they are given, and the writer of the
process they run in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from celery import signals

from .jsonsafe import fit_text, json_safe
from .models import AgentStatus
from . import writer as _writer_module
from .logs import log_once
from .render import describe, safe_str

__all__ = ["OfficeSignals", "set_routes", "route_of", "ERROR_PREFIX", "RETRY_PREFIX"]

ERROR_PREFIX = "Ошибка: "
RETRY_PREFIX = "Повтор: "

_routes: Mapping[str, Any] = {}  # task name -> registry.TaskRoute, set by the bootstep
_fast: dict[str, tuple[str, str]] = {}  # task name -> (agent_id, working text), for handlers


def set_routes(routes: Mapping[str, Any]) -> None:
    """The task-name-to-agent routes of this worker (resolved once, at worker start)."""
    global _routes, _fast
    _routes = dict(routes)
    _fast = {name: (route.agent.agent_id, route.text) for name, route in _routes.items()}


def route_of(task_name: str | None) -> Any:
    """The route of a task name, or None when no agent covers it."""
    return _routes.get(task_name) if task_name else None


def _name_of(sender: Any) -> str | None:
    if isinstance(sender, str):
        return sender
    return getattr(sender, "name", None)


def metrics_of(task: Any, result: Any) -> dict[str, Any] | None:
    """Metrics a ``@metrics``-decorated task's result yields, or None (metrics unchanged).

    Never raises: the extractor and the values it returns are the user's code, and a failure
    here must not keep the run's end from being recorded."""
    try:
        extract = getattr(getattr(task, "run", None), "__office_metrics__", None)
        if extract is None:
            return None
        value = extract(result)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise TypeError(f"metrics must be a dict, got {type(value).__name__}")
        return json_safe(value)
    except Exception as exc:
        try:
            name = safe_str(_name_of(task))
            log_once(
                f"metrics:{name}",
                "celery-office: metrics of task %s could not be computed (%s); they are skipped",
                name, describe(exc),
            )
        except Exception:  # pragma: no cover - the task object itself is broken
            pass
        return None


# ---------------------------------------------------------------------- handlers
#
# The task-path handlers (prerun, postrun) are written flat, with the guard inline: they run
# for every task, and each function call or attribute lookup here is paid thousands of times
# a second.


def _failed(handler: str, exc: Exception) -> None:
    """An instrumentation bug must never fail the task: log it, at most once a minute.

    The exception is rendered here, safely: handed to the logger as is, a ``__str__`` that
    raises would break the log line itself."""
    try:
        log_once(
            handler, "celery-office: %s failed (%s); the task is not affected",
            handler, describe(exc), exc_info=True,
        )
    except Exception:  # pragma: no cover - logging itself broken: nothing left to tell
        pass


def on_task_prerun(sender: Any = None, task_id: str | None = None, **_: Any) -> None:
    try:
        route = _fast.get(sender.name)
        writer = _writer_module._writer
        if route is not None and writer is not None and task_id is not None:
            writer.run_started(task_id, route[0], route[1])
    except Exception as exc:
        _failed("task_prerun", exc)


def on_task_postrun(
    sender: Any = None,
    task_id: str | None = None,
    retval: Any = None,
    state: str | None = None,
    **_: Any,
) -> None:
    """A run ended in this process: idle after a success (with its ``@metrics``); failures
    and retries were recorded by their own signals; ``state`` None is a terminated run."""
    try:
        route = _fast.get(sender.name)
        writer = _writer_module._writer
        if route is None or writer is None or task_id is None:
            return
        if state == "SUCCESS":
            writer.run_finished(
                task_id, route[0], AgentStatus.ok, None, metrics_of(sender, retval),
                only_if_active=True,
            )
        else:
            writer.run_finished(task_id, route[0], None, only_if_active=True)
    except Exception as exc:
        _failed("task_postrun", exc)


def on_task_failure(
    sender: Any = None, task_id: str | None = None, exception: Any = None, **_: Any
) -> None:
    """In the pool process for a raised exception; in the main process for a lost pool
    process or a hard time limit (sent twice there: recording it twice is harmless)."""
    try:
        route = _fast.get(_name_of(sender))
        writer = _writer_module._writer
        if route is None or writer is None or task_id is None:
            return
        writer.run_finished(
            task_id, route[0], AgentStatus.error, fit_text(ERROR_PREFIX + describe(exception))
        )
    except Exception as exc:
        _failed("task_failure", exc)


def on_task_retry(sender: Any = None, request: Any = None, reason: Any = None, **_: Any) -> None:
    try:
        route = _fast.get(_name_of(sender))
        writer = _writer_module._writer
        task_id = getattr(request, "id", None)
        if route is None or writer is None or task_id is None:
            return
        writer.run_finished(
            task_id, route[0], AgentStatus.warning,
            fit_text(f"{RETRY_PREFIX}{route[1]} — {describe(reason)}"),
        )
    except Exception as exc:
        _failed("task_retry", exc)


def on_task_revoked(sender: Any = None, request: Any = None, **_: Any) -> None:
    """A revoked or terminated run leaves the working state; it is not an error."""
    try:
        route = _fast.get(_name_of(sender))
        writer = _writer_module._writer
        task_id = getattr(request, "id", None)
        if route is None or writer is None or task_id is None:
            return
        writer.run_finished(task_id, route[0], None)
    except Exception as exc:
        _failed("task_revoked", exc)


def on_worker_process_shutdown(**_: Any) -> None:
    """A pool process exits (also on ``max_tasks_per_child``): write what it holds, bounded."""
    try:
        writer = _writer_module._writer
        if writer is not None and not writer.has_worker_duties:
            writer.stop()
    except Exception as exc:
        _failed("worker_process_shutdown", exc)


def on_worker_shutdown(**_: Any) -> None:
    """Warm shutdown, after the pool drained: write the rest and mark the agents offline."""
    try:
        writer = _writer_module._writer
        if writer is not None and writer.has_worker_duties:
            writer.stop(retire=True)
    except Exception as exc:
        _failed("worker_shutdown", exc)


class OfficeSignals:
    """Connects and disconnects every handler, as one list, so the two mirror each other."""

    HANDLERS = (
        (signals.task_prerun, on_task_prerun),
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
