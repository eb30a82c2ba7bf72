"""The office everyone can see: a live page, ``/api/agents``, ``/healthz``, Prometheus
``/metrics`` and notifications on transitions, as one ASGI app.

Needs the ``web`` extra (``pip install 'celery-office[web]'``: Starlette, uvicorn,
prometheus_client). ``celery -A proj office serve`` runs it; a host app mounts it::

    from celery_office.web import create_app
    app.mount("/office", create_app(app=celery_app))

Modules: :mod:`.app` (the ASGI app and its endpoints), :mod:`.access` (basic auth and the Host
check), :mod:`.page`, :mod:`.texts` (its words), :mod:`.view` (their formatting) and
``static/`` (the page), :mod:`.agents_api` and :mod:`.query` (``/api/agents``: filters, order,
ETag), :mod:`.reader` (the shared snapshot, read in bounded time), :mod:`.prometheus`
(``/metrics``), :mod:`.transitions`, :mod:`.notifier`, :mod:`.delivery` and :mod:`.targets`
(notifications), :mod:`.timeline_api` (an agent's timeline).
"""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
