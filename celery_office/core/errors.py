"""Exceptions celery-office raises; each message says what to change."""

from __future__ import annotations


class OfficeError(Exception):
    """Base class of every error celery-office raises on purpose."""


class OfficeConfigError(OfficeError, ValueError):
    """A setting (``office_*`` in ``app.conf`` or ``OFFICE_*`` in the environment) is invalid."""


class FieldError(OfficeError, ValueError):
    """An agent's field breaks the dashboard's contract (type, length, range, characters).

    Raised by :mod:`celery_office.validation`; ``OfficeReporter`` lets it through as is, the
    registry adds the file and line. ``str(err)`` reads ``"field '{field}': {problem}"``.
    """

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"field '{field}': {problem}")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.field, self.problem))


class MigrationError(OfficeError, RuntimeError):
    """Migrating celery-office's tables failed; the message names the (password-hidden) URL."""


class NewerSchemaError(MigrationError):
    """The database was migrated by a newer celery-office: this version writes nothing there.

    Why nothing: it cannot know what the newer revisions changed in its own tables, and a
    worker that went on heartbeating while its writes failed would show its agents alive while
    nothing of theirs is recorded. Silent, they read offline, unless a newer worker serves them.
    """


def invalid_url(exc: Exception, *, check: str) -> OfficeConfigError:
    """The error for a database URL SQLAlchemy cannot parse (``exc`` from ``make_url``).

    The parser's own words are not repeated: they may quote parts of the URL, password
    included. ``check`` names where the URL comes from (a setting, an option).
    """
    why = ": its port is not a number" if "invalid literal for int()" in str(exc) else ""
    return OfficeConfigError(
        f"the database URL is not valid{why}; expected "
        f"dialect+driver://user:password@host:port/database. Check {check}."
    )
