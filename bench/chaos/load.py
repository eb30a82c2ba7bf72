"""The chaos harness's load: a seeded stream of tasks of every agent, and revokes.

Sent from the harness's own Celery client (not the workers' app module), by task name, with
ids ``chaos-<seed>-<seq>`` so a record, a log line and a sent task are easy to match. The mix:
short successes and failures (most), retries that succeed or fail on their second attempt,
long runs (2 to 5 s, the pool kills' and revokes' targets), the solo worker's own agent, and
revokes: a countdown task revoked before it starts, and a long run terminated while it runs.
A send that fails (the broker restarting) is counted and dropped: the oracle only ever uses
what the tasks themselves recorded.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from celery import Celery

__all__ = ["Load", "Sent"]

RETRY_POLICY = {"max_retries": 2, "interval_start": 0.2, "interval_step": 0.3, "interval_max": 0.5}


@dataclass
class Sent:
    seq: int
    name: str
    task_id: str
    at: float
    phase: str
    fail: bool
    duration: float


class Load:
    """Sends the seeded mix until stopped.

    Parameters:
        broker_url: the private Redis.
        seed: names the task ids; the stream itself comes from ``rng``.
        rng: the load's own ``random.Random`` (seeded from the run's seed).
        rate: tasks per second on average.
        solo: the solo worker's short name (its queue takes ``solo_index``).
        prefork: the prefork workers' short names (revokes with terminate target them).
        running: a callable returning the start records of runs in progress.
        solo_served: a callable telling whether the solo agent's tasks should still be sent.
    """

    def __init__(self, broker_url: str, *, seed: int, rng: random.Random, rate: float,
                 solo: str, prefork: list[str], running: Callable[[], list[dict[str, Any]]],
                 solo_served: Callable[[], bool]) -> None:
        self.broker_url = broker_url
        self.client = Celery("chaos_client", broker=broker_url)
        self.client.conf.update(task_ignore_result=True, broker_connection_retry_on_startup=True,
                                broker_connection_timeout=2)
        self.seed = seed
        self.rng = rng
        self.rate = rate
        self.solo = solo
        self.prefork = prefork
        self.running = running
        self.solo_served = solo_served
        self.sent: list[Sent] = []
        self.send_failed = 0
        self.revoked: list[tuple[str, float, bool]] = []  # task id, when, terminate
        self.phase = "baseline"
        self._seq = 0
        self._lock = threading.Lock()

    def next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def send(self, name: str, *, queue: str = "chaos", duration: float = 0.0, fail: bool = False,
             countdown: float | None = None, **extra: Any) -> Sent | None:
        seq = self.next_seq()
        task_id = f"chaos-{self.seed}-{seq}"
        try:
            self.client.send_task(
                f"chaos_app.{name}", task_id=task_id, queue=queue, countdown=countdown,
                kwargs={"seq": seq, "duration": duration, "fail": fail, **extra},
                retry=True, retry_policy=RETRY_POLICY,
            )
        except Exception:
            self.send_failed += 1
            return None
        sent = Sent(seq, name, task_id, time.time(), self.phase, fail, duration)
        self.sent.append(sent)
        return sent

    def revoke(self, task_id: str, *, terminate: bool) -> None:
        try:
            self.client.control.revoke(task_id, terminate=terminate, signal="SIGTERM")
            self.revoked.append((task_id, time.time(), terminate))
        except Exception:
            self.send_failed += 1

    # ------------------------------------------------------------------ the mix

    def one(self) -> None:
        rng = self.rng
        pick = rng.random()
        if pick < 0.30:
            self.send("scan", duration=rng.choice([0.0, 0.02, 0.1, 0.3]), fail=rng.random() < 0.15)
        elif pick < 0.42:
            self.send("quick_scan", duration=rng.choice([0.0, 0.01]), fail=rng.random() < 0.10)
        elif pick < 0.62:
            self.send("reviews", duration=rng.choice([0.0, 0.05, 0.2]), fail=rng.random() < 0.3)
        elif pick < 0.72:
            self.send("flaky", duration=rng.choice([0.0, 0.05]), fail=rng.random() < 0.3,
                      retry_in=round(rng.uniform(0.5, 2.0), 2))
        elif pick < 0.85:
            self.send("long_report", duration=round(rng.uniform(2.0, 5.0), 2),
                      fail=rng.random() < 0.15)
        elif pick < 0.95:
            if self.solo_served():
                self.send("solo_index", queue=f"chaos.{self.solo}",
                          duration=rng.choice([0.0, 0.1, 0.5]), fail=rng.random() < 0.2)
        elif pick < 0.975:
            sent = self.send("long_report", duration=3.0, countdown=2.0)
            if sent is not None:
                time.sleep(0.3)
                self.revoke(sent.task_id, terminate=False)
        else:
            self._terminate_one()

    def _terminate_one(self) -> None:
        """Revoke with terminate a long run in progress on a prefork worker (never the solo
        one: it cannot terminate), well within its run so the revoke meets it running."""
        now = time.time()
        candidates = [r for r in self.running()
                      if r["name"] == "chaos_app.long_report"
                      and (r.get("node") or "").split("@")[0] in self.prefork
                      and now - r["t"] >= 0.3 and r["t"] + r.get("duration", 0.0) - now >= 1.0]
        if candidates:
            self.revoke(self.rng.choice(candidates)["id"], terminate=True)

    def run(self, stop: threading.Event) -> None:
        """Send until ``stop`` is set, about ``rate`` tasks a second."""
        while not stop.is_set():
            self.one()
            stop.wait(self.rng.expovariate(self.rate))

    def quiesce(self, records: Path, running: Callable[[], list[dict[str, Any]]], *,
                limit: float = 90.0) -> float:
        """Once the load stops: wait until no run is in progress, the queues are empty, and no
        record came for 4 s (a retry's countdown is at most 2 s); returns how long it took."""
        import redis

        client = redis.Redis.from_url(self.broker_url, socket_timeout=2)
        queues = ["chaos", f"chaos.{self.solo}", *(f"chaos.{name}" for name in self.prefork)]
        began = time.monotonic()
        last_size, last_change = -1, time.monotonic()
        while time.monotonic() - began < limit:
            size = sum(p.stat().st_size for p in records.glob("*.jsonl"))
            if size != last_size:
                last_size, last_change = size, time.monotonic()
            try:
                queued = sum(client.llen(q) for q in queues)
            except Exception:
                queued = 1
            if not running() and not queued and time.monotonic() - last_change > 4.0:
                break
            time.sleep(0.25)
        client.close()
        return time.monotonic() - began

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:
            pass
