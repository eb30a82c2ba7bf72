"""The office page as an ASGI app: ``celery office serve`` runs it, a host app mounts it.

    from celery_office.web import create_app
    app.mount("/office", create_app("postgresql+psycopg2://office@db/adolf"))

Read-only over the database alone (no broker): ``/`` the page, ``/api/agents`` the JSON of
``celery office status --json`` (marked stale while the database fails), ``/metrics`` for
Prometheus, all three behind the Host check and the credentials (:mod:`.access`); open to
probes, ``/healthz`` (200 only when the office can be shown) and ``/livez`` (the process is
up). Every answer comes within the reader's deadline (:mod:`.reader`). With ``notify`` URLs
it also posts each agent's transitions (a thread of its own, started with the app's lifespan,
or at the first request when a host mounts it: Starlette does not run a mounted app's
lifespan). Every URL the page uses is relative, so it works under any
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
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..core.texts import words_for
from ..db.engine import create_office_engine, create_read_engine
from ..logs import logger
from ..settings import OfficeSettings
from .access import BASIC_AUTH_SETTING, HOSTS_SETTING, guard, parse_credentials, parse_hosts
from .access import allowed_hosts as allowed_hosts_of
from .agents_api import NO_STORE, NOT_YET, AgentsAnswer
from .notifier import Notifier
from .page import STATIC, render_page
from .prometheus import exposition
from .reader import OfficeReader
from .targets import check_targets
from .texts import page_texts
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
GZIP_FROM = 1024  # bytes: smaller answers go as they are


class OfficeWeb:
    """What the app's endpoints share: the reader, the notifier, the last JSON built."""

    def __init__(
        self, settings: OfficeSettings, *, engine: Engine | None, notify: Sequence[str],
        notify_interval: float, refresh: float, deadline: float,
    ) -> None:
        self.settings = settings
        targets = check_targets(notify)  # before anything starts: one line naming a bad URL
        self._own_engine = engine is None
        self.engine = engine or create_read_engine(
            settings.database_url, connect_timeout=min(settings.connect_timeout, deadline),
            statement_timeout=min(settings.statement_timeout, deadline))
        self.reader = OfficeReader(self.engine, offline_after=settings.offline_after,
                                   timezone=settings.timezone, deadline=deadline)
        self.texts = page_texts(language=settings.language, title=settings.title,
                                currency=settings.currency)
        self.page = render_page(refresh=refresh, texts=self.texts)
        self.notifier: Notifier | None = None
        if notify:
            claims = create_office_engine(
                settings.database_url, connect_timeout=settings.connect_timeout,
                statement_timeout=settings.statement_timeout)
            self.notifier = Notifier(claims, targets, offline_after=settings.offline_after,
                                     heartbeat_interval=settings.heartbeat_interval,
                                     interval=notify_interval, keep_days=settings.timeline_days,
                                     words=words_for(settings.language))
        self.agents = AgentsAnswer(settings, texts=self.texts)
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

    def routes(self, guarded_by: Sequence[Middleware]) -> list[BaseRoute]:
        """The page, its files, the API and the metrics behind ``guarded_by``; the health
        paths open, for probes that know no password."""
        get = ["GET", "HEAD"]
        office = [
            Route("/", self.page_endpoint, methods=get),
            Route("/api/agents", self.agents_endpoint, methods=get),
            timeline_route(self.engine, zone=self.settings.timezone),
            Route("/metrics", self.metrics_endpoint, methods=get),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ]
        return [
            Route("/healthz", self.health_endpoint, methods=get),
            Route("/livez", self.live_endpoint, methods=get),
            Mount("", routes=office, middleware=guarded_by),
        ]

    async def page_endpoint(self, request: Request) -> Response:
        self.ensure_started()
        return HTMLResponse(self.page, headers={"Cache-Control": "no-cache"})

    async def agents_endpoint(self, request: Request) -> Response:
        """The last good snapshot's agents asked for (:mod:`.agents_api`), marked stale (its
        age and why) while the database fails; 503 only before any read succeeded."""
        self.ensure_started()
        return await self.agents.respond(request, await self.reader.view())

    async def health_endpoint(self, request: Request) -> Response:
        """200 only when the office can be shown: its tables at a revision this version knows,
        read within the deadline; 503 and one line of why (no secret) otherwise."""
        self.ensure_started()
        view = await self.reader.view()
        if not view.fresh:
            return JSONResponse({"status": "unavailable", "reason": view.problem or NOT_YET},
                                status_code=503, headers=NO_STORE)
        return JSONResponse({"status": "ok"}, headers=NO_STORE)

    async def live_endpoint(self, request: Request) -> Response:
        """The process answers: nothing more (a liveness probe must not restart serve because
        the database is away)."""
        return JSONResponse({"status": "alive"}, headers=NO_STORE)

    async def metrics_endpoint(self, request: Request) -> Response:
        self.ensure_started()
        view = await self.reader.view()
        body, content_type = await run_in_threadpool(
            exposition, view, request.headers.get("accept"))
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


def _settings(
    settings: OfficeSettings | None, *, app: Any, database_url: str | None,
    offline_after: float | None,
) -> OfficeSettings:
    """The settings given, else the app's, else the environment's; then the arguments'."""
    if settings is None:
        settings = (OfficeSettings.from_app(app) if app is not None
                    else OfficeSettings.from_sources())
    if database_url is not None:
        settings = replace(settings, database_url=database_url)
    elif settings.default_database_notice() is not None:  # never quietly: see the README
        logger.warning("celery-office: the office page: %s", settings.default_database_notice())
    if offline_after is not None:
        settings = replace(settings, offline_after=offline_after)
    return settings


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
    basic_auth: Sequence[str] | None = None,
    allowed_hosts: Sequence[str] | None = None,
    deadline: float = 5.0,
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
        basic_auth: ``user:password`` pairs guarding ``/``, ``/api/*``, ``/metrics`` and the
            page's files (default ``office_basic_auth``; none: no authentication).
        allowed_hosts: Host names answered besides the loopback names (default
            ``office_allowed_hosts``); ``["*"]`` leaves the check to a host app.
        deadline: seconds a read of the database may take; past it, the last good snapshot
            is served, marked stale.
    """
    settings = _settings(settings, app=app, database_url=database_url,
                         offline_after=offline_after)
    credentials = parse_credentials(
        [settings.basic_auth] if basic_auth is None else basic_auth,
        source=BASIC_AUTH_SETTING if basic_auth is None else "basic_auth")
    hosts = parse_hosts([settings.allowed_hosts] if allowed_hosts is None else allowed_hosts,
                        source=HOSTS_SETTING if allowed_hosts is None else "allowed_hosts")
    office = OfficeWeb(settings, engine=engine, notify=tuple(notify),
                       notify_interval=notify_interval, refresh=refresh, deadline=deadline)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        office.ensure_started()
        try:
            yield
        finally:
            office.close()

    web = Starlette(routes=office.routes(guard(credentials, allowed_hosts_of(hosts))),
                    lifespan=lifespan)
    web.add_middleware(GZipMiddleware, minimum_size=GZIP_FROM)  # inside: headers stay plain
    web.add_middleware(_SecurityHeaders)
    web.state.office = office
    return web
