"""What a worker could not write when it stopped, kept on disk for its next start.

A warm shutdown waits at most ``office_shutdown_timeout`` for the main process's last write.
When the database is away, hung or locked then, the changes still in memory (the ends and
outcomes of the last runs, their day numbers) would go with the process, and the rows would
show an older run until each agent runs again: a worker restarted during an outage (a deploy,
a ``--max-memory-per-child`` of the main process, a supervisor's restart) would lose them
even though the database comes back. So they are kept in a file of this node and this
database, as Celery's ``--statedb`` keeps revoked ids, and the next start of the same node
writes them first.

Flushes that may have landed (sent, the answer lost) keep their numbers: sent again under
them, they land exactly once. Runs still in progress at the stop are left out: the next start
ends its former self's runs anyway. The file is read once and deleted at once; a directory or
file that another user could have written is refused (the file is a pickle). And the one line
a process that stops says of what it leaves unwritten (:func:`say_what_is_lost`).
"""

from __future__ import annotations

import glob
import hashlib
import os
import pickle
import re
import stat
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..core.changes import Batch
from ..core.texts import counted
from ..db.engine import safe_url
from ..db.workers import FlushId
from ..logs import logger
from ..render import first_line
from ..settings import OfficeSettings

if TYPE_CHECKING:
    from .writer import Writer

__all__ = ["Leftovers", "Unwritten", "default_state_dir", "unwritten_of", "give_back",
           "say_what_is_lost"]

FORMAT = 1  # of the file; a file of another format (an older or newer release's) is dropped


@dataclass
class Unwritten:
    """A batch a stopping process could not write, and its flush number when it was sent
    (``None``: never sent, so it cannot have landed)."""

    batch: Batch
    flush: FlushId | None = None


def default_state_dir() -> str:
    """A private directory in the temporary directory: it outlives a worker's restart."""
    return os.path.join(tempfile.gettempdir(), f"celery-office-{os.getuid()}")


