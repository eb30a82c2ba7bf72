"""The ADOLF office of ``agents.yaml`` in a database, in every state the page shows: for the
page's tests and the README's screenshot (``python -m tests.web.screenshot``)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, text

from celery_office import OfficeReporter, create_office_engine
from celery_office.registry import load_registry

ROOT = Path(__file__).resolve().parents[2]

# agent id -> (call on its reporter, arguments); agents not named stay idle
STATES = {
    "watcher_price_monitor": ("report_working", ("Сканирование цен конкурентов",
                                                 {"products_scanned": 294, "price_changes": 4})),
    "watcher_competitor_scan": ("report_error", (
        "MarketplaceAPIError: Wildberries catalog: page layout changed, selector "
        "'.product-card__price' matched nothing",)),
    "reputation_wb": ("report_working", ("Обработка отзывов Wildberries: 40 из 120",
                                         {"reviews_today": 47, "avg_response_min": 12})),
    "marketing_ozon": ("report_warning", (
        "Повтор: Управление кампаниями Ozon — RateLimitError: 429 Too Many Requests "
        "(следующая попытка через 30 с)",)),
    "cfo_report": ("report_warning", (
        "Пропущен запуск: Формирование отчёта P&L — ожидался 2026-11-25 03:00:00 "
        "(Europe/Moscow)",)),
    "scout_niche": ("report_warning", (
        "Выполняется дольше лимита: Поиск ниш — идёт 2 ч 05 мин, лимит 1 ч",)),
    "content_descriptions": ("report_idle", ({"descriptions_today": 156, "queue_size": 23},)),
}
OFFLINE = "lex_monitor"  # silent for ten minutes: offline, as the dashboard decides
DAY = {  # agent id -> runs, failed, runtime in seconds (today)
    "watcher_price_monitor": (48, 0, 1730.0),
    "watcher_competitor_scan": (12, 3, 905.5),
    "reputation_wb": (31, 0, 2210.0),
    "content_descriptions": (20, 1, 3900.0),
    "marketing_ozon": (9, 0, 410.0),
    "cfo_report": (0, 0, 0.0),
    "knowledge_rag": (5, 0, 62.0),
}


def fill_adolf_office(url: str) -> None:
    """Every ADOLF agent registered, in the states above, with today's numbers."""
    registry = load_registry(ROOT / "agents.yaml")
    engine = create_office_engine(url)
    try:
        for agent in registry.agents.values():
            reporter = OfficeReporter(
                agent.agent_id, agent.department, agent.name, brand=agent.brand,
                salary_equivalent=agent.salary_equivalent or 60000,
                fte_coefficient=agent.fte_coefficient or 1, engine=engine)
            call, args = STATES.get(agent.agent_id, ("report_idle", ()))
            getattr(reporter, call)(*args)
        _silence(engine, OFFLINE, minutes=10)
        _today(engine)
    finally:
        engine.dispose()


def _silence(engine: Engine, agent_id: str, *, minutes: int) -> None:
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            ago = f"now() - interval '{minutes} minutes'"
        else:
            ago = f"strftime('%Y-%m-%d %H:%M:%f000', 'now', '-{minutes} minutes')"
        conn.execute(text(f"UPDATE office_agent_status SET last_activity = {ago} "
                          "WHERE agent_id = :id"), {"id": agent_id})


def _today(engine: Engine) -> None:
    from celery_office.core.days import today

    with engine.begin() as conn:
        for agent_id, (runs, failed, runtime) in DAY.items():
            conn.execute(text(
                "INSERT INTO office_agent_day (agent_id, day, runs, succeeded, failed, retried, "
                "revoked, runtime_s, max_runtime_s) VALUES (:id, :day, :runs, :ok, :failed, 0, "
                "0, :runtime, :runtime)"),
                {"id": agent_id, "day": today("UTC"), "runs": runs, "ok": runs - failed,
                 "failed": failed, "runtime": runtime})
