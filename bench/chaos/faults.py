"""The faults the chaos harness injects (when: ``schedule.py``). Issue 14's kinds, each a
method of :class:`Faults` (issue 30's are functions of their own modules: ``ACTIONS``):

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

import threading
import time
from collections.abc import Callable
from typing import Any

from . import identity, kills, locks, notify
from .schedule import KINDS, Injected, Planned, plan

__all__ = ["KINDS", "Planned", "Injected", "plan", "Faults", "TRIGGER_AGENT", "ACTIONS"]

TRIGGER_AGENT = "chaos_reviews"
# issue 30's kinds: kind -> function(faults, planned, entry)
ACTIONS: dict[str, Callable[[Any, Planned, Injected], None]] = {
    "clock_back": identity.clock_back,
    "twin_node": identity.twin_node,
    "pool_kill_after_end": kills.pool_kill_after_end,
    "main_kill_after_end": kills.main_kill_after_end,
    "table_lock": locks.table_lock,
    "long_outage": notify.long_outage,
    "flapping_agent": notify.flapping_agent,
}
RESOURCES = {"db_hang": ("proxy",), "broker_restart": ("broker",), "trigger_refuse": ("trigger",),
             "long_outage": ("db", "proxy"), "flapping_agent": ("flapper",)}


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
                 send: Callable[..., Any] | None = None, *, tail: Any = None,
                 offline_after: float = 10.0) -> None:
        self.servers = servers
        self.proxy = proxy
        self.workers = workers
        self.database = database
        self.running_tasks = running_tasks
        self.send = send
        self.tail = tail  # chaos_records.RecordTail: the ends the after-end kills wait for
        self.offline_after = offline_after
        self.injected: list[Injected] = []
        self.active: list[Injected] = []  # begun, not ended yet
        self.twins: list[Any] = []  # twin_node's second workers (chaos_workers.Worker)
        self.errors: list[str] = []
        self._locks = {name: threading.Lock() for name in ("db", "broker", "proxy", "trigger",
                                                           "flapper", *workers)}
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
        resources = RESOURCES.get(planned.kind) or (
            (planned.target,) if planned.target in self.workers else ("db",))
        held = [self._locks[r] for r in sorted(resources)]  # one order: no deadlock
        for lock in held:
            lock.acquire()
        try:
            entry = Injected(planned.kind, time.time(), target=planned.target)
            with self._mutex:
                self.active.append(entry)
            try:
                action = ACTIONS.get(planned.kind)
                if action is not None:
                    action(self, planned, entry)
                else:
                    getattr(self, planned.kind)(planned, entry)
            except Exception as exc:  # a fault that could not be injected is reported, not fatal
                entry.note = f"failed: {type(exc).__name__}: {exc}"
                self.errors.append(f"{planned.kind} at {planned.at}: {entry.note}")
            entry.end = entry.end or time.time()
            with self._mutex:
                self.active.remove(entry)
                self.injected.append(entry)
        finally:
            for lock in reversed(held):
                lock.release()

    def overlapping(self, begin: float, end: float, *, kinds: tuple[str, ...] = (),
                    but: Any = None) -> list[str]:
        """The faults (of ``kinds``, or any) other than ``but`` that ran during [begin, end]."""
        with self._mutex:
            entries = list(self.injected) + list(self.active)
        return sorted({f"{f.kind}" for f in entries
                       if f is not but and f.kind != "exited_on_its_own"
                       and (not kinds or f.kind in kinds)
                       and f.begin <= end and (f.end is None or f.end >= begin)})

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
