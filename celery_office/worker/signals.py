"""Celery signal handlers: turn task events into agent state changes, nothing else.

Each handler looks the task up in this process's routes (a dict lookup) and records the change
in its buffer, which does no I/O; both come from the process's :mod:`.runtime`. A handler never
raises into Celery: Celery's arguments are not to be trusted blindly and an instrumentation bug
must not fail a task, so each body catches everything and logs a problem at most once a minute
per handler.

Where each signal fires under prefork (pool process or main process) is listed in the project's
notes; the handlers do not care: they use the ``task_id`` they are given, and the runtime of the
process they run in. One more handler keeps the pool processes light: see
:func:`on_worker_before_fork`.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from typing import Any

from celery import signals

from ..core.statuses import AgentStatus
from ..core.texts import RU, Words
from ..jsonsafe import fit_text
from ..logs import log_once
from ..render import describe
from . import runtime as _runtime
from .task_metrics import metrics_of

__all__ = ["OfficeSignals"]


def _name_of(sender: Any) -> str | None:
    if isinstance(sender, str):
        return sender
    return getattr(sender, "name", None)


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


def never_raises(handler: Callable[..., None]) -> Callable[..., None]:
    """The guard of the handlers off the hot path: whatever happens inside stays inside."""
    name = handler.__name__.removeprefix("on_")

    @functools.wraps(handler)
    def guarded(*args: Any, **kwargs: Any) -> None:
        try:
            handler(*args, **kwargs)
        except Exception as exc:
            _failed(name, exc)

    return guarded


# ---------------------------------------------------------------------- the task path
#
# prerun and postrun run for every task: written flat, with the guard inline, since each
# function call or attribute lookup here is paid thousands of times a second.


def on_task_prerun(sender: Any = None, task_id: str | None = None, **_: Any) -> None:
    try:
        runtime = _runtime.current()
        if runtime is None or task_id is None:
            return
        route = runtime.routes.get(sender.name)
        if route is not None:
            runtime.flusher.buffer.run_started(
                task_id, route.agent_id, route.text,
                task_name=sender.name if route.watched else None,
            )
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
        runtime = _runtime.current()
        if runtime is None or task_id is None:
            return
        route = runtime.routes.get(sender.name)
        if route is None:
            return
        buffer = runtime.flusher.buffer
        if state == "SUCCESS":
            buffer.run_finished(
                task_id, route.agent_id, AgentStatus.ok,
                metrics=metrics_of(sender, retval), only_if_active=True,
            )
        else:
            buffer.run_finished(task_id, route.agent_id, None, only_if_active=True)
    except Exception as exc:
        _failed("task_postrun", exc)


# ---------------------------------------------------------------------- the other moments


def _route_and_buffer(sender: Any) -> tuple[Any, Any, Words]:
    runtime = _runtime.current()
    if runtime is None:
        return None, None, RU
    return runtime.route_of(_name_of(sender)), runtime.flusher.buffer, runtime.words


@never_raises
def on_task_failure(
    sender: Any = None, task_id: str | None = None, exception: Any = None, **_: Any
) -> None:
    """In the pool process for a raised exception; in the main process for a lost pool
    process or a hard time limit (sent twice there: recording it twice is harmless)."""
    route, buffer, words = _route_and_buffer(sender)
    if route is None or task_id is None:
        return
    buffer.run_finished(
        task_id, route.agent_id, AgentStatus.error,
        text=fit_text(words.error_text(describe(exception))),
    )


def retry_reason(reason: Any, words: Words = RU) -> str:
    """Why a run is retried and when the next try is due, the way the error text names a
    failure: ``RateLimitError: 429 Too Many Requests (следующая попытка через 30 с)``, not
    Celery's wrapper (``Retry in 30s: RateLimitError(...)``)."""
    exc = getattr(reason, "exc", None)
    when = getattr(reason, "when", None)
    cause = describe(exc) if isinstance(exc, BaseException) else ""
    if not cause and not isinstance(reason, Exception):
        cause = describe(reason)
    due = words.retry_due(when)
    if cause and due:
        return f"{cause} ({due})"
    return cause or due or describe(reason)


@never_raises
def on_task_retry(sender: Any = None, request: Any = None, reason: Any = None, **_: Any) -> None:
    route, buffer, words = _route_and_buffer(sender)
    task_id = getattr(request, "id", None)
    if route is None or task_id is None:
        return
    buffer.run_finished(
        task_id, route.agent_id, AgentStatus.warning,
        text=fit_text(words.retry_text(route.text, retry_reason(reason, words))),
    )


@never_raises
def on_task_revoked(sender: Any = None, request: Any = None, **_: Any) -> None:
    """A revoked or terminated run leaves the working state; it is not an error."""
    route, buffer, _words = _route_and_buffer(sender)
    task_id = getattr(request, "id", None)
    if route is None or task_id is None:
        return
    buffer.run_finished(task_id, route.agent_id, None)


@never_raises
def on_worker_process_shutdown(**_: Any) -> None:
    """A pool process exits (also on ``max_tasks_per_child``): hand over what it holds."""
    runtime = _runtime.current()
    if runtime is not None and runtime.flusher.role.forwards:
        runtime.flusher.stop()


@never_raises
def on_worker_shutdown(**_: Any) -> None:
    """Warm shutdown, after the pool drained: write the rest and mark the agents offline."""
    runtime = _runtime.current()
    if runtime is not None and runtime.flusher.role.retires:
        runtime.flusher.stop(retire=True)


@never_raises
def on_worker_before_fork(sender: Any = None, instance: Any = None, **_: Any) -> None:
    """``celeryd_after_setup``: the main process of a prefork worker is about to fork its pool.

    ``gc.freeze()`` moves every object alive now (the imported SQLAlchemy among them) out of
    the collector's reach, the way the :mod:`gc` docs advise before ``fork()``: a collection in
    a pool process would otherwise write to each of them and copy every page they sit on.
    Garbage is collected first, so none of it is kept for good. Measured: some 25 MiB less PSS
    for a ``-c 2`` worker (``bench.overhead.memory``). ``office_gc_freeze`` false skips it."""
    pool = getattr(instance, "pool_cls", None)
    runtime = _runtime.current()
    if runtime is None or "prefork" not in getattr(pool, "__module__", str(pool)):
        return
    if not runtime.flusher.settings.gc_freeze:
        return
    gc.collect()
    gc.freeze()


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
        (signals.celeryd_after_setup, on_worker_before_fork),
    )

    @classmethod
    def connect(cls) -> None:
        for signal, handler in cls.HANDLERS:
            signal.connect(handler, weak=False, dispatch_uid=f"celery_office.{handler.__name__}")

    @classmethod
    def disconnect(cls) -> None:
        """Disconnect every handler and drop this process's runtime."""
        for signal, handler in cls.HANDLERS:
            signal.disconnect(handler, dispatch_uid=f"celery_office.{handler.__name__}")
        _runtime.deactivate()
