"""``/api/agents``: the JSON of ``celery office status --json`` for the agents asked for
(:mod:`.query`), with the page's texts (:mod:`.view`), an ETag and ``304 Not Modified``.

Why cached per snapshot: every open page polls, and a thousand agents make a body of hundreds
of kilobytes. Each (snapshot, query) is encoded once, and so is its ETag, however many pages
ask; only ``"stale"`` (the snapshot's age while the database is away), the body's last key, is
added per request. The ETag is weak (``W/"..."``): it names the office as the page shows it
(every field but the clock's ``silent_for`` and ``generated_at``; the page's texts say
"seen" and "since" to the minute), whichever encoding (gzip or none) carries it, so a page
polling an office where nothing changed gets ``304`` and no body.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..settings import OfficeSettings
from ..snapshot import stale_json, status_counts, status_json, status_name
from .query import AgentQuery, QueryError, parse_query
from .reader import Snapshot, View
from .texts import PAGE
from .view import add_shown

__all__ = ["AgentsAnswer", "NO_STORE", "NOT_YET"]

NO_STORE = {"Cache-Control": "no-store"}
NOT_YET = "the database has not answered yet"
KEPT_QUERIES = 64  # bodies kept per snapshot: the unfiltered one and the filters in use


def etag_of(body: bytes) -> str:
    return 'W/"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def _matches(header: str | None, etag: str) -> bool:
    """``If-None-Match`` holds ``etag`` (weak comparison, as RFC 9110 asks for GET)."""
    if not header:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in tags or etag.removeprefix("W/") in tags


class AgentsAnswer:
    """The bodies of the current snapshot, by query, and the answer to one request."""

    def __init__(self, settings: OfficeSettings, *, texts: Mapping[str, Any] = PAGE) -> None:
        self.settings = settings
        self.texts = texts
        self._lock = threading.Lock()
        self._of: Snapshot | None = None
        # query -> (the body without its closing ``"stale":...}``, the fresh body's ETag)
        self._bodies: OrderedDict[AgentQuery, tuple[bytes, str]] = OrderedDict()

    async def respond(self, request: Request, view: View) -> Response:
        """200 with the body and its ETag, 304 when the page has it, 400 for a parameter
        :mod:`.query` does not accept, 503 before any read succeeded."""
        snapshot = view.snapshot
        if snapshot is None:
            return JSONResponse({"error": view.problem or NOT_YET}, status_code=503,
                                headers=NO_STORE)
        present = {status_name(row.effective_status) for row in snapshot.rows}
        try:
            query = parse_query(request.query_params.multi_items(), statuses=sorted(present))
        except QueryError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400, headers=NO_STORE)
        body, etag = await run_in_threadpool(self.body, view, query)
        headers = {**NO_STORE, "ETag": etag}
        if _matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="application/json", headers=headers)

    def body(self, view: View, query: AgentQuery) -> tuple[bytes, str]:
        """The JSON and its ETag: encoded once per (snapshot, query); ``"stale"`` (null, or
        the snapshot's age and why it is not newer) its last key."""
        snapshot = view.snapshot
        assert snapshot is not None
        with self._lock:  # the pollers a new snapshot wakes wait for one encoding
            if self._of is not snapshot:
                self._of, self._bodies = snapshot, OrderedDict()
            cached = self._bodies.get(query)
            if cached is None:
                cached = self._bodies[query] = self._encode(snapshot, query)
                while len(self._bodies) > KEPT_QUERIES:
                    self._bodies.popitem(last=False)
        if view.fresh:
            return cached[0] + b"null}", cached[1]
        stale = stale_json(age=view.age() or 0.0, reason=view.problem or NOT_YET,
                           language=self.settings.language)
        suffix = json.dumps(stale, ensure_ascii=False).encode("utf-8") + b"}"
        return cached[0] + suffix, etag_of(cached[1].encode() + suffix)  # the rest hashed once

    def _encode(self, snapshot: Snapshot, query: AgentQuery) -> tuple[bytes, str]:
        """The body up to ``"stale":`` (without its value and the closing brace), and its
        ETag: of the same JSON without the clock (``silent_for``, ``generated_at``), so a new
        snapshot of an office where nothing changed, as the page shows it, is a ``304``."""
        rows = query.apply(snapshot.rows)
        payload = status_json(rows, offline_after=self.settings.offline_after,
                              departments=query.departments, brands=query.brands,
                              now=snapshot.taken_at, alerts=snapshot.alerts,
                              since=snapshot.since, last_errors=snapshot.last_error)
        payload["summary"]["query"] = query.as_json()
        add_shown(payload, office_counts=status_counts(snapshot.rows),
                  office_total=len(snapshot.rows), filtered=query.filtered,
                  departments=sorted({row.department for row in snapshot.rows}),
                  brands=sorted({row.brand for row in snapshot.rows if row.brand}),
                  zone=self.settings.timezone, now=snapshot.taken_at, texts=self.texts)
        clock = [agent.pop("silent_for") for agent in payload["agents"]]
        generated = payload["summary"].pop("generated_at")
        etag = etag_of(_encoded(payload))
        for agent, silent in zip(payload["agents"], clock, strict=True):
            agent["silent_for"] = silent
        payload["summary"]["generated_at"] = generated
        return _encoded(payload)[:-1] + b',"stale":', etag


def _encoded(payload: dict[str, object]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, allow_nan=False,
                      separators=(",", ":")).encode("utf-8")
