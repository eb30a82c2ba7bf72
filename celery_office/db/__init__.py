"""Everything that speaks SQL, for PostgreSQL and SQLite: the tables, their migrations and the
dashboard contract, engines, the write path (batches, a worker's life, the hand-called
upserts) and the read side. Nothing here knows Celery."""