class Leftovers:
    """The files where worker ``node_name`` keeps what it could not write to
    ``database_url``: one per process that stopped (two live workers may share a node name,
    and each stop keeps its own), all taken by the node's next start."""

    def __init__(self, *, node_name: str, database_url: str, state_dir: str = "") -> None:
        self.directory = state_dir or default_state_dir()
        where = hashlib.sha256(safe_url(database_url).encode()).hexdigest()[:12]
        node = re.sub(r"[^\w.@-]", "_", node_name)
        self.prefix = os.path.join(self.directory, f"{node}.{where}.")

    @property
    def path(self) -> str:
        """This process's file."""
        return f"{self.prefix}{os.getpid()}.unwritten"

    def keep(self, unwritten: list[Unwritten]) -> str | None:
        """Write ``unwritten`` (oldest first) to this process's file; its path, or None when
        it could not be written (said in one line)."""
        entries = [_without_starts(u) for u in unwritten]
        entries = [u for u in entries if u.batch]
        if not entries:
            return None
        path = self.path
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            self._check_directory()
            partial = f"{path}.part"
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                pickle.dump((FORMAT, entries), out, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(partial, path)  # whole or not at all
            return path
        except (OSError, pickle.PicklingError, ValueError) as exc:
            logger.warning(
                "celery-office: the unwritten statuses could not be kept in %s (%s); set "
                "office_state_dir to a directory this worker may write", path, first_line(exc),
            )
            return None

    def take(self) -> list[Unwritten]:
        """What the stops of this node kept, oldest file first; each file is deleted as it is
        read (its content is this process's now, kept again if this process too stops
        unwritten). A file another start took first is skipped."""
        found = sorted(glob.glob(glob.escape(self.prefix) + "*.unwritten"),
                       key=_modified)
        taken: list[Unwritten] = []
        for path in found:
            taken += self._take_file(path)
        return taken

    def _take_file(self, path: str) -> list[Unwritten]:
        try:
            self._check_directory()
            with open(path, "rb") as file:
                if os.fstat(file.fileno()).st_uid != os.getuid():
                    raise ValueError("the file belongs to another user")
                os.unlink(path)
                version, entries = pickle.load(file)
        except FileNotFoundError:  # a namesake starting at the same moment took it
            return []
        except Exception as exc:  # a damaged or foreign file must never stop a worker's start
            logger.warning(
                "celery-office: the statuses left unwritten by a stop of this worker, in %s, "
                "could not be read (%s); delete the file", path, first_line(exc),
            )
            return []
        if version != FORMAT:
            return []
        return [u for u in entries if isinstance(u, Unwritten)]

    def _check_directory(self) -> None:
        info = os.stat(self.directory)
        if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise ValueError(f"{self.directory} may be written by another user; give "
                             "office_state_dir a directory of this worker's user alone")


def unwritten_of(writer: Writer) -> list[Unwritten]:
    """What ``writer`` has not written, oldest first: the flushes that may have landed (with
    their numbers), the one being sent, then the pending changes (taken: the process stops)."""
    doubts = [Unwritten(batch, flush) for batch, _, flush in list(writer.in_doubt)]
    flight = writer.in_flight
    if flight is not None and all(flight[0] is not u.batch for u in doubts):
        doubts.append(Unwritten(*flight))
    pending, _ = writer.buffer.take()
    return [*doubts, Unwritten(pending)]


def give_back(writer: Writer, leftovers: list[Unwritten]) -> int:
    """At start: what the last stop kept goes first (numbered flushes sent again under their
    numbers, so each lands once); how many agents it concerns."""
    agents: set[str] = set()
    for unwritten in leftovers:
        agents |= unwritten.batch.touched | {r.agent_id for r in unwritten.batch.runs.values()}
        if unwritten.flush is None:
            writer.buffer.put_back(unwritten.batch)
        else:
            writer.in_doubt.append((unwritten.batch, set(), unwritten.flush))
    return len(agents)


def _modified(path: str) -> float:
    try:
        return os.path.getmtime(path)
    except OSError:
        return 0.0


def _without_starts(unwritten: Unwritten) -> Unwritten:
    """The batch without its runs still in progress (the next start ends them)."""
    batch = unwritten.batch
    runs = {task_id: run for task_id, run in batch.runs.items() if run.ended}
    if len(runs) == len(batch.runs):
        return unwritten
    kept = Batch(runs=runs, outcomes=batch.outcomes, metrics=batch.metrics,
                 touched=batch.touched, counts=batch.counts, started=batch.started)
    return Unwritten(kept, unwritten.flush)


def say_what_is_lost(
    settings: OfficeSettings, *, forwards: bool, hung: bool, left: int, timeout: float,
    kept: str | None = None,
) -> None:
    """One line on what a process that stops leaves unwritten, and why."""
    where = safe_url(settings.database_url)
    if kept is not None:
        logger.warning(
            "celery-office: the database at %s %s; the last statuses of this worker are kept "
            "in %s and written first by its next start", where,
            f"did not answer within {timeout:.1f} s (office_shutdown_timeout)" if hung
            else "cannot be written now", kept,
        )
    elif forwards:
        # info: with max_tasks_per_child a warning here would be a line per few tasks
        logger.info(
            "celery-office: the worker's main process did not take the last statuses of "
            "%s of this pool process", counted(left, "agent"),
        )
    elif hung:
        logger.warning(
            "celery-office: the database at %s did not answer within %.1f s "
            "(office_shutdown_timeout); the last statuses of this process are not written",
            where, timeout,
        )
    elif left:
        logger.warning(
            "celery-office: the last statuses of %s of this process could not be "
            "written to %s", counted(left, "agent"), where,
        )
    else:
        logger.warning(
            "celery-office: this worker's agents could not be marked offline on %s; they "
            "read offline once silent for office_offline_after (%g s)",
            where, settings.offline_after,
        )
