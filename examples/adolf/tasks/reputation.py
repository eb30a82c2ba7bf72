"""Reputation: answering customer reviews on Wildberries, Ozon and Яндекс Маркет."""

from random import randint

from adolf.app import app
from adolf.work import MarketplaceAPIError, emulate
from celery_office import metrics


def _review_metrics(limit: int) -> dict:
    reviews = randint(min(5, limit), max(5, limit))
    return {
        "reviews_today": reviews,
        "answered": randint(reviews * 8 // 10, reviews),
        "avg_response_min": randint(4, 25),
        "negative": randint(0, max(1, reviews // 6)),
    }


@app.task(bind=True)
@metrics
def process_wb_reviews(self, limit: int = 60, *, duration: float | None = None,
                       outcome: str | None = None) -> dict:
    """Agent reputation_wb: read and answer new Wildberries reviews."""
    emulate(self, duration=duration, outcome=outcome,
            error=MarketplaceAPIError("Wildberries Feedbacks API timeout after 30s"))
    return _review_metrics(limit)


@app.task(bind=True)
@metrics
def process_ozon_reviews(self, limit: int = 40, *, duration: float | None = None,
                         outcome: str | None = None) -> dict:
    """Agent reputation_ozon: read and answer new Ozon reviews."""
    emulate(self, duration=duration, outcome=outcome,
            error=MarketplaceAPIError("Ozon Seller API: 401 Unauthorized (API key expired)"))
    return _review_metrics(limit)


@app.task(bind=True)
@metrics
def process_ym_reviews(self, limit: int = 20, *, duration: float | None = None,
                       outcome: str | None = None) -> dict:
    """Agent reputation_ym: read and answer new Яндекс Маркет reviews."""
    emulate(self, duration=duration, outcome=outcome,
            error=MarketplaceAPIError("Яндекс Маркет Partner API: 500 Internal Server Error"))
    return _review_metrics(limit)
