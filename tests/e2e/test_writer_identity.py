"""Who writes, and what keeps an agent alive (issue 30): real prefork workers on PostgreSQL.

A worker's flushes are accepted whatever numbers the database holds from before its restart
(0.2.0 numbered them from the worker's clock and skipped, in silence, every number at or below
the stored one: a worker restarted with its clock behind wrote nothing for its whole life); two
live workers sharing one node name are both counted; and a heartbeat does not keep alive an
agent whose statuses cannot be written.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, text

from celery_office import AgentStatus

from .test_worker import ALL_AGENTS, _is

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

AGENT = "watcher_price_monitor"
TIGHT = {
    "OFFICE_CONNECT_TIMEOUT": "2",
    "OFFICE_STATEMENT_TIMEOUT": "2",
    "OFFICE_SHUTDOWN_TIMEOUT": "2",
    "OFFICE_HEARTBEAT_INTERVAL": "1",
}
AHEAD = 600_000_000_000  # what ten minutes of clock ahead put on 0.2.0's flush numbers


def _office_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if "celery-office" in line]


def _counted(office, agent: str = AGENT) -> tuple[int, int, int]:
    """The agent's runs, successes and failures, summed over its days."""
    row = office.sql(
        "select coalesce(sum(runs), 0) as runs, coalesce(sum(succeeded), 0) as ok, "
        "coalesce(sum(failed), 0) as failed from office_agent_day where agent_id = :a", a=agent
    )[0]
    return int(row.runs), int(row.ok), int(row.failed)


