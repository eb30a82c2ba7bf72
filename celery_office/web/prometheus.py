"""``/metrics``: the office in Prometheus's text format, read from the table at each scrape.

A custom collector, not gauges set in the background: the table is the truth, and a scrape
reads it (through the page's shared snapshot, so a scrape costs at most one read a second, and
answers within the reader's deadline: ``celery_office_up 0`` while the database does not).
Names follow Prometheus's conventions: the ``celery_office_`` prefix, base units in the name
(``_seconds``), ``_total`` only on counters (today's numbers restart at midnight, so they are
gauges; the ``_total`` counters sum every day ever counted, :mod:`celery_office.db.totals`), a
status as a label whose series is 1 for the status in effect and 0 for the others, and no
label with an empty value. The collector lives in a registry of its own: mounting the page in a
host app adds nothing to the host's default registry.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from ..core.statuses import ALERT_PRECEDENCE
from ..db.read import AgentRow
from ..db.totals import Totals
from ..snapshot import STATUS_ORDER, status_name
from .reader import Snapshot, View

__all__ = ["OfficeCollector", "metrics_registry", "exposition", "METRIC_NAMES"]

# name: (type, help); the agents' families, in the order /metrics lists them
FAMILIES = {
    "celery_office_agent_status": ("gauge", "1 for the agent's effective status (offline once "
                                   "silent past office_offline_after), 0 for the others"),
    "celery_office_agent_busy": ("gauge", "1 while the agent has a run in progress (as of the "
                                 "workers' last writes), 0 otherwise"),
    "celery_office_agent_last_activity_timestamp_seconds": (
        "gauge", "When the agent was last active (Unix time, database clock)"),
    "celery_office_agent_last_activity_age_seconds": (
        "gauge", "Seconds since the agent's last activity, by the database clock"),
    "celery_office_agent_runs_today": ("gauge", "Runs the agent started today (the app's "
                                       "timezone); restarts at midnight"),
    "celery_office_agent_failures_today": ("gauge", "Runs of the agent that failed today"),
    "celery_office_agent_runtime_today_seconds": (
        "gauge", "Total runtime of the agent's runs that ended today"),
    "celery_office_agent_runs_total": ("counter", "Runs the agent started, ever (never goes "
                                       "down: across midnight, restarts and retention)"),
    "celery_office_agent_failures_total": ("counter", "Runs of the agent that failed, ever"),
    "celery_office_agent_retries_total": ("counter", "Runs of the agent that ended in a retry, "
                                          "ever"),
    "celery_office_agent_runtime_seconds_total": (
        "counter", "Total runtime of the agent's ended runs, ever"),
    "celery_office_agent_alert": ("gauge", "1 while the alert is active: missed (an expected "
                                  "run did not start within its grace) or overlong (a run past "
                                  "its limit)"),
}
# each counter and the field of db.totals.Totals it reads
COUNTERS = {
    "celery_office_agent_runs_total": "runs",
    "celery_office_agent_failures_total": "failed",
    "celery_office_agent_retries_total": "retried",
    "celery_office_agent_runtime_seconds_total": "runtime_s",
}
METRIC_NAMES = ("celery_office_up", *FAMILIES)


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


class _Family:
    """One metric family whose samples carry only the labels they have: Prometheus reads an
    empty label as an absent one, so an agent without a brand has no ``brand`` label at all
    rather than ``brand=""``."""

    def __init__(self, name: str, documentation: str, kind: str = "gauge") -> None:
        self.name = name
        self.metric = Metric(name.removesuffix("_total"), documentation, kind)

    def add(self, labels: dict[str, str], value: float) -> None:
        self.metric.add_sample(self.name, labels, value)


def _labels(row: AgentRow) -> dict[str, str]:
    found = {"agent_id": row.agent_id, "department": row.department, "brand": row.brand or ""}
    return {name: value for name, value in found.items() if value}


def _agent_families(snapshot: Snapshot) -> Iterator[Metric]:
    family = {name: _Family(name, documentation, kind) for name, (kind, documentation)
              in FAMILIES.items()}
    known = [state.value for state in STATUS_ORDER]
    for row in snapshot.rows:
        labels = _labels(row)
        effective = status_name(row.effective_status)
        for name in (known if effective in known else [*known, effective]):
            family["celery_office_agent_status"].add(
                {**labels, "status": name}, 1 if name == effective else 0)
        family["celery_office_agent_busy"].add(labels, 1 if row.agent_id in snapshot.busy else 0)
        if row.last_activity is not None and row.silent_for is not None:
            family["celery_office_agent_last_activity_timestamp_seconds"].add(
                labels, row.last_activity.timestamp())
            family["celery_office_agent_last_activity_age_seconds"].add(
                labels, max(0.0, row.silent_for))
        if row.today is not None:
            family["celery_office_agent_runs_today"].add(labels, row.today.runs)
            family["celery_office_agent_failures_today"].add(labels, row.today.failed)
            family["celery_office_agent_runtime_today_seconds"].add(labels, row.today.runtime_s)
        total = snapshot.totals.get(row.agent_id, Totals())
        for name, field_name in COUNTERS.items():
            family[name].add(labels, getattr(total, field_name))
        active = snapshot.alerts.get(row.agent_id, ())
        for kind in ALERT_PRECEDENCE:
            family["celery_office_agent_alert"].add({**labels, "kind": kind},
                                                    1 if kind in active else 0)
    yield from (f.metric for f in family.values())


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
