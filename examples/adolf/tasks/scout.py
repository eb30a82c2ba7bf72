"""Scout: market research of product niches."""

from random import randint, uniform

from adolf.app import app
from adolf.work import DataSourceError, emulate
from celery_office import metrics


@app.task(bind=True)
@metrics
def analyze_niche(self, niche: str = "Постельное бельё", *, duration: float | None = None,
                  outcome: str | None = None) -> dict:
    """Agent scout_niche: size, competition and prices of a niche."""
    emulate(self, duration=duration, outcome=outcome,
            error=DataSourceError(f"MPStats API: daily request quota exhausted (niche {niche!r})"))
    return {"products_analyzed": randint(300, 1500), "sellers": randint(20, 200),
            "avg_price_rub": randint(900, 4500), "revenue_mln_rub": round(uniform(2.0, 60.0), 1),
            "niche_score": randint(1, 10)}
