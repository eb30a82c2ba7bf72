"""Lex: legal monitoring of marketplace rules and legislation."""

from random import randint

from adolf.app import app
from adolf.work import LegalSourceError, emulate
from celery_office import metrics


@app.task(bind=True)
@metrics
def check_regulations(self, scope: str = "marketplaces", *, duration: float | None = None,
                      outcome: str | None = None) -> dict:
    """Agent lex_monitor: new laws and offer changes that concern the sellers."""
    emulate(self, duration=duration, outcome=outcome,
            error=LegalSourceError(f"ConsultantPlus API: SSL certificate verify failed ({scope})"))
    return {"documents_checked": randint(20, 140), "changes_found": randint(0, 4),
            "requires_attention": randint(0, 1)}
