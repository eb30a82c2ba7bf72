"""The office page as an ASGI app: ``celery office serve`` runs it, a host app mounts it.

    from celery_office.web import create_app
    app.mount("/office", create_app("postgresql+psycopg2://office@db/adolf"))

Read-only over the database alone (no broker): ``/`` the page, ``/api/agents`` the JSON of
``celery office status --json``, ``/healthz`` whether the database answers, ``/metrics`` for
Prometheus. With ``notify`` URLs it also posts each agent's transitions (a thread of its own,
started with the app's lifespan, or at the first request when a host mounts it: Starlette does
not run a mounted app's lifespan). Every URL the page uses is relative, so it works under any
mount path (Starlette redirects ``/office`` to ``/office/``).
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..db.engine import create_office_engine, create_read_engine
from ..logs import logger
from ..settings import OfficeSettings
from ..snapshot import status_json
from .notifier import Notifier
from .page import STATIC, render_page
from .prometheus import exposition, metrics_registry
from .reader import OfficeReader, ReadError
from .targets import check_targets
from .timeline_api import timeline_route

__all__ = ["create_app", "OfficeWeb"]

# The page loads only its own files and talks only to its own API; inline data is JSON.
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'none'; script-src 'self'; style-src 'self'; "
     b"img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
     b"frame-ancestors 'self'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
NO_STORE = {"Cache-Control": "no-store"}


class OfficeWeb:
    """What the app's endpoints share: the reader, the metrics registry, the notifier."""

    def __init__(
        self, settings: OfficeSettings, *, engine: Engine | None, notify: Sequence[str],
        notify_interval: float, refresh: float,
    ) -> None:
        self.settings = settings
        targets = check_targets(notify)  # before anything starts: one line naming a bad URL
        self._own_engine = engine is None
        self.engine = engine or create_read_engine(
            settings.database_url, connect_timeout=settings.connect_timeout,
            statement_timeout=settings.statement_timeout)
        self.reader = OfficeReader(self.engine, offline_after=settings.offline_after,
                                   timezone=settings.timezone)
        self.registry = metrics_registry(self.reader)
        self.page = render_page(refresh=refresh)
        self.notifier: Notifier | None = None
        if notify:
            claims = create_office_engine(
                settings.database_url, connect_timeout=settings.connect_timeout,
                statement_timeout=settings.statement_timeout)
            self.notifier = Notifier(claims, targets, offline_after=settings.offline_after,
                                     heartbeat_interval=settings.heartbeat_interval,
                                     interval=notify_interval, keep_days=settings.timeline_days)
        self._started = False
        self._lock = threading.Lock()

    def ensure_started(self) -> None:
        """Start the notifications once: at the app's start, or its first request."""
        if self._started:
            return
        with self._lock:
            if not self._started and self.notifier is not None:
                self.notifier.start()
            self._started = True

    def close(self) -> None:
        if self.notifier is not None and self._started:
            self.notifier.stop()
            self.notifier.engine.dispose()
        if self._own_engine:
            self.engine.dispose()

    async def page_endpoint(self, request: Request) -> Response:
        self.ensure_started()
        return HTMLResponse(self.page, headers={"Cache-Control": "no-cache"})

    async def agents_endpoint(self, request: Request) -> Response:
        self.ensure_started()
        try:
            snapshot = await run_in_threadpool(self.reader.snapshot)
        except ReadError as exc:
            return JSONResponse({"error": str(exc)}, status_code=503, headers=NO_STORE)
        payload = status_json(snapshot.rows, offline_after=self.settings.offline_after,
                              now=snapshot.taken_at)
        return JSONResponse(payload, headers=NO_STORE)

    async def health_endpoint(self, request: Request) -> Response:
        self.ensure_started()
        problem = await run_in_threadpool(self.reader.problem)
        if problem is not None:
            return JSONResponse({"status": "unavailable", "reason": problem}, status_code=503,
                                headers=NO_STORE)
        return JSONResponse({"status": "ok"}, headers=NO_STORE)

    async def metrics_endpoint(self, request: Request) -> Response:
        self.ensure_started()
        body, content_type = await run_in_threadpool(
            exposition, self.registry, request.headers.get("accept"))
        return Response(body, media_type=content_type, headers=NO_STORE)


class _SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every response of the wrapped app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(
    database_url: str | None = None,
    *,
    app: Any = None,
    settings: OfficeSettings | None = None,
    offline_after: float | None = None,
    notify: Sequence[str] = (),
    notify_interval: float = 5.0,
    refresh: float = 2.0,
    engine: Engine | None = None,
) -> Starlette:
    """The office page's ASGI app (Starlette).

    Parameters:
        database_url: the office's database; default ``office_database_url`` of the settings.
        app: a Celery app whose ``office_*`` settings (and ``timezone``) to read; without it,
            and without ``settings``, the ``OFFICE_*`` environment variables, as the CLI does.
        settings: settings to use as they are (``database_url``/``offline_after`` override).
        offline_after: seconds of silence after which an agent is offline (default
            ``office_offline_after``, 300).
        notify: webhook URLs to post each agent's transitions to.
        notify_interval: seconds between two looks for transitions.
        refresh: seconds between two polls of the open page.
        engine: a read engine to use instead of one made from the URL (kept open).
    """
    if settings is None:
        settings = (OfficeSettings.from_app(app) if app is not None
                    else OfficeSettings.from_sources())
    if database_url is not None:
        settings = replace(settings, database_url=database_url)
    elif settings.default_database_notice() is not None:  # never quietly: see the README
        logger.warning("celery-office: the office page: %s", settings.default_database_notice())
    if offline_after is not None:
        settings = replace(settings, offline_after=offline_after)
    office = OfficeWeb(settings, engine=engine, notify=tuple(notify),
                       notify_interval=notify_interval, refresh=refresh)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        office.ensure_started()
        try:
            yield
        finally:
            office.close()

    web = Starlette(
        routes=[
            Route("/", office.page_endpoint, methods=["GET", "HEAD"]),
            Route("/api/agents", office.agents_endpoint, methods=["GET", "HEAD"]),
            timeline_route(office.engine, zone=settings.timezone),
            Route("/healthz", office.health_endpoint, methods=["GET", "HEAD"]),
            Route("/metrics", office.metrics_endpoint, methods=["GET", "HEAD"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        lifespan=lifespan,
    )
    web.add_middleware(_SecurityHeaders)
    web.state.office = office
    return web
