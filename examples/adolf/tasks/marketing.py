"""Marketing: advertising campaigns on Wildberries and Ozon."""

from random import randint, uniform

from adolf.app import app
from adolf.work import MarketplaceAPIError, RateLimitError, emulate
from celery_office import metrics


def _campaign_metrics(budget_rub: int) -> dict:
    return {
        "campaigns_active": randint(3, 12),
        "bids_changed": randint(0, 40),
        "spend_today_rub": randint(budget_rub // 4, budget_rub),
        "drr_pct": round(uniform(4.0, 15.0), 1),  # ДРР: ad spend as a share of revenue
    }


@app.task(bind=True)
@metrics
def manage_wb_campaigns(self, budget_rub: int = 50_000, *, duration: float | None = None,
                        outcome: str | None = None) -> dict:
    """Agent marketing_wb: adjust bids and budgets of Wildberries campaigns."""
    emulate(self, duration=duration, outcome=outcome,
            error=MarketplaceAPIError("Wildberries Advert API timeout after 30s"))
    return _campaign_metrics(budget_rub)


@app.task(bind=True)
@metrics
def manage_ozon_campaigns(self, budget_rub: int = 30_000, *, duration: float | None = None,
                          outcome: str | None = None) -> dict:
    """Agent marketing_ozon: the same on Ozon; retries once when the API rate-limits it."""
    emulate(self, duration=duration, outcome=outcome,
            error=MarketplaceAPIError("Ozon Performance API: campaign 8841 not found"),
            retry_error=RateLimitError("Ozon Performance API: 429 Too Many Requests"))
    return _campaign_metrics(budget_rub)
