"""The writers' ledger (``office_writer``, revision 0007) on both databases: every start of a
writing process takes a number the database hands out and numbers its flushes from 1 under
it; a flush sent again that landed is skipped, one the ledger cannot place is refused aloud."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import Engine, text

from celery_office import create_office_engine
from celery_office.core.changes import Batch, DayCount
from celery_office.db.daily import day_numbers
from celery_office.db.flush import write_batch
from celery_office.db.heartbeat import heartbeat
from celery_office.db.read import agent_statuses
from celery_office.db.workers import (
    FlushId,
    is_writer_refusal,
    new_writer,
    register_worker,
    retire_worker,
)

from ..conftest import PG_DRIVERS
from ..faultproxy import FaultProxy
from .test_store import AGENTS

AGENT = "watcher_price_monitor"
NODE = "w1@host"
DAY = date(2026, 3, 1)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = create_office_engine(db_url)
    yield engine
    engine.dispose()


def _writer(engine: Engine) -> int:
    with engine.begin() as conn:
        return new_writer(conn, node_name=NODE, hostname="host", pid=1)


def _flush(engine: Engine, flush: FlushId, *, resend: bool = False) -> None:
    batch = Batch(counts={(AGENT, DAY): DayCount(runs=1)}, touched={AGENT})
    write_batch(engine, batch, AGENTS, NODE, flush=flush, resend=resend, statement_timeout=5.0,
                sent=lambda: None)


def _runs(engine: Engine) -> int:
    with engine.connect() as conn:
        numbers = day_numbers(conn, DAY)
    return numbers[AGENT].runs if AGENT in numbers else 0


def test_each_start_of_a_node_writes_under_a_number_of_its_own(engine: Engine) -> None:
    """A restarted worker (or a second one under the same node name) takes a new number, so
    its flushes count from 1 whatever its predecessor's reached (or a clock said): once, a
    worker restarted with its clock behind had every flush skipped in silence."""
    first = _writer(engine)
    _flush(engine, FlushId(first, 1))
    with engine.begin() as conn:  # the numbers a clock ten minutes ahead would have left
        conn.execute(text("update office_writer set flush_seq = 600000000000"))
    second = _writer(engine)
    assert second > first
    _flush(engine, FlushId(second, 1))
    _flush(engine, FlushId(second, 2))
    _flush(engine, FlushId(first, 600000000001))  # the first, still live, is counted too
    assert _runs(engine) == 4


def test_a_flush_sent_again_is_skipped_if_it_landed(engine: Engine) -> None:
    """Exactly once: a flush whose COMMIT may have landed is sent again with its number and
    ``resend``; it changes nothing when it had landed, even behind a later flush."""
    writer = _writer(engine)
    _flush(engine, FlushId(writer, 1))
    _flush(engine, FlushId(writer, 2))
    _flush(engine, FlushId(writer, 1), resend=True)
    _flush(engine, FlushId(writer, 2), resend=True)
    _flush(engine, FlushId(writer, 3), resend=True)  # it had not landed: it lands now
    assert _runs(engine) == 3


@pytest.mark.parametrize("case", ["number behind", "row deleted"])
def test_a_flush_the_ledger_cannot_place_is_refused_not_skipped(engine: Engine, case: str) -> None:
    """A fresh flush at or below its writer's last number (the ledger changed by hand, or
    another process writing as it), or of a writer whose row is gone, is refused with an
    error that says so, and nothing of it is written: the writer takes a new number."""
    writer = _writer(engine)
    _flush(engine, FlushId(writer, 1))
    with engine.begin() as conn:
        if case == "number behind":
            conn.execute(text("update office_writer set flush_seq = flush_seq + 600000000000"))
        else:
            conn.execute(text("delete from office_writer"))
    with pytest.raises(Exception) as refused:
        _flush(engine, FlushId(writer, 2))
    assert is_writer_refusal(refused.value), refused.value
    message = str(refused.value)
    assert NODE in message
    assert ("not after its last one" if case == "number behind" else "deleted") in message
    assert _runs(engine) == 1
    _flush(engine, FlushId(_writer(engine), 1))
    assert _runs(engine) == 2


def test_a_worker_stopping_while_a_namesake_runs_leaves_the_agents_to_it(engine: Engine) -> None:
    """Two live workers under one ``-n``: the first to stop warmly must not mark the agents
    offline (the chaos run's twin did, and the office posted a false offline); the last one
    does."""
    agents = [AGENTS[AGENT]]
    first, second = _writer(engine), _writer(engine)
    with engine.begin() as conn:
        register_worker(conn, node_name=NODE, hostname="host", pid=1, agents=agents)
    with engine.begin() as conn:  # the first beats after the second started: both live
        heartbeat(conn, node_name=NODE, agents=agents, offline_after=300.0, writer=first)
    with engine.begin() as conn:
        assert retire_worker(conn, node_name=NODE, agent_ids=[AGENT], offline_after=300.0,
                             writer=second) == []
    with engine.connect() as conn:
        assert {r.agent_id: r.status.value for r in agent_statuses(conn)}[AGENT] == "ok"
    with engine.begin() as conn:
        assert retire_worker(conn, node_name=NODE, agent_ids=[AGENT], offline_after=300.0,
                             writer=first) == [AGENT]


@pytest.mark.parametrize("pg_driver", PG_DRIVERS, ids=["psycopg2", "psycopg3"])
def test_a_flush_is_one_query_on_the_wire(pg_url: str) -> None:
    """The batch, its timeouts and its COMMIT travel as one query string, and nothing follows
    it on the session: SQLAlchemy's ``isolation_level="AUTOCOMMIT"`` option would add, with
    psycopg2, a ``SET default_transaction_isolation TO DEFAULT`` when the connection goes back
    to the pool: a second round trip per flush, and session state behind PgBouncer."""
    proxy = FaultProxy()
    engine = create_office_engine(proxy.url(pg_url), pool_size=1, max_overflow=0)
    try:
        writer = _writer(engine)
        _flush(engine, FlushId(writer, 1))
        before = proxy.queries
        for seq in range(2, 5):
            _flush(engine, FlushId(writer, seq))
        assert proxy.queries - before == 3
        assert _runs(engine) == 4
    finally:
        engine.dispose()
        proxy.close()