def _wait_counted(office, expected: tuple[int, int, int], *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while (counted := _counted(office)) != expected:
        if time.monotonic() > deadline:
            logs = "\n".join(w.log for w in office.workers)
            raise AssertionError(f"counted {counted}, expected {expected}\n--- logs:\n{logs}")
        time.sleep(0.1)


def _push_numbers_ahead(office) -> None:
    """What the database holds of this node's flush numbers, pushed ten minutes of clock
    ahead (0.2.0: office_worker.flush_seq; since revision 0007: office_writer.flush_seq)."""
    office.sql_write(f"update office_worker set flush_seq = flush_seq + {AHEAD} "
                     "where flush_seq is not null")
    if office.sql("select to_regclass('office_writer') as reg")[0].reg is not None:
        office.sql_write(f"update office_writer set flush_seq = flush_seq + {AHEAD}")


def test_a_worker_restarted_behind_its_numbers_is_counted_and_a_refusal_is_said(office_pg):
    """Stopped, its numbers pushed ahead (as one run under a clock ten minutes ahead leaves
    them), restarted: its failures and successes are counted and the row shows its last
    outcome. Once, 50 runs were journaled, 0 counted, with no line in the log. Then the live
    writer's number is pushed ahead under it: the refusal is said in one line naming the
    node, and the worker writes on under a new writer number without a restart."""
    worker = office_pg.worker(env=TIGHT)
    office_pg.wait_for(lambda r: set(r) == ALL_AGENTS, what="registration")
    office_pg.send("scan_prices").get(timeout=30)
    _wait_counted(office_pg, (1, 1, 0))
    assert worker.stop() == 0
    _push_numbers_ahead(office_pg)

    worker = office_pg.worker(env=TIGHT)
    results = [office_pg.send("fail_scan", message=f"failure {i}") for i in range(5)]
    results += [office_pg.send("scan_prices") for _ in range(4)]
    for result in results:
        result.get(timeout=30, propagate=False)
    office_pg.send("fail_scan", message="the last one").get(timeout=30, propagate=False)
    _wait_counted(office_pg, (11, 5, 6))
    office_pg.wait_for(_is(AGENT, AgentStatus.error, "Ошибка: ScanError: the last one"),
                       what="the last outcome shown")

    node = office_pg.sql("select node_name from office_worker")[0].node_name
    _push_numbers_ahead(office_pg)  # under the running worker: its next flush is refused
    office_pg.send("scan_prices").get(timeout=30)
    _wait_counted(office_pg, (12, 6, 6))
    office_pg.wait_for(_is(AGENT, AgentStatus.ok, None), what="the success shown")
    refusals = [line for line in _office_lines(worker.log) if "refused a status write" in line]
    assert len(refusals) == 1 and node in refusals[0], refusals
    assert "not after its last one" in refusals[0], refusals


def test_two_live_workers_with_one_node_name_are_both_counted(office_pg):
    """Two live workers started with the same `-n`: every run of both is counted (once, 60
    runs gave 32, with no line from us or from Celery), and each says once that another
    live worker runs under its name, and what to do."""
    twins = [office_pg.worker(env=TIGHT, name="twin") for _ in range(2)]
    office_pg.wait_for(lambda r: set(r) == ALL_AGENTS, what="registration")
    results = []
    for i in range(30):
        results.append(office_pg.send("scan_prices", duration=0.05))
        results.append(office_pg.send("fail_scan", message=f"failure {i}", duration=0.05))
    for result in results:
        result.get(timeout=60, propagate=False)
    office_pg.send("fail_scan", message="the last one").get(timeout=30, propagate=False)
    assert all("succeeded in" in twin.log for twin in twins), "both workers ran tasks"
    _wait_counted(office_pg, (61, 30, 31))
    office_pg.wait_for(_is(AGENT, AgentStatus.error, "Ошибка: ScanError: the last one"),
                       what="the last outcome shown")
    deadline = time.monotonic() + 20
    said = []
    while len(said) < 2 and time.monotonic() < deadline:
        said = [twin for twin in twins if "another live worker runs under" in twin.log]
        time.sleep(0.1)
    for twin in twins:
        lines = [line for line in _office_lines(twin.log)
                 if "another live worker runs under" in line]
        assert len(lines) == 1 and "twin@" in lines[0] and "-n" in lines[0], lines


def test_a_heartbeat_does_not_keep_alive_an_agent_whose_status_cannot_be_written(office_pg):
    """A DBA's lock on office_agent_day while an agent fails: its failure cannot be written,
    and its last_activity does not move either (once, heartbeats kept it a few seconds old for
    the lock's 75 s while the error was nowhere); the other agents' does. Once the lock goes,
    the error shows; the log says the writes failed once, and "again" only after the status
    write went through (once, it alternated at every heartbeat). The day's numbers are the one
    table a flush writes that a heartbeat does not read: a lock on the others stops the
    heartbeat too, and then nothing keeps the agents alive anyway."""
    worker = office_pg.worker(env=TIGHT)
    office_pg.wait_for(lambda r: set(r) == ALL_AGENTS, what="registration")
    office_pg.send("night_check").get(timeout=30)
    office_pg.wait_for(lambda r: _counted(office_pg, "watcher_night_agent")[0] == 1,
                       what="a first run written")
    first_beat = _now(office_pg, "1.5 s")
    office_pg.wait_for(  # the first heartbeat (with its hourly cleanup of old days) is done
        lambda r: office_pg.sql("select last_seen from office_worker")[0].last_seen > first_beat,
        what="a heartbeat",
    )
    locker = create_engine(office_pg.db_url).connect()
    try:
        transaction = locker.begin()
        locker.execute(text("lock table office_agent_day in access exclusive mode"))
        office_pg.send("fail_scan", message="behind a lock").get(timeout=30, propagate=False)
        ended = _now(office_pg, "1 s")  # its changes reached the main process by then
        beats = _now(office_pg, "3.5 s")
        deadline = time.monotonic() + 30
        while _last_activity(office_pg, "watcher_night_agent") < beats:  # heartbeats go on
            assert time.monotonic() < deadline, worker.log
            time.sleep(0.1)
        status = office_pg.sql("select status::text as status from office_agent_status "
                               "where agent_id = :a", a=AGENT)[0].status
        assert status == "ok", "the failure cannot have been written behind the lock"
        held = _last_activity(office_pg, AGENT)
        assert held < ended, "kept alive by the heartbeats while its failure waited"
        assert not any(" again" in line for line in _office_lines(worker.log)), worker.log
        transaction.commit()
    finally:
        locker.close()
    office_pg.wait_for(_is(AGENT, AgentStatus.error, "Ошибка: ScanError: behind a lock"),
                       what="the error once the lock is gone")
    assert _last_activity(office_pg, AGENT) > held
    worker.wait_log("again", timeout=20)
    lines = _office_lines(worker.log)
    assert len([line for line in lines if "failed on" in line]) == 1, lines
    assert len([line for line in lines if " again" in line]) == 1, lines


def test_another_worker_does_not_keep_alive_an_agent_whose_status_waits(office_pg):
    """Two workers serve the agent; the solo one runs its failure behind a lock on
    office_agent_day, the other runs nothing. Once the failure's write gave up, the agent's
    last_activity stays put while both go on beating (once, the idle worker's heartbeats kept
    it a second old for the whole lock: 17 mismatches in a 2-minute chaos run)."""
    solo = office_pg.worker(pool="solo", concurrency=1, env=TIGHT)
    office_pg.worker(name="idle", env=TIGHT, extra=["-Q", f"{office_pg.queue}-idle"])
    office_pg.wait_for(lambda r: set(r) == ALL_AGENTS, what="registration")
    office_pg.send("night_check").get(timeout=30)  # the solo worker's first flush
    office_pg.wait_for(lambda r: _counted(office_pg, "watcher_night_agent")[0] == 1,
                       what="a first run written")
    first_beat = _now(office_pg, "1.5 s")
    office_pg.wait_for(  # both workers' first heartbeat (with its cleanup of old days) done
        lambda r: [w.last_seen > first_beat for w in office_pg.sql(
            "select last_seen from office_worker")] == [True, True], what="a heartbeat of each",
    )
    locker = create_engine(office_pg.db_url).connect()
    try:
        transaction = locker.begin()
        locker.execute(text("lock table office_agent_day in access exclusive mode"))
        office_pg.send("fail_scan", message="behind a lock").get(timeout=30, propagate=False)
        solo.wait_log("status write failed", timeout=20)  # and the solo worker beats at once
        settled = _now(office_pg, "1.5 s")
        deadline = time.monotonic() + 30
        while _last_activity(office_pg, "watcher_night_agent") < settled:
            assert time.monotonic() < deadline, solo.log
            time.sleep(0.1)
        held = _last_activity(office_pg, AGENT)
        beats = _now(office_pg, "3 s")  # three heartbeats of each worker
        while _last_activity(office_pg, "watcher_night_agent") < beats:
            assert time.monotonic() < deadline, solo.log
            time.sleep(0.1)
        assert _last_activity(office_pg, AGENT) == held, "kept alive while its failure waited"
        transaction.commit()
    finally:
        locker.close()
    office_pg.wait_for(_is(AGENT, AgentStatus.error, "Ошибка: ScanError: behind a lock"),
                       what="the error once the lock is gone")
    assert _last_activity(office_pg, AGENT) > held


def _now(office, plus: str):
    """The database clock, ``plus`` an interval."""
    return office.sql(f"select now() + interval '{plus}' as at")[0].at


def _last_activity(office, agent: str):
    return office.sql("select last_activity from office_agent_status where agent_id = :a",
                      a=agent)[0].last_activity
