"""Notifications on transitions: a thread that looks at the office every few seconds, claims
each transition in the database and hands its message to the webhooks.

Why claim in the database: several ``celery office serve`` replicas (or workers of a host
app) watch one office, and each transition must be posted once. The claim is a compare and
swap on the agent's notice (:mod:`celery_office.db.notices`), in one transaction with the look
that found it; only after that transaction commits are the won transitions posted, so a claim
that failed to commit posts nothing and is tried again at the next look. A replica that dies
between its commit and the post loses that post (at most once, never twice).
"""

from __future__ import annotations

import threading

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from ..db.engine import db_error_reason, is_missing_table, safe_url
from ..db.notices import claim, read_notices, record_first_seen
from ..db.read import active_alerts, agent_statuses
from ..logs import log_once, logger
from .reader import MIGRATE_HINT
from .transitions import Transition, changes, message
from .webhooks import WebhookSender, where

__all__ = ["Notifier"]


class Notifier:
    """Looks at the office every ``interval`` seconds and announces its transitions.

    Parameters:
        engine: a writing engine (:func:`~celery_office.db.engine.create_office_engine`):
            claims are writes, serialised on SQLite by its ``BEGIN IMMEDIATE``.
        sender: the webhooks the messages go to.
        offline_after: silence (seconds) after which an agent is offline.
        interval: seconds between two looks.
    """

    def __init__(
        self, engine: Engine, sender: WebhookSender, *, offline_after: float,
        interval: float = 5.0,
    ) -> None:
        self.engine = engine
        self.sender = sender
        self.offline_after = offline_after
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def start(self) -> None:
        self.sender.start()
        self._thread = threading.Thread(target=self._run, name="celery-office-notifier",
                                        daemon=True)
        self._thread.start()
        logger.info("celery-office: notifications of %s to %s, every %g s", safe_url(self.engine),
                    ", ".join(where(url) for url in self.sender.urls), self.interval)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.sender.stop(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.look()
            except Exception as exc:  # the loop survives its own bugs, said once a minute
                log_once("notifier-bug", "celery-office: unexpected error while looking for "
                         "transitions (a bug, please report it): %s: %s", type(exc).__name__,
                         db_error_reason(exc, self.engine))
            self._stop.wait(self.interval)

    def look(self) -> list[Transition]:
        """One look: claim the transitions found and queue their messages; the ones this
        process won are returned."""
        try:
            with self.engine.begin() as conn:
                notices = read_notices(conn)  # before the rows: see celery_office.db.notices
                rows = agent_statuses(conn, self.offline_after)
                found = changes(rows, active_alerts(conn), notices)
                record_first_seen(conn, found.first_seen)
                won = [t for t in found.transitions
                       if claim(conn, t.agent.agent_id, seen=t.seen, state=t.state)]
        except SQLAlchemyError as exc:
            self._failing = True
            hint = f"; {MIGRATE_HINT}" if is_missing_table(exc) else ""
            log_once("notifier-db", "celery-office: notifications wait for the database: "
                     "cannot look at %s: %s%s", safe_url(self.engine),
                     db_error_reason(exc, self.engine), hint)
            return []
        if self._failing:
            self._failing = False
            logger.info("celery-office: notifications look at %s again", safe_url(self.engine))
        for transition in won:
            self.sender.send(message(transition),
                             label=f"{transition.agent.agent_id}: {transition.state}")
        return won
