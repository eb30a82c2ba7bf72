"""Keep a host application's Alembic autogenerate away from celery-office's objects.

Why: celery-office migrates its own tables with its own history (``office_alembic_version``).
A host app's ``alembic revision --autogenerate`` in the same database would otherwise see them
as unknown and propose to drop them, or, with ``celery_office.Base.metadata`` in its
``target_metadata``, propose to drop ``office_alembic_version``. Pass both hooks to the host's
``context.configure`` (``env.py``)::

    import celery_office
    context.configure(..., include_name=celery_office.include_name,
                      include_object=celery_office.include_object)

``include_name`` skips reflecting the office tables; ``include_object`` also leaves out the
ones of ``celery_office.Base.metadata`` if the host lists it, so nothing is created either.
A host that has hooks of its own calls these from them.
"""

from __future__ import annotations

from typing import Any

from .revisions import VERSION_TABLE
from .tables import DAY_VIEW, EFFECTIVE_STATUS_VIEW, METADATA

__all__ = ["OFFICE_TABLES", "include_name", "include_object"]

OFFICE_TABLES = frozenset(METADATA.tables) | {VERSION_TABLE, EFFECTIVE_STATUS_VIEW, DAY_VIEW}


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic ``include_name`` hook: False for celery-office's tables, its view and its
    version table."""
    return not (type_ == "table" and name in OFFICE_TABLES)


def include_object(
    object_: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic ``include_object`` hook: False for celery-office's tables and for their columns,
    indexes and constraints, whether reflected from the database or listed in metadata."""
    if type_ == "table":
        return name not in OFFICE_TABLES
    table = getattr(object_, "table", None)
    return getattr(table, "name", None) not in OFFICE_TABLES
