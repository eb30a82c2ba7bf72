"""/api/agents for a fleet of 1,000 agents in PostgreSQL, over HTTP: filters in the query
(one-line 400s), errors first then natural order, ETag and 304, gzip, Russian plurals."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette

from celery_office import OfficeReporter, create_office_engine
from celery_office.web import create_app

from .fleet_office import fill_fleet
from .server import served
from .test_app import get


@pytest.fixture
def fleet(pg_url: str) -> str:
    fill_fleet(pg_url, 1000)
    return pg_url


@pytest.fixture
def app(fleet: str) -> Starlette:
    return create_app(fleet)


@pytest.fixture
def base(app: Starlette) -> Iterator[str]:
    with served(app) as base:
        yield base


def agents(base: str, query: str = "") -> dict[str, Any]:
    status, _, body = get(f"{base}/api/agents{query}")
    assert status == 200, body
    return json.loads(body)


def test_filters_answer_exactly_what_they_name(base: str) -> None:
    errors = agents(base, "?status=error")
    assert [a["agent_id"] for a in errors["agents"]] == ["bulk_17", "bulk_512", "bulk_901"]
    assert errors["summary"]["total"] == 3 and errors["summary"]["query"]["status"] == ["error"]
    assert errors["summary"]["shown"]["matched"] == "показано 3 из 1000"
    both = agents(base, "?status=error,warning&department=watcher")
    assert {a["effective_status"] for a in both["agents"]} == {"error", "warning"}
    assert {a["department"] for a in both["agents"]} == {"watcher"}
    repeated = agents(base, "?status=error&status=warning&department=watcher")
    assert repeated["agents"] == both["agents"]
    found = agents(base, "?q=PAGE%20512%20timed")  # the task's text, any case
    assert [a["agent_id"] for a in found["agents"]] == ["bulk_512"]
    assert agents(base, "?brand=nobody")["agents"] == []


def test_errors_then_warnings_first_then_natural_order(base: str) -> None:
    ids = [a["agent_id"] for a in agents(base)["agents"]]
    assert ids[:3] == ["bulk_17", "bulk_512", "bulk_901"]
    warnings = [a["agent_id"] for a in agents(base, "?status=warning")["agents"]]
    assert ids[3:3 + len(warnings)] == warnings == sorted(
        warnings, key=lambda agent_id: int(agent_id.split("_")[1]))
    rest = ids[3 + len(warnings):]
    assert rest.index("bulk_8") < rest.index("bulk_73") < rest.index("bulk_713")
    by_id = [a["agent_id"] for a in agents(base, "?sort=agent_id")["agents"]]
    assert by_id[:12] == [f"bulk_{n}" for n in range(12)]


@pytest.mark.parametrize("query, named, accepts", [
    ("?status=eror", "status", "ok, warning, error, offline"),
    ("?stauts=error", "'stauts'", "status, department, brand, q, sort"),
    ("?sort=salary", "sort", "status, agent_id, name"),
])
def test_a_query_it_cannot_answer_is_a_400_of_one_line(
    base: str, query: str, named: str, accepts: str
) -> None:
    status, headers, body = get(f"{base}/api/agents{query}")
    error = json.loads(body)["error"]
    assert status == 400 and headers["content-type"].startswith("application/json")
    assert named in error and accepts in error and "\n" not in error


def test_an_unchanged_office_is_a_304_and_a_change_a_new_etag(app: Starlette, base: str,
                                                               fleet: str) -> None:
    reader = app.state.office.reader
    status, headers, body = get(f"{base}/api/agents?status=error")
    etag, first = headers["etag"], json.loads(body)["summary"]["generated_at"]
    assert status == 200 and etag.startswith('W/"')
    reader.max_age = 0.0  # each request reads the office again: a new snapshot, a new clock
    status, again, empty = get(f"{base}/api/agents?status=error",
                               headers={"If-None-Match": etag})
    assert (status, empty, again["etag"]) == (304, b"", etag)
    fresh = json.loads(get(f"{base}/api/agents?status=error")[2])
    assert fresh["summary"]["generated_at"] != first  # it was read again, and it is a 304
    other = get(f"{base}/api/agents?status=warning", headers={"If-None-Match": etag})
    assert other[0] == 200  # another query, another body
    OfficeReporter("bulk_512", "content_factory", "Агент 512", engine=create_office_engine(
        fleet)).report_idle()
    status, headers, body = get(f"{base}/api/agents?status=error",
                                headers={"If-None-Match": etag})
    assert status == 200 and headers["etag"] != etag
    assert [a["agent_id"] for a in json.loads(body)["agents"]] == ["bulk_17", "bulk_901"]


def test_gzip_for_whoever_accepts_it(base: str) -> None:
    plain = get(f"{base}/api/agents", headers={"Accept-Encoding": "identity"})
    packed = get(f"{base}/api/agents", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in plain[1]
    assert packed[1]["content-encoding"] == "gzip" and "Accept-Encoding" in packed[1]["vary"]
    assert len(packed[2]) < len(plain[2]) / 5
    unpacked = json.loads(gzip.decompress(packed[2]))
    assert len(unpacked["agents"]) == 1000
    assert packed[1]["x-content-type-options"] == "nosniff"  # the security headers kept


def test_counts_say_their_russian_plurals(base: str) -> None:
    shown = agents(base, "?status=error")["summary"]["shown"]
    counts = {count["status"]: count["text"] for count in shown["counts"]}
    assert counts["error"] == "3 ошибки"  # the whole office's, whatever the filter
    assert counts["offline"] == "0 агентов не в сети"
    from celery_office.core.texts import plural

    forms = ["ошибка", "ошибки", "ошибок"]
    assert [plural(n, forms) for n in (1, 2, 5, 11, 21, 22, 112, 0)] == [
        "1 ошибка", "2 ошибки", "5 ошибок", "11 ошибок", "21 ошибка", "22 ошибки", "112 ошибок",
        "0 ошибок"]
    rooms = agents(base, "?department=lex")["summary"]["shown"]["departments"]
    assert rooms == {"lex": {"title": "Lex", "agents": "125 агентов",
                             "salary": "7\u2009500\u2009000\u00a0₽/мес"}}
