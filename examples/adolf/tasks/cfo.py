"""CFO: financial reporting."""

from random import randint, uniform

from adolf.app import app
from adolf.work import DataSourceError, emulate
from celery_office import metrics


@app.task(bind=True)
@metrics
def build_pnl_report(self, period: str = "month", *, duration: float | None = None,
                     outcome: str | None = None) -> dict:
    """Agent cfo_report: the P&L by marketplace and SKU for a period."""
    emulate(self, duration=duration, outcome=outcome,
            error=DataSourceError(f"1C: sales export for the {period} not received (timeout 60s)"))
    return {"revenue_rub": randint(2_000_000, 9_000_000),
            "margin_pct": round(uniform(12.0, 34.0), 1),
            "skus_in_report": randint(150, 600), "unprofitable_skus": randint(0, 25)}
