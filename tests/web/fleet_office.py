"""A fleet of many agents in one office (``bulk_0`` ... ``bulk_N``), a few in error and in
warning: for the page's fleet tests, the README's second screenshot and ``bench.page``."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import insert

from celery_office import create_office_engine
from celery_office.core.days import today
from celery_office.core.statuses import AgentStatus
from celery_office.db.statements import STATUS

DEPARTMENTS = ("watcher", "reputation", "content_factory", "marketing", "scout", "cfo",
               "knowledge", "lex")
ERRORS = (17, 512, 901)  # bulk_17, bulk_512, bulk_901


def fleet_rows(agents: int, *, errors: tuple[int, ...] = ERRORS) -> list[dict[str, Any]]:
    now = datetime.now(timezone.utc)
    rows = []
    for n in range(agents):
        status = (AgentStatus.error if n in errors
                  else AgentStatus.warning if n % 97 == 5 else AgentStatus.ok)
        task = {AgentStatus.error: f"Ошибка: ScanError: page {n} timed out",
                AgentStatus.warning: f"Повтор: Сканирование {n} — RateLimitError: 429"}.get(
                    status, f"Сканирование цен {n}" if n % 2 else None)
        rows.append({"agent_id": f"bulk_{n}", "department": DEPARTMENTS[n % len(DEPARTMENTS)],
                     "name": f"Агент {n}", "brand": "ohana_market", "status": status,
                     "task": task, "metrics": {"processed": n}, "salary_equivalent": 60000,
                     "fte_coefficient": 1, "last_activity": now, "updated_at": now})
    return rows


def fill_fleet(url: str, agents: int = 1000, *, errors: tuple[int, ...] = ERRORS) -> None:
    """``agents`` agents written at once, with today's numbers."""
    from sqlalchemy import text

    engine = create_office_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(insert(STATUS), fleet_rows(agents, errors=errors))
            conn.execute(text(
                "INSERT INTO office_agent_day (agent_id, day, runs, succeeded, failed, retried, "
                "revoked, runtime_s, max_runtime_s) VALUES (:id, :day, 40, 38, 2, 1, 0, 900, 60)"),
                [{"id": f"bulk_{n}", "day": today("UTC")} for n in range(agents)])
    finally:
        engine.dispose()
