"""The faults the chaos harness injects, and the seeded schedule it injects them on.

Kinds (each a method of :class:`Faults`):

    pg_restart      the private PostgreSQL stopped (fast shutdown), down for up to 3 s, started
    pg_terminate    every celery-office connection killed (``pg_terminate_backend``)
    db_hang         the fault proxy the workers connect through stops answering, then forwards
    db_read_only    a failover: ``default_transaction_read_only = on`` for the database and its
                    celery-office connections killed; later off, and killed again (clients of
                    a failover end on the new primary)
    trigger_refuse  a trigger refuses every new error text of agent ``chaos_reviews``
                    (SQLSTATE P0001), then is dropped
    pool_kill       SIGKILL of a prefork pool process running a task (WorkerLostError)
    worker_kill     SIGKILL of a whole worker and its pool, started again under the same name
    warm_restart    SIGTERM (warm shutdown), then started again
    main_pause      SIGSTOP of a prefork worker's main process past office_offline_after while
                    its pool runs on (a frozen VM, a debugger): the other worker takes it for
                    dead and ends its runs; SIGCONT, and it must write them back
    error_restart   a failing task of the solo worker's own agent, then that worker warmly
                    restarted: an error must survive a restart (a restart is not a success)
    broker_restart  the private Redis restarted, losing its queues (no persistence)

``--max-tasks-per-child`` recycling is not scheduled: the prefork workers run with it all along.

Every action writes down when it began and ended (:class:`Injected`): the oracle needs them
(which runs a kill interrupted, when the database could not be written), the verdict counts
them. Actions on one resource (a worker, the database, the broker) never overlap; different
resources' actions do, as in production.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["KINDS", "DB_KINDS", "Planned", "Injected", "plan", "Faults", "TRIGGER_AGENT"]

KINDS = ("pg_restart", "pg_terminate", "db_hang", "db_read_only", "trigger_refuse",
         "pool_kill", "worker_kill", "warm_restart", "main_pause", "error_restart",
         "broker_restart")
DB_KINDS = ("pg_restart", "pg_terminate", "db_hang", "db_read_only")  # writes may fail
DURATIONS = {"db_hang": (2.0, 6.0), "db_read_only": (2.0, 6.0), "trigger_refuse": (3.0, 8.0),
             "pg_restart": (0.0, 3.0)}  # pg_restart: seconds down between stop and start
CLOSING = ("db_hang", "db_read_only", "pg_restart")  # one of them ends the phase: the last
# runs end while the database cannot be written, and must be in the table once it can
TRIGGER_AGENT = "chaos_reviews"
MEAN_GAP = 6.0  # seconds between two faults on average, past the first one of each kind


@dataclass(frozen=True)
class Planned:
    at: float  # seconds after the chaos phase begins
    kind: str
    duration: float = 0.0  # for the kinds that last (hang, read-only, trigger)
    target: str | None = None  # a worker's short name
    pause: float = 0.0  # worker_kill: seconds dead; main_pause: seconds stopped


@dataclass
class Injected:
    kind: str
    begin: float  # wall clock, as the task records use
    end: float | None = None
    target: str | None = None
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)


def plan(rng: random.Random, length: float, workers: dict[str, str], *,
         offline_after: float = 10.0) -> list[Planned]:
    """A seeded schedule of ``length`` seconds: every kind once, in a shuffled order spread
    over the phase, then more at random (about one every ``MEAN_GAP`` seconds), and a database
    fault that lasts until a second after the load stops.

    ``workers`` maps short names to pools (``prefork`` or ``solo``); ``offline_after`` is the
    workers' setting, which a main process's pause outlasts by 2 to 6 s."""
    prefork = sorted(n for n, p in workers.items() if p == "prefork")
    solo = next((n for n, p in sorted(workers.items()) if p == "solo"), prefork[0])
    names = sorted(workers)

    def one(at: float, kind: str) -> Planned:
        lo, hi = DURATIONS.get(kind, (0.0, 0.0))
        duration = round(rng.uniform(lo, hi), 2) if hi else 0.0
        target = None
        if kind in ("pool_kill", "main_pause"):
            target = rng.choice(prefork)
        elif kind == "error_restart":
            target = solo
        elif kind in ("worker_kill", "warm_restart"):
            target = rng.choice(names)
        pause = round(rng.uniform(0.5, 3.0), 2) if kind == "worker_kill" else 0.0
        if kind == "main_pause":
            pause = round(offline_after + rng.uniform(2.0, 6.0), 2)
        return Planned(round(at, 2), kind, duration, target, pause)

    kinds = list(KINDS)
    rng.shuffle(kinds)
    usable = max(length - 8.0, 1.0)  # the last faults end before the phase does
    slot = usable / len(kinds)
    schedule = [one(i * slot + rng.uniform(0.1, 0.8) * slot, kind) for i, kind in enumerate(kinds)]
    extra = int(max(0.0, usable - len(kinds) * MEAN_GAP) / MEAN_GAP)
    schedule += [one(rng.uniform(0.0, usable), rng.choice(KINDS)) for _ in range(extra)]
    closing_for = round(rng.uniform(3.0, 6.0), 2)
    closing = Planned(round(length + 1.0 - closing_for, 2), rng.choice(CLOSING), closing_for)
    return sorted(schedule + [closing], key=lambda p: p.at)


class Faults:
    """Carries out a schedule against the harness's servers, proxy and workers.

    Parameters:
        servers: :class:`chaos_cluster.Servers`.
        proxy: the fault proxy in front of PostgreSQL (``tests/faultproxy.py``).
        workers: short name -> :class:`chaos_workers.Worker`.
        database: the database the workers write to.
        running_tasks: a callable returning the records of runs in progress (pid, started,
            name, duration), to pick a busy pool process to kill.
        send: the load's ``send(name, *, queue, fail)``, for the failing task of
            ``error_restart``.
    """

    def __init__(self, servers: Any, proxy: Any, workers: dict[str, Any], database: str,
                 running_tasks: Callable[[], list[dict[str, Any]]],
                 send: Callable[..., Any] | None = None) -> None:
        self.servers = servers
        self.proxy = proxy
        self.workers = workers
        self.database = database
        self.running_tasks = running_tasks
        self.send = send
        self.injected: list[Injected] = []
        self.errors: list[str] = []
        self._locks = {name: threading.Lock() for name in ("db", "broker", "proxy", "trigger",
                                                           *workers)}
        self._threads: list[threading.Thread] = []
        self._mutex = threading.Lock()

    # ------------------------------------------------------------------ running a schedule

    def run(self, schedule: list[Planned], begin: float, stop: threading.Event) -> None:
        """Start each planned fault at its time (monotonic ``begin`` + ``at``), each in a
        thread of its own; returns once all have been started."""
        for planned in schedule:
            delay = begin + planned.at - time.monotonic()
            if delay > 0 and stop.wait(delay):
                return
            thread = threading.Thread(target=self._do, args=(planned,), daemon=True,
                                      name=f"fault-{planned.kind}")
            thread.start()
            self._threads.append(thread)

    def join(self, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.1, deadline - time.monotonic()))

    def _do(self, planned: Planned) -> None:
        resource = {"db_hang": "proxy", "broker_restart": "broker", "trigger_refuse": "trigger",
                    "pool_kill": planned.target, "worker_kill": planned.target,
                    "warm_restart": planned.target, "main_pause": planned.target,
                    "error_restart": planned.target}.get(planned.kind, "db")
        with self._locks[resource or "db"]:
            entry = Injected(planned.kind, time.time(), target=planned.target)
            try:
                getattr(self, planned.kind)(planned, entry)
            except Exception as exc:  # a fault that could not be injected is reported, not fatal
                entry.note = f"failed: {type(exc).__name__}: {exc}"
                self.errors.append(f"{planned.kind} at {planned.at}: {entry.note}")
            entry.end = entry.end or time.time()
            with self._mutex:
                self.injected.append(entry)

    def supervise(self, stop: threading.Event) -> None:
        """Start again, as a supervisor would, a worker that exited on its own (counted)."""
        while not stop.wait(0.5):
            for name, worker in self.workers.items():
                if not self._locks[name].acquire(blocking=False):
                    continue  # the harness is stopping or starting it
                try:
                    if worker.reap():
                        entry = Injected("exited_on_its_own", worker.current.ended, target=name)
                        try:
                            worker.start()
                        except Exception as exc:
                            entry.note = f"restart failed: {exc}"
                        entry.end = time.time()
                        with self._mutex:
                            self.injected.append(entry)
                finally:
                    self._locks[name].release()

    def _admin(self, statement: str, database: str | None = None, tries: int = 60) -> list[Any]:
        """One admin statement, retried while the server restarts (bounded: about 30 s)."""
        for attempt in range(tries):
            try:
                return self.servers.sql(statement, database=database or "postgres")
            except Exception:
                if attempt == tries - 1:
                    raise
                time.sleep(0.5)
        return []

    def _terminate_office(self) -> int:
        rows = self._admin(
            "select count(pg_terminate_backend(pid)) from pg_stat_activity "
            "where application_name = 'celery-office'"
        )
        return int(rows[0][0]) if rows else 0

    # ------------------------------------------------------------------ the database

    def pg_restart(self, planned: Planned, entry: Injected) -> None:
        self.servers.stop_pg()
        time.sleep(planned.duration)
        self.servers.start_pg()

    def pg_terminate(self, planned: Planned, entry: Injected) -> None:
        entry.note = f"{self._terminate_office()} connections"

    def db_hang(self, planned: Planned, entry: Injected) -> None:
        self.proxy.set_mode("hang")
        time.sleep(planned.duration)
        self.proxy.set_mode("forward")

    def db_read_only(self, planned: Planned, entry: Injected) -> None:
        self._admin(f"alter database {self.database} set default_transaction_read_only = on")
        self._terminate_office()
        time.sleep(planned.duration)
        self._admin(f"alter database {self.database} set default_transaction_read_only = off")
        self._terminate_office()

    def trigger_refuse(self, planned: Planned, entry: Injected) -> None:
        self._admin(
            "create or replace function chaos_refuse() returns trigger language plpgsql as $$ "
            f"begin if new.agent_id = '{TRIGGER_AGENT}' and new.task like 'Ошибка:%' "
            "and new.task is distinct from old.task then "
            "raise exception 'chaos: error texts of % refused', new.agent_id; end if; "
            "return new; end $$",
            self.database,
        )
        self._admin("create trigger chaos_refuse before update on office_agent_status "
                    "for each row execute function chaos_refuse()", self.database)
        time.sleep(planned.duration)
        self._admin("drop trigger if exists chaos_refuse on office_agent_status", self.database)

    # ------------------------------------------------------------------ the broker

    def broker_restart(self, planned: Planned, entry: Injected) -> None:
        self.servers.restart_redis()

    # ------------------------------------------------------------------ workers

    def pool_kill(self, planned: Planned, entry: Injected) -> None:
        """SIGKILL one pool process of the target that runs a task started at least 0.3 s ago
        with at least 0.5 s to go, so the kill never meets a run whose start record is not
        written yet; without one within 5 s, the fault is skipped (noted)."""
        import os
        import signal

        worker = self.workers[planned.target]  # type: ignore[index]
        for _ in range(100):
            pids = set(worker.pool_pids())
            now = time.time()
            busy = [r for r in self.running_tasks()
                    if r["pid"] in pids and now - r["t"] >= 0.3
                    and r["t"] + r.get("duration", 0.0) - now >= 0.5]
            if busy:
                victim = busy[0]
                entry.begin = time.time()
                os.kill(victim["pid"], signal.SIGKILL)
                entry.details = {"pid": victim["pid"], "id": victim["id"]}
                entry.note = f"pid {victim['pid']} running {victim['name']}"
                return
            time.sleep(0.1)
        entry.note = "skipped: no pool process ran a long enough task"

    def worker_kill(self, planned: Planned, entry: Injected) -> None:
        worker = self.workers[planned.target]  # type: ignore[index]
        if not worker.alive:
            entry.note = "skipped: not running"
            return
        entry.details = {"pid": worker.current.pid}
        worker.kill()
        entry.begin = worker.current.stop_began
        time.sleep(planned.pause)
        worker.start()
        entry.note = f"dead {planned.pause:.1f} s"

    def warm_restart(self, planned: Planned, entry: Injected) -> None:
        worker = self.workers[planned.target]  # type: ignore[index]
        if not worker.alive:
            entry.note = "skipped: not running"
            return
        entry.details = {"pid": worker.current.pid}
        worker.stop_warm()
        entry.details["stopped"] = worker.current.ended
        worker.start()

    def main_pause(self, planned: Planned, entry: Injected) -> None:
        """SIGSTOP the main process alone (its pool runs on), past office_offline_after."""
        import os
        import signal

        worker = self.workers[planned.target]  # type: ignore[index]
        if not worker.alive:
            entry.note = "skipped: not running"
            return
        pid = worker.current.pid
        entry.details = {"pid": pid}
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(planned.pause)
        finally:
            os.kill(pid, signal.SIGCONT)
        entry.note = f"stopped {planned.pause:.1f} s"

    def error_restart(self, planned: Planned, entry: Injected) -> None:
        """A failing task of the worker's own agent, then a warm restart of that worker."""
        worker = self.workers[planned.target]  # type: ignore[index]
        if not worker.alive or self.send is None:
            entry.note = "skipped: not running"
            return
        sent = self.send("solo_index", queue=f"chaos.{planned.target}", fail=True)
        entry.details = {"failing": getattr(sent, "task_id", None)}
        time.sleep(1.5)  # it runs and its error is written (or waits for the database)
        self.warm_restart(planned, entry)
