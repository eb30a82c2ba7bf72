"""``/api/agents/{agent_id}/timeline``: an agent's periods (``status``, ``since``, ``until``,
``task``), today's by default (the day in the app's ``timezone``), or since ``?since=`` (an ISO
time; without a zone, UTC). Read from ``office_agent_timeline`` (:mod:`celery_office.db.timeline`).
"""

from __future__ import annotations

from datetime import datetime, time, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..core.days import today
from ..db.engine import db_error_reason, is_missing_table, safe_url
from ..db.timeline import read_timeline
from .reader import MIGRATE_HINT

__all__ = ["timeline_route", "since_of"]

NO_STORE = {"Cache-Control": "no-store"}


def since_of(raw: str | None, zone: str) -> datetime:
    """``?since=`` as an aware time; absent: the start of today in ``zone``. ValueError when
    it is not an ISO time."""
    if not raw:
        return datetime.combine(today(zone), time(), tzinfo=ZoneInfo(zone))
    since = datetime.fromisoformat(raw)
    return since if since.tzinfo is not None else since.replace(tzinfo=timezone.utc)


def timeline_route(engine: Engine, *, zone: str = "UTC") -> Route:
    """The route, reading with ``engine`` (the app's read engine)."""

    async def endpoint(request: Request) -> Response:
        try:
            since = since_of(request.query_params.get("since"), zone)
        except ValueError:
            return JSONResponse({"error": "since must be an ISO time, e.g. "
                                 "2026-12-04T09:00:00+03:00"}, status_code=400, headers=NO_STORE)
        agent_id = request.path_params["agent_id"]
        try:
            periods = await run_in_threadpool(read_timeline, engine, agent_id, since=since)
        except SQLAlchemyError as exc:
            hint = f"; {MIGRATE_HINT}" if is_missing_table(exc) else ""
            return JSONResponse({"error": f"cannot read the timeline from {safe_url(engine)}: "
                                 f"{db_error_reason(exc, engine)}{hint}"}, status_code=503,
                                headers=NO_STORE)
        return JSONResponse([period.as_json() for period in periods], headers=NO_STORE)

    return Route("/api/agents/{agent_id}/timeline", endpoint, methods=["GET", "HEAD"])
