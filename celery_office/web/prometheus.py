"""``/metrics``: the office in Prometheus's text format, read from the table at each scrape.

A custom collector, not gauges set in the background: the table is the truth, and a scrape
reads it (through the page's shared snapshot, so a scrape costs at most one read a second, and
answers within the reader's deadline: ``celery_office_up 0`` while the database does not).
Names follow Prometheus's conventions: the ``celery_office_`` prefix, base units in the name
(``_seconds``), ``_total`` only on counters (today's numbers restart at midnight, so they are
gauges), and a status as a label whose series is 1 for the status in effect and 0 for the
others. The collector lives in a registry of its own: mounting the page in a host app adds
nothing to the host's default registry.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from ..core.statuses import ALERT_PRECEDENCE
from ..snapshot import STATUS_ORDER, status_name
from .reader import Snapshot, View

__all__ = ["OfficeCollector", "metrics_registry", "exposition", "METRIC_NAMES"]

AGENT_LABELS = ["agent_id", "department", "brand"]

METRIC_NAMES = (
    "celery_office_up",
    "celery_office_agent_status",
    "celery_office_agent_last_activity_timestamp_seconds",
    "celery_office_agent_last_activity_age_seconds",
    "celery_office_agent_runs_today",
    "celery_office_agent_failures_today",
    "celery_office_agent_runtime_today_seconds",
    "celery_office_agent_alert",
)


class OfficeCollector(Collector):
    """Every agent's effective status, silence, today's numbers and alerts, as one scrape's
    view has them; only ``celery_office_up 0`` when the view is stale (a stale series would
    tell Prometheus a value that is no longer known)."""

    def __init__(self, view: View) -> None:
        self.view = view

    def describe(self) -> list[Metric]:
        return []  # nothing to check at registration: the families depend on the table

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("celery_office_up", "1 when the office's database answered "
                               "this scrape, 0 when it did not (the other series are then "
                               "absent)")
        snapshot = self.view.snapshot
        if not self.view.fresh or snapshot is None:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from _agent_families(snapshot)


def _agent_families(snapshot: Snapshot) -> Iterator[Metric]:
    status = GaugeMetricFamily(
        "celery_office_agent_status", "1 for the agent's effective status (offline once "
        "silent past office_offline_after), 0 for the others", labels=[*AGENT_LABELS, "status"])
    seen_at = GaugeMetricFamily(
        "celery_office_agent_last_activity_timestamp_seconds",
        "When the agent was last active (Unix time, database clock)", labels=AGENT_LABELS)
    age = GaugeMetricFamily(
        "celery_office_agent_last_activity_age_seconds",
        "Seconds since the agent's last activity, by the database clock", labels=AGENT_LABELS)
    runs = GaugeMetricFamily(
        "celery_office_agent_runs_today", "Runs the agent started today (the app's timezone)",
        labels=AGENT_LABELS)
    failures = GaugeMetricFamily(
        "celery_office_agent_failures_today", "Runs of the agent that failed today",
        labels=AGENT_LABELS)
    runtime = GaugeMetricFamily(
        "celery_office_agent_runtime_today_seconds",
        "Total runtime of the agent's runs that ended today", labels=AGENT_LABELS)
    alert = GaugeMetricFamily(
        "celery_office_agent_alert", "1 while the alert is active: missed (an expected run did "
        "not start within its grace) or overlong (a run past its limit)",
        labels=[*AGENT_LABELS, "kind"])
    known = [state.value for state in STATUS_ORDER]
    for row in snapshot.rows:
        labels = [row.agent_id, row.department, row.brand or ""]
        effective = status_name(row.effective_status)
        for name in (known if effective in known else [*known, effective]):
            status.add_metric([*labels, name], 1 if name == effective else 0)
        if row.last_activity is not None and row.silent_for is not None:
            seen_at.add_metric(labels, row.last_activity.timestamp())
            age.add_metric(labels, max(0.0, row.silent_for))
        if row.today is not None:
            runs.add_metric(labels, row.today.runs)
            failures.add_metric(labels, row.today.failed)
            runtime.add_metric(labels, row.today.runtime_s)
        active = snapshot.alerts.get(row.agent_id, ())
        for kind in ALERT_PRECEDENCE:
            alert.add_metric([*labels, kind], 1 if kind in active else 0)
    yield from (status, seen_at, age, runs, failures, runtime, alert)


def metrics_registry(view: View) -> CollectorRegistry:
    """A registry of its own holding the office's collector over one scrape's view."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(OfficeCollector(view))
    return registry


def exposition(view: View, accept: str | None) -> tuple[bytes, str]:
    """The view's metrics and their content type, in the format the scraper's ``Accept``
    header asks for (the text format 0.0.4 by default, or OpenMetrics)."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(metrics_registry(view)), content_type
