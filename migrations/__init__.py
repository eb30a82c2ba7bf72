"""Alembic script directory of celery-office, packaged as ``celery_office.migrations``."""
