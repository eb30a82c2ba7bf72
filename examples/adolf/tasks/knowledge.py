"""Knowledge: the company knowledge base (RAG): indexing documents and answering questions."""

from random import randint, uniform

from adolf.app import app
from adolf.work import IndexingError, emulate
from celery_office import metrics


@app.task(bind=True)
@metrics
def index_documents(self, source: str = "confluence", *, duration: float | None = None,
                    outcome: str | None = None) -> dict:
    """Agent knowledge_rag: index new and changed documents of a source."""
    emulate(self, duration=duration, outcome=outcome,
            error=IndexingError(f"Embedding service: 502 Bad Gateway while indexing {source}"))
    documents = randint(5, 120)
    return {"documents_indexed": documents, "chunks_added": documents * randint(4, 12),
            "index_size": randint(12_000, 15_000)}


@app.task(bind=True)
@metrics
def answer_question(self, question: str = "Какой срок возврата товара на Ozon?", *,
                    duration: float | None = None, outcome: str | None = None) -> dict:
    """Agent knowledge_rag: answer an employee's question from the knowledge base."""
    emulate(self, duration=duration, outcome=outcome,
            error=IndexingError("Vector search: index is being rebuilt, try later"))
    return {"questions_today": randint(10, 80), "sources_used": randint(1, 6),
            "avg_answer_sec": round(uniform(1.5, 9.0), 1)}
