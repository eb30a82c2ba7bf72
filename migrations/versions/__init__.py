"""Alembic revisions of celery-office (packaged so they ship in the wheel)."""
