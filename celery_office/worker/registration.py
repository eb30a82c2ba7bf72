"""A worker's place in the tables: migrated and registered before its first flush, beating at
every heartbeat, retired at a warm shutdown; and the writer number every process that writes
takes from the database before its first flush (``office_writer``: see
:mod:`celery_office.db.workers`), taken anew when the database refuses a flush for it.

Never a heartbeat before the worker is registered, so a worker whose writes cannot go (a schema
a newer celery-office migrated) never shows its agents alive: it goes back to the migration,
which then writes nothing, and looks again once a heartbeat interval.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Collection
from typing import Any

from ..core.errors import NewerSchemaError
from ..db.workers import new_writer, tell_waiting
from ..settings import OfficeSettings
from .duties import WorkerDuties
from .guard import GuardedDatabase

__all__ = ["Registration"]


class Registration:
    """The main process's registration of its worker, through ``db``."""

    def __init__(self, settings: OfficeSettings, db: GuardedDatabase, duties: WorkerDuties) -> None:
        self.settings = settings
        self.db = db
        self.duties = duties
        self.reset()

    def reset(self) -> None:
        self.migrated = False
        self.registered = False
        self.writer: int | None = None  # this process's writer number, from the database
        self.told: frozenset[str] = frozenset()  # what its row says waits in it

    def take_writer(self, node_name: str) -> bool:
        """A new writer number for ``node_name``'s flushes; True once taken."""
        taken: list[int] = []

        def work(conn: Any) -> None:
            taken.append(new_writer(conn, node_name=node_name, hostname=socket.gethostname(),
                                    pid=os.getpid()))

        if not self.db.run("writer registration", work):
            return False
        self.writer = taken[-1]  # only once committed: a number whose row may be missing is
        return True  # refused at its first flush, said, and taken again

    def migrate_before_fork(self) -> None:
        """The migration, once, before the pool forks (the bootstep's, with
        ``office_auto_migrate``): a dashboard table that cannot be adopted raises
        :class:`~celery_office.db.contract.ContractError`, which stops the worker at start; a
        database out of reach is tried again by the thread."""
        if not self.settings.auto_migrate or self.migrated:
            return
        from ..db.contract import ContractError

        try:
            self.db.attempt(self.duties.migrate, transaction=False)
            self.migrated = True
        except ContractError:
            raise
        except Exception:
            pass  # down or hung: the thread tries again, and says so once
        finally:
            # no socket for the pool processes to inherit: a connection whose descriptor a
            # child holds would stay open on the server after this process closes it
            self.db.engine.dispose()

    def ensure(self, *, waiting: Callable[[], Collection[str]] = lambda: ()) -> bool:
        """Migrated (with ``office_auto_migrate``) and registered: True once both are done.
        ``waiting``: the agents whose changes wait in this process, asked only to register."""
        if self.registered:
            return True
        if self.settings.auto_migrate and not self.migrated:
            self.migrated = self.db.run("migration", self.duties.migrate, transaction=False)
            if not self.migrated:
                return False
        self.registered = self.db.run(
            "registration", lambda conn: self.duties.register(conn, waiting=waiting()))
        return self.registered

    def beat(self, *, waiting: Collection[str] = ()) -> bool:
        """The heartbeat (``waiting``: agents whose changes wait to be written, which it does
        not keep alive); a database a newer celery-office migrated since (checked at each
        beat) sends the worker back to the migration, which then writes nothing."""
        def work(conn: Any) -> None:
            self.duties.beat(conn, writer=self.writer, waiting=waiting)

        if self.db.run("heartbeat", work):
            self.told = frozenset(waiting)
            return True
        if isinstance(self.db.last_error, NewerSchemaError):
            self.reset()
        return False

    def tell_waiting(self, waiting: Collection[str]) -> None:
        """When agents begin to wait (a status write failed): say so now, in a statement of
        its own, before any heartbeat (this one may wait on a lock) and before another
        writer's heartbeat keeps them alive."""
        writer = self.writer
        if writer is None or not self.registered:
            return
        if self.db.run("heartbeat",
                       lambda conn: tell_waiting(conn, writer=writer, waiting=waiting)):
            self.told = frozenset(waiting)

    def retire(self) -> None:
        """Warm shutdown: the agents nobody else serves go offline (a worker that wrote
        nothing retires nothing either)."""
        if self.registered:
            writer = self.writer

            # others' silence during an outage this process saw is no sign of their death
            grace = self.db.outage.grace(self.settings.offline_after)

            def work(conn: Any) -> None:
                self.duties.retire(conn, writer=writer, grace=grace)

            if self.db.run("shutdown", work):
                self.writer = None
