"""What the timeline triggers cost a worker's flush: ``apply_batch`` with 50 agents each changing
status, the triggers enabled and disabled in alternate rounds on one PostgreSQL database.

    python -m bench.timeline_triggers   # needs the PostgreSQL of the tests (127.0.0.1:5432)
"""

import statistics
import time

from sqlalchemy import text

from celery_office import create_office_engine, migrate
from celery_office.core.changes import Batch, Outcome
from celery_office.core.statuses import AgentStatus
from celery_office.db.batches import apply_batch
from tests.conftest import drop_pg_database, make_pg_database
from tests.db.test_store import Agent

url = make_pg_database()
try:
    migrate(url)
    engine = create_office_engine(url)
    agents = {f"a{i:03d}": Agent(f"a{i:03d}") for i in range(50)}
    def flush(status):
        b = Batch()
        for a in agents:
            task = "Ошибка: x" if status is AgentStatus.error else None
            b.outcomes[a] = Outcome(status, task, time.time())
        b.touched.update(agents)
        with engine.begin() as conn:
            apply_batch(conn, b, agents, "w@h")
    flush(AgentStatus.ok)
    times = {"on": [], "off": []}
    for r in range(200):
        mode = "on" if r % 2 == 0 else "off"
        switch = "ENABLE" if mode == "on" else "DISABLE"
        with engine.begin() as conn:
            conn.execute(text(f"ALTER TABLE office_agent_status {switch} TRIGGER USER"))
        for status in (AgentStatus.error, AgentStatus.ok):
            t = time.perf_counter()
            flush(status)
            times[mode].append(time.perf_counter() - t)
    for mode, ts in times.items():
        median_ms = statistics.median(ts) * 1e3
        p90_ms = sorted(ts)[int(len(ts) * .9)] * 1e3
        print(mode, f"median {median_ms:.2f} ms, p90 {p90_ms:.2f} ms "
              f"(50 agents changing status per flush, {len(ts)} flushes)")
    with engine.connect() as conn:
        print("periods:", conn.scalar(text("select count(*) from office_agent_timeline")))
    engine.dispose()
finally:
    drop_pg_database(url)
