"""The Grafana dashboard in grafana/ reads only what a live /metrics says: every metric its
queries name, with the labels they group and filter by, and a data source it declares for
import."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from celery_office.web import create_app

from .adolf_office import fill_adolf_office
from .server import served
from .test_app import get

DASHBOARD = Path(__file__).resolve().parents[2] / "grafana" / "celery-office.json"
METRIC = re.compile(r"\bcelery_office_[a-z_]+\b")
GROUPED = re.compile(r"\bby\s*\(([^)]*)\)")
MATCHER = re.compile(r"(celery_office_[a-z_]+)\{([^}]*)\}")


def _queries(dashboard: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def test_the_dashboard_imports_as_is(dashboard: dict[str, Any]) -> None:
    inputs = {entry["name"] for entry in dashboard["__inputs"]}
    assert inputs == {"DS_PROMETHEUS"}
    assert dashboard["uid"] and dashboard["title"] and dashboard["panels"]
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        assert panel["targets"], panel["title"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_every_query_reads_metrics_and_labels_that_metrics_has(
    dashboard: dict[str, Any], db_url: str
) -> None:
    fill_adolf_office(db_url)
    with served(create_app(db_url)) as base:
        _, _, body = get(base + "/metrics")
    labels: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            labels.setdefault(sample.name, set()).update(sample.labels)
    queries = _queries(dashboard)
    used = {name for query in queries for name in METRIC.findall(query)}
    assert used - set(labels) == set(), "queries read metrics /metrics does not have"
    for query in queries:
        names = METRIC.findall(query)
        known = set().union(*(labels[name] for name in names))
        for group in GROUPED.findall(query):
            for label in filter(None, (part.strip() for part in group.split(","))):
                assert label in known, f"{query}: no metric of it has the label {label}"
        for name, matchers in MATCHER.findall(query):
            for label in re.findall(r"(\w+)\s*=", matchers):
                assert label in labels[name], f"{query}: {name} has no label {label}"
    # the panels the issue asks for: by status, busiest, failures per hour by department,
    # offline
    assert any("celery_office_agent_status" in q and "by (status)" in q for q in queries)
    assert any("celery_office_agent_busy" in q for q in queries)
    assert any("increase(celery_office_agent_failures_total[1h])" in q and "department" in q
               for q in queries)
    assert any('status="offline"' in q for q in queries)
