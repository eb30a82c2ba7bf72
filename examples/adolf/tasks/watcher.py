"""Watcher: price monitoring, the night check and competitor scans."""

from random import randint

from adolf.app import app
from adolf.work import MarketplaceAPIError, emulate, marketplace_name
from celery_office import metrics


@app.task(bind=True)
@metrics
def poll_prices(self, marketplace: str = "wb", *, duration: float | None = None,
                outcome: str | None = None) -> dict:
    """Agent watcher_price_monitor: scan competitors' prices on one marketplace."""
    emulate(self, duration=duration, outcome=outcome,
            error=MarketplaceAPIError(f"{marketplace_name(marketplace)} API timeout after 30s"))
    scanned = randint(120, 480)
    return {"products_scanned": scanned, "price_changes": randint(0, scanned // 10)}


@app.task(bind=True)
@metrics
def night_check(self, *, duration: float | None = None, outcome: str | None = None) -> dict:
    """Agent watcher_night_agent: the nightly pass over prices, stocks and card anomalies."""
    emulate(self, duration=duration, outcome=outcome,
            error=MarketplaceAPIError("Ozon Seller API: 503 Service Unavailable"
                                      " during night check"))
    checked = randint(800, 2500)
    return {"products_checked": checked, "stock_alerts": randint(0, 15),
            "price_anomalies": randint(0, 6)}


@app.task(bind=True)
@metrics
def scan_competitors(self, category: str = "Домашний текстиль", *, duration: float | None = None,
                     outcome: str | None = None) -> dict:
    """Agent watcher_competitor_scan: new listings and price drops of tracked competitors."""
    emulate(self, duration=duration, outcome=outcome,
            error=MarketplaceAPIError("Wildberries catalog: page layout changed,"
                                      f" 0 of 48 cards parsed ({category})"))
    return {"competitors_tracked": randint(25, 60), "new_listings": randint(0, 18),
            "price_drops": randint(0, 12)}
