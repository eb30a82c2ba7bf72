"""Emulated work shared by the ADOLF example tasks: sleep, pick an outcome, fail or retry.

Every task takes two keyword-only controls so that tests and demos can drive it exactly:

* ``duration`` -- seconds of "work" (a sleep); ``None`` picks a random 0.2-2.0 s;
* ``outcome`` -- ``"ok"``, ``"fail"`` or ``"retry"``; ``None`` picks one at random
  (~10 % fail; ~20 % retry, only for tasks that retry on their own, such as
  ``marketing.manage_ozon_campaigns`` on a rate limit).

``"fail"`` raises the task's error after the sleep. ``"retry"`` calls
``task.retry(countdown=0.5, max_retries=1)`` after the sleep; the retried run always succeeds.
"""

from __future__ import annotations

import math
import random
import time
from typing import Any

__all__ = [
    "OUTCOMES",
    "FAIL_RATE",
    "RETRY_RATE",
    "DURATION_RANGE",
    "RETRY_COUNTDOWN",
    "MARKETPLACES",
    "AdolfError",
    "MarketplaceAPIError",
    "RateLimitError",
    "LLMError",
    "DataSourceError",
    "IndexingError",
    "LegalSourceError",
    "emulate",
    "pick_outcome",
    "pick_duration",
    "marketplace_name",
]

OUTCOMES = ("ok", "fail", "retry")
FAIL_RATE = 0.10
RETRY_RATE = 0.20  # only for tasks given a retry_error
DURATION_RANGE = (0.2, 2.0)
RETRY_COUNTDOWN = 0.5

MARKETPLACES = {"wb": "Wildberries", "ozon": "Ozon", "ym": "Яндекс Маркет"}


# ---------------------------------------------------------------------- errors
# One-argument exceptions: they pickle, so they cross the worker pool and the result backend.


class AdolfError(Exception):
    """Base of the errors the example agents raise."""


class MarketplaceAPIError(AdolfError):
    """A marketplace API (Wildberries, Ozon, Яндекс Маркет) failed or timed out."""


class RateLimitError(MarketplaceAPIError):
    """A marketplace API answered 429 Too Many Requests: worth a retry."""


class LLMError(AdolfError):
    """The text-generation model failed (overloaded, context too long...)."""


class DataSourceError(AdolfError):
    """An analytics or accounting source (MPStats, 1C, bank export) gave no data."""


class IndexingError(AdolfError):
    """The knowledge base could not index or search documents."""


class LegalSourceError(AdolfError):
    """A legal reference system (ConsultantPlus, Garant) could not be read."""


# ---------------------------------------------------------------------- controls


def marketplace_name(code: str) -> str:
    """``"wb"`` -> ``"Wildberries"``; unknown codes are shown as given."""
    return MARKETPLACES.get(code, code)


def pick_outcome(outcome: str | None, *, retrying: bool = False, rng: Any = random) -> str:
    """The outcome to emulate: ``outcome`` itself (checked), or a random one when None."""
    if outcome is not None:
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)} or None,"
                             f" got {outcome!r}")
        return outcome
    roll = rng.random()
    if roll < FAIL_RATE:
        return "fail"
    if retrying and roll < FAIL_RATE + RETRY_RATE:
        return "retry"
    return "ok"


def pick_duration(duration: float | None, *, rng: Any = random) -> float:
    """Seconds to sleep: ``duration`` itself (checked), or a random 0.2-2.0 s when None."""
    if duration is None:
        return rng.uniform(*DURATION_RANGE)
    if isinstance(duration, bool) or not isinstance(duration, (int, float)):
        raise TypeError(f"duration must be a number of seconds or None, got {duration!r}")
    if not math.isfinite(duration) or duration < 0:
        raise ValueError(f"duration must be a finite number of seconds >= 0, got {duration!r}")
    return float(duration)


def emulate(
    task: Any,
    *,
    duration: float | None,
    outcome: str | None,
    error: BaseException,
    retry_error: BaseException | None = None,
) -> None:
    """Do the task's "work": sleep, then return (ok), raise ``error`` (fail) or retry.

    ``task`` is the bound task (``self``). ``retry_error`` marks a task that retries on its own:
    only such tasks pick "retry" at random, and it is the exception the retry carries (``error``
    otherwise; an explicit ``outcome="retry"`` works on every task). A retried run
    (``task.request.retries >= 1``) always succeeds.
    """
    chosen = pick_outcome(outcome, retrying=retry_error is not None)
    seconds = pick_duration(duration)
    if getattr(task.request, "retries", 0):
        chosen = "ok"
    time.sleep(seconds)
    if chosen == "fail":
        raise error
    if chosen == "retry":
        raise task.retry(
            exc=retry_error if retry_error is not None else error,
            countdown=RETRY_COUNTDOWN,
            max_retries=1,
        )
