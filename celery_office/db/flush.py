"""A worker's flush, sent as one query: the transaction, its timeouts and the batch.

On PostgreSQL the agents' rows are locked inside ``office_apply_batch`` and released by the
COMMIT of the same query string, so they are held only as long as the database itself takes:
never across a round trip, never while the worker's process waits for a CPU (the cause of the
queue that formed past about 32 workers on one database). The string runs as one implicit
transaction (PostgreSQL's simple query protocol): ``set_config(..., true)`` is its ``SET
LOCAL``, nothing is left on the session for PgBouncer's next client, and an error rolls all of
it back. SQLite runs the same rules in Python in one ``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from ..core.changes import AgentInfo, Batch
from .batch_payload import batch_payload
from .batches import apply_batch
from .workers import FlushId

__all__ = ["write_batch"]

def _script(payload: str, statement_timeout: float) -> str:
    """The flush as one query string, with no parameters (a driver sends several statements
    only then). The batch is a dollar-quoted literal whose tag it does not contain."""
    ms = max(1, int(statement_timeout * 1000))
    tag = "office"
    while f"${tag}$" in payload:
        tag += "_"
    return (
        f"SELECT set_config('statement_timeout', '{ms}', true), "
        f"set_config('lock_timeout', '{ms}', true); "
        f"SELECT office_apply_batch(${tag}${payload}${tag}$::jsonb)"
    )


def write_batch(
    engine: Engine,
    batch: Batch,
    agents: Mapping[str, AgentInfo],
    node_name: str | None,
    *,
    flush: FlushId | None,
    resend: bool,
    statement_timeout: float,
    sent: Callable[[], None],
) -> None:
    """Write ``batch`` as ``flush`` (its writer's number and its own) of ``node_name``.
    ``sent`` is called just before the COMMIT leaves (on PostgreSQL, with the query): a failure
    after it may have landed, and the same batch is then sent again with the same number and
    ``resend``, which the database skips if it landed."""
    if engine.dialect.name != "postgresql":
        with engine.connect() as conn:
            transaction = conn.begin()
            apply_batch(conn, batch, agents, node_name, flush=flush, resend=resend)
            sent()
            transaction.commit()
        return
    payload = batch_payload(batch, agents, node_name, flush=flush, resend=resend)
    script = _script(payload, statement_timeout)
    with engine.connect() as conn:
        raw: Any = conn.connection.dbapi_connection
        dialect = engine.dialect
        # no BEGIN of the driver's: the query string is the transaction. Not SQLAlchemy's
        # isolation_level="AUTOCOMMIT": psycopg2 answers its reset at check-in with a
        # ``SET default_transaction_isolation TO DEFAULT``, a second round trip per flush and
        # session state behind PgBouncer (test_a_flush_is_one_query_on_the_wire)
        raw.autocommit = True
        cursor = raw.cursor()
        try:
            sent()
            cursor.execute(script)
        except dialect.loaded_dbapi.Error as exc:
            # what SQLAlchemy does for the statements it runs itself: a dropped connection
            # is thrown away (so the next try takes a fresh one) and said as such
            dropped = dialect.is_disconnect(exc, raw, cursor)
            if dropped:
                conn.invalidate(exc)
            raise DBAPIError.instance(
                "SELECT office_apply_batch(...)", None, exc, dialect.loaded_dbapi.Error,
                connection_invalidated=dropped, dialect=dialect,
            ) from None
        finally:
            if not conn.invalidated:
                cursor.close()
                raw.autocommit = False
