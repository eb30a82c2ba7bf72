"""Exceptions celery-office raises; each message says what to change."""

from __future__ import annotations


class OfficeError(Exception):
    """Base class of every error celery-office raises on purpose."""


class OfficeConfigError(OfficeError, ValueError):
    """A setting (``office_*`` in ``app.conf`` or ``OFFICE_*`` in the environment) is invalid."""
