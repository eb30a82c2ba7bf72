"""Issues 23 and 27: two `celery office serve --notify` replicas watch one office while a real
worker fails tasks, recovers and stops; a local receiver gets every transition at least once,
each time with the same event id. Killed in the middle of its deliveries, a replica loses
nothing: its leases expire and the other replica delivers what it held."""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from ..web.receiver import Receiver, receiving
from ..web.serve_process import ServeProcess
from .conftest import HERE, Office

pytestmark = pytest.mark.e2e

AGENTS = {"watcher_price_monitor", "watcher_night_agent", "reputation_wb"}
PRICES = "watcher_price_monitor"
LOOK = 0.2  # seconds between two looks of each replica: they race for every period


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiving() as receiver:
        yield receiver


@pytest.fixture
def replicas(office_pg: Office, hook: Receiver) -> Iterator[list[ServeProcess]]:
    processes = [
        ServeProcess("office_app", cwd=HERE, env=office_pg.env,
                     log_path=office_pg.tmp_path / f"serve-{n}.log",
                     args=("--notify", hook.url, "--notify-interval", str(LOOK)))
        for n in (1, 2)
    ]
    try:
        yield [process.wait_ready() for process in processes]
    finally:
        for process in processes:
            process.close()


def _events(office: Office) -> list[tuple[str, str, str]]:
    return [(r.key, r.agent_id, r.state) for r in office.sql(
        "SELECT key, agent_id, state FROM office_notify_event ORDER BY id")]


def _delivered(hook: Receiver, office: Office, count: int, timeout: float = 90.0) -> None:
    """Until ``count`` events are stored, the receiver got each of them, and every delivery
    is done (a post cut by a kill got no answer: it counts once another replica's is)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        keys = {key for key, *_ in _events(office)}
        with hook.lock:
            got = {event_id for event_id, _ in hook.arrivals}
        pending = office.sql("SELECT 1 FROM office_notify_delivery WHERE state <> 'done'")
        if len(keys) >= count and keys <= got and not pending:
            return
        time.sleep(0.1)
    periods = office.sql("SELECT id, agent_id, status, last_run_ok FROM office_agent_timeline")
    notices = office.sql("SELECT * FROM office_agent_notice")
    raise AssertionError(f"not every event arrived: stored {_events(office)}, "
                         f"arrived {[a[0] for a in hook.arrivals]}; periods {periods}; "
                         f"notices {notices}")


def test_each_transition_reaches_the_receiver_from_two_replicas(
    office_pg: Office, replicas: list[ServeProcess], hook: Receiver
) -> None:
    worker = office_pg.worker()
    office_pg.wait_for(lambda rows: AGENTS <= set(rows), what="registration")
    office_pg.send("fail_scan", message="Wildberries API timeout <!channel>")
    _delivered(hook, office_pg, 1)
    error = hook.posts[0]
    assert (error["agent_id"], error["state"]) == ("watcher_price_monitor", "error")
    assert error["text"].startswith("🔴 Мониторинг цен (watcher_price_monitor, watcher): ошибка")
    assert "&lt;!channel&gt;" in error["text"] and "<!channel>" in error["task"]

    office_pg.send("scan_prices")
    _delivered(hook, office_pg, 2)
    assert worker.stop() == 0  # warm shutdown: every agent offline
    _delivered(hook, office_pg, 2 + len(AGENTS))
    stored = _events(office_pg)
    assert [(a, s) for _, a, s in stored[:2]] == [("watcher_price_monitor", "error"),
                                                  ("watcher_price_monitor", "ok")]
    assert sorted((a, s) for _, a, s in stored[2:]) == sorted((a, "offline") for a in AGENTS)
    assert len({event_id for event_id, _ in hook.arrivals}) == len(stored)
    assert all(process.proc.poll() is None for process in replicas)


def test_a_replica_killed_mid_delivery_loses_nothing(
    office_pg: Office, replicas: list[ServeProcess], hook: Receiver
) -> None:
    hook.delay = 2.0  # each post takes two seconds: deliveries are in flight when the kill comes
    office_pg.worker(concurrency=1)  # one task at a time: the states come in order
    office_pg.wait_for(lambda rows: AGENTS <= set(rows), what="registration")
    rounds = 4
    for _ in range(rounds):  # each state reaches the table (a worker's flush coalesces)
        office_pg.send("fail_scan", message="Wildberries API timeout")
        office_pg.wait_for(lambda rows: rows[PRICES].status.value == "error", what="error")
        office_pg.send("scan_prices")
        office_pg.wait_for(lambda rows: rows[PRICES].status.value == "ok"
                           and rows[PRICES].task is None, what="recovery")
    held = f"%:{replicas[0].proc.pid}:%"  # a lease's holder: host:pid:nonce
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not office_pg.sql(
            "SELECT 1 FROM office_notify_delivery WHERE leased_by LIKE :held", held=held):
        time.sleep(0.02)
    leased = office_pg.sql("SELECT event_id, attempts FROM office_notify_delivery "
                           "WHERE leased_by LIKE :held", held=held)
    replicas[0].proc.send_signal(signal.SIGKILL)  # in the middle of a post it holds
    assert leased, "the replica held no lease when it was killed"
    replicas[0].proc.wait(10)

    _delivered(hook, office_pg, 2 * rounds)
    stored = _events(office_pg)
    assert [(a, s) for _, a, s in stored] == [("watcher_price_monitor", s)
                                              for s in ("error", "ok") * rounds]
    with hook.lock:
        arrivals = list(hook.arrivals)
    tries = Counter(event_id for event_id, _ in arrivals)
    assert set(tries) == {key for key, *_ in stored}  # every transition, to this target
    for event_id, body in arrivals:  # a duplicate is the same event: same id, same text
        assert body["event_id"] == event_id
        assert body == next(b for e, b in arrivals if e == event_id)
    duplicates = len(arrivals) - len(tries)
    print(f"\nkilled replica (it held {len(leased)} lease(s)): {len(stored)} events, "
          f"{len(arrivals)} posts, {duplicates} duplicates (same event id)")
    assert replicas[1].proc.poll() is None
