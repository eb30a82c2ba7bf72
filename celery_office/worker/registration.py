"""A worker's place in the tables: migrated and registered before its first flush, beating at
every heartbeat, retired at a warm shutdown.

Never a heartbeat before the worker is registered, so a worker whose writes cannot go (a schema
a newer celery-office migrated) never shows its agents alive: it goes back to the migration,
which then writes nothing, and looks again once a heartbeat interval.
"""

from __future__ import annotations

from ..core.errors import NewerSchemaError
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

    def ensure(self) -> bool:
        """Migrated (with ``office_auto_migrate``) and registered: True once both are done."""
        if self.registered:
            return True
        if self.settings.auto_migrate and not self.migrated:
            self.migrated = self.db.run("migration", self.duties.migrate, transaction=False)
            if not self.migrated:
                return False
        self.registered = self.db.run("registration", self.duties.register)
        return self.registered

    def beat(self) -> bool:
        """The heartbeat; a database a newer celery-office migrated since (checked at each
        beat) sends the worker back to the migration, which then writes nothing."""
        if self.db.run("heartbeat", self.duties.beat):
            return True
        if isinstance(self.db.last_error, NewerSchemaError):
            self.reset()
        return False

    def retire(self) -> None:
        """Warm shutdown: the agents nobody else serves go offline (a worker that wrote
        nothing retires nothing either)."""
        if self.registered:
            self.db.run("shutdown", self.duties.retire)
