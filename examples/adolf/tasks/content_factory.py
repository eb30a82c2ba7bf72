"""Content Factory: product descriptions and SEO of marketplace cards."""

from random import randint

from adolf.app import app
from adolf.work import LLMError, emulate
from celery_office import metrics


@app.task(bind=True)
@metrics
def generate_descriptions(self, batch_size: int = 20, *, duration: float | None = None,
                          outcome: str | None = None) -> dict:
    """Agent content_descriptions: write product descriptions for a batch of SKUs."""
    emulate(self, duration=duration, outcome=outcome,
            error=LLMError("LLM provider: context length exceeded for SKU 148213077"))
    return {"descriptions_today": randint(80, 220), "queue_size": randint(0, 40),
            "generated": batch_size}


@app.task(bind=True)
@metrics
def optimize_seo(self, sku_count: int = 30, *, duration: float | None = None,
                 outcome: str | None = None) -> dict:
    """Agent content_seo: rework titles and keywords of cards that lose search positions."""
    emulate(self, duration=duration, outcome=outcome,
            error=LLMError("LLM provider: 503 model overloaded, generation aborted"))
    return {"cards_optimized": sku_count, "keywords_added": randint(sku_count, sku_count * 6),
            "avg_seo_score": randint(68, 96)}
