"""Per-task metrics: the ``@metrics`` decorator and ``progress()``.

The decorator only marks the task's function: it does not wrap it, so the task's return value,
name, signature and retries stay exactly as they were. The worker's ``task_postrun`` handler
reads the mark and turns the result into the agent's metrics (:func:`metrics_of`); a failure
there is logged once and skipped, never failing the task nor keeping its run's end from being
recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar, overload

from celery import current_task

from ..jsonsafe import fit_text, metrics_dict
from ..logs import log_once
from ..render import describe, safe_str
from . import runtime as _runtime

__all__ = ["metrics", "progress", "metrics_of"]

F = TypeVar("F", bound=Callable[..., Any])


def _result_as_metrics(result: Any) -> Any:
    """The plain ``@metrics``: the result itself (None keeps the metrics as they are; anything
    but a dict is said once, in :func:`metrics_of`, never ignored without a word)."""
    return result


@overload
def metrics(fn: F) -> F: ...
@overload
def metrics(fn: None = None, *, extract: Callable[[Any], Any]) -> Callable[[F], F]: ...


def metrics(fn: Any = None, *, extract: Callable[[Any], Any] | None = None) -> Any:
    """Make a task's result its agent's metrics.

    ``@metrics`` directly under ``@app.task``: a dict the task returns becomes the metrics.
    ``@metrics(lambda result: {...})`` or ``@metrics(extract=func)``: ``extract(result)``
    returns the metrics dict (None keeps the agent's metrics as they are). A positional
    argument counts as the extractor only when it is a lambda; pass a named function as
    ``extract=``.
    """
    if fn is not None and getattr(fn, "__name__", "") == "<lambda>":
        extract, fn = fn, None
    if fn is None:
        if extract is None or not callable(extract):
            raise TypeError("metrics(extract=...) needs a function of the task's result")
        chosen = extract

        def mark(task_fn: F) -> F:
            task_fn.__office_metrics__ = chosen  # type: ignore[attr-defined]
            return task_fn

        return mark
    fn.__office_metrics__ = _result_as_metrics
    return fn


def progress(task: str | None = None, metrics: Mapping[str, Any] | None = None) -> bool:
    """From inside a running task: update its agent's working text and/or metrics.

    Coalesced like every other status change. Outside a task of an agent it does nothing,
    says so once in the log, and returns False.
    """
    current = current_task
    request = getattr(current, "request", None)
    task_id = getattr(request, "id", None)
    runtime = _runtime.current()
    route = runtime.route_of(getattr(current, "name", None)) if runtime is not None else None
    if task_id is None or route is None or runtime is None:
        log_once(
            "progress-outside",
            "celery-office: progress() called outside a running task of an agent; ignored",
        )
        return False
    runtime.buffer.run_progress(task_id, route.agent_id, fit_text(task), metrics_dict(metrics))
    return True


def metrics_of(task: Any, result: Any) -> dict[str, Any] | None:
    """Metrics a ``@metrics``-decorated task's result yields, or None (metrics unchanged).

    Never raises: the extractor and the values it returns are the user's code, and a failure
    here must not keep the run's end from being recorded."""
    try:
        extract = getattr(getattr(task, "run", None), "__office_metrics__", None)
        if extract is None:
            return None
        return metrics_dict(extract(result), hint="return a dict from the task, or derive one "
                            "with @metrics(extract=...)")
    except Exception as exc:
        try:
            name = safe_str(getattr(task, "name", None))
            log_once(
                f"metrics:{name}",
                "celery-office: metrics of task %s could not be computed (%s); they are skipped",
                name, describe(exc),
            )
        except Exception:  # pragma: no cover - the task object itself is broken
            pass
        return None
