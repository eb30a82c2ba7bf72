"""What a failed database call means: a refusal of what was sent, or a fault that may pass.

One home for the rule, because it decides what the writer may drop: only a change the database
refuses for what it holds is ever dropped (and then agent by agent, see the writer); anything
else (down, read-only after a failover, permissions, missing tables) waits in memory.
"""

from __future__ import annotations

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError

from ..render import safe_str

__all__ = ["is_rejection", "hint", "sqlstate"]

# SQLSTATE classes that refuse the content: 22 data exception, 23 integrity constraint
# violation; and P0, raised by the database's own code (PL/pgSQL `RAISE EXCEPTION` in a
# trigger a DBA wrote: P0001 raise_exception, P0004 assert_failure...).
REFUSING_CLASSES = ("22", "23", "P0")


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a driver error (psycopg2's ``pgcode``, psycopg 3's ``sqlstate``)."""
    orig = getattr(exc, "orig", None)
    for name in ("sqlstate", "pgcode"):
        code = getattr(orig, name, None)
        if isinstance(code, str) and code:
            return code
    return None


def is_rejection(exc: BaseException | None) -> bool:
    """Did the database refuse what was sent, rather than fail to take it?

    A value (class 22, ``DataError``), a constraint (class 23, ``IntegrityError``), an error
    raised by a trigger (class P0), or a value the driver cannot send: retrying never cures
    those. Everything else may pass, and nothing is dropped for it.
    """
    if exc is None or hint(exc):
        return False
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return False
        code = sqlstate(exc)
        if code is not None:
            return code[:2] in REFUSING_CLASSES
        return isinstance(exc, (DataError, IntegrityError))
    return isinstance(exc, (StatementError, ValueError, TypeError))


def hint(exc: BaseException) -> str:
    """What to do about a failure that waiting alone will not cure."""
    text = safe_str(exc)
    if "office_" in text and ("does not exist" in text or "no such table" in text):
        return (
            "; the celery-office tables are missing: run `celery -A <your app> office migrate` "
            "(or leave office_auto_migrate on)"
        )
    return ""
