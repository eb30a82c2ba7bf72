"""What only a worker's main process does with the database: migrate, register, beat, retire.

Kept apart from the writer, which only moves changes: each duty is one call in the writer's
transaction (or, for the migration, on its engine), and the lost-run check keeps the little
state it needs here, between two heartbeats.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy.exc import DBAPIError

from ..core.changes import AgentInfo
from ..core.days import today
from ..core.texts import counted
from ..db.engine import safe_url
from ..db.heartbeat import heartbeat
from ..db.revisions import check_revision
from ..db.schema import migrate
from ..db.statements import run_key
from ..db.timeline import forget_periods_before
from ..db.totals import forget_days_before
from ..db.workers import forget_writers, live_namesakes, node_runs, register_worker, retire_worker
from ..logs import log_once, logger
from ..render import describe
from ..settings import OfficeSettings
from .requests import LOST_RUN_GRACE_MIN, RunningRequests, running_requests
from .watch import Watch

__all__ = ["WorkerDuties", "LOST_RUN_GRACE_MIN"]
DAYS_CLEANUP_EVERY = 3600.0  # seconds between two deletions of days past office_day_retention
WRITERS_KEPT = 7 * 86400.0  # seconds a writer that stopped beating (crashed) keeps its row


class WorkerDuties:
    """The main process's duties for the worker ``node_name`` and the agents it serves."""

    def __init__(
        self, settings: OfficeSettings, agents: Mapping[str, AgentInfo], *, node_name: str | None,
        started_at: float, watch: Watch | None = None,
        routes: Mapping[str, tuple[str, str | None]] | None = None,
    ) -> None:
        self.settings = settings
        self.watch = watch
        self.requests = RunningRequests(settings, routes or {})
        self.agents = agents
        self.node_name = node_name or socket.gethostname()
        self.started_at = started_at
        self._days_forgotten_at: float | None = None  # monotonic time of the last cleanup
        self._namesakes_said: set[int] = set()  # writers of our node name said to be live

    def migrate(self, engine: Any) -> None:
        migrate(engine)

    def register(self, conn: Any, *, waiting: Collection[str] = ()) -> None:
        """Register the worker; ``waiting``: the agents whose changes wait in this process
        (their ``last_activity`` is not refreshed, nor that of agents waiting elsewhere)."""
        check_revision(conn, database=safe_url(self.settings.database_url))
        register_worker(
            conn,
            node_name=self.node_name,
            hostname=socket.gethostname(),
            pid=os.getpid(),
            agents=list(self.agents.values()),
            since=self.started_at,
            offline_after=self.settings.offline_after,
            waiting=waiting,
        )
        logger.info(
            "celery-office: %s registered in %s",
            counted(len(self.agents), "agent"), safe_url(self.settings.database_url),
        )

    def beat(self, conn: Any, *, writer: int | None = None, waiting: Collection[str] = ()) -> None:
        """One heartbeat; ``writer``: this process's writer number; ``waiting``: the agents
        whose changes wait to be written (their ``last_activity`` is not refreshed)."""
        check_revision(conn, database=safe_url(self.settings.database_url))  # cheap: one read
        lost: dict[str, str] = {}
        namesakes = self._namesakes(conn, writer)
        requests = running_requests()  # before reading the table: a run started since is in it
        if requests is not None and not namesakes:  # whose runs are these? not ours to end
            running = {run_key(r.id) for r in requests if r.id is not None}
            lost = self.requests.lost(node_runs(conn, self.node_name), running)
        written_back = heartbeat(
            conn,
            node_name=self.node_name,
            hostname=socket.gethostname(),
            pid=os.getpid(),
            agents=list(self.agents.values()),
            offline_after=self.settings.offline_after,
            end_runs=lost,
            running=self.requests.in_progress(requests or ()),
            writer=writer,
            waiting=waiting,
        )
        if written_back:
            logger.warning(
                "celery-office: this worker was taken for dead (silent for longer than "
                "office_offline_after, %g s: its main process paused or cut off) and its runs "
                "ended by another worker; %s in progress written back",
                self.settings.offline_after, counted(written_back, "run"),
            )
        self._forget_old_days(conn)
        if self.watch:
            self._judge(conn, requests or ())
        if lost:
            logger.warning(
                "celery-office: %d runs of this worker ended without their end being written "
                "(a requeued task, or a process lost after its result was stored); "
                "they no longer count as in progress", len(lost),
            )

    def _namesakes(self, conn: Any, writer: int | None) -> bool:
        """Is another live worker writing under this node name? Said once for each."""
        if writer is None:
            return False
        namesakes = live_namesakes(conn, node_name=self.node_name, writer=writer)
        for other in namesakes:
            if other.writer_id in self._namesakes_said:
                continue
            self._namesakes_said.add(other.writer_id)
            logger.warning(
                "celery-office: another live worker runs under the node name %s (pid %s on "
                "%s); the runs of both are counted, but each takes the other's runs in "
                "progress for its own: give each worker a name of its own "
                "(celery worker -n NAME@%%h)", self.node_name, other.pid, other.hostname,
            )
        return bool(namesakes)

    def _judge(self, conn: Any, running: Sequence[Any]) -> None:
        """Missed schedules and overlong runs, in a savepoint of the heartbeat's transaction:
        whatever goes wrong in judging (a schedule whose arithmetic overflows, a refused alert)
        is undone and said once a minute, and never costs the heartbeat, so the agents never
        read offline because of it."""
        assert self.watch is not None
        try:
            with conn.begin_nested():
                self.watch.judge(conn, node_name=self.node_name, running=running)
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise  # the connection, not the judgement: the heartbeat is tried again
            self._judging_failed(exc)
        except Exception as exc:
            self._judging_failed(exc)

    def _judging_failed(self, exc: Exception) -> None:
        log_once(
            "judge",
            "celery-office: judging missed schedules and overlong runs failed (%s); the "
            "heartbeat went on without it", describe(exc), exc_info=True, level=logging.ERROR,
        )

    def _forget_old_days(self, conn: Any) -> None:
        """At most once an hour, in the heartbeat's transaction: delete the agents' days past
        ``office_day_retention``, and writers silent for WRITERS_KEPT (every worker may; a
        delete with nothing to do is cheap)."""
        now = time.monotonic()
        last = self._days_forgotten_at
        if last is not None and now - last < DAYS_CLEANUP_EVERY:
            return
        self._days_forgotten_at = now
        forget_days_before(
            conn, today=today(self.settings.timezone), keep_days=self.settings.day_retention
        )
        forget_periods_before(conn, keep_days=self.settings.timeline_days)
        forget_writers(conn, silent_for=WRITERS_KEPT)

    def retire(self, conn: Any, *, writer: int | None = None, grace: float = 0.0) -> None:
        """Warm shutdown; ``grace``: seconds of an outage just seen, added to the silence
        after which another worker counts as dead (it could not beat either)."""
        offline = retire_worker(
            conn,
            node_name=self.node_name,
            agent_ids=list(self.agents),
            offline_after=self.settings.offline_after + grace,
            writer=writer,
        )
        logger.info("celery-office: %s offline", counted(len(offline), "agent"))


