"""Settings resolution: the one warning a worker gives when nobody named a database."""

from __future__ import annotations

import logging

from celery_office.settings import OfficeSettings


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_no_database_url_warns_once_naming_the_sqlite_file(tmp_path, monkeypatch, caplog) -> None:
    monkeypatch.chdir(tmp_path)
    settings = OfficeSettings.from_sources({}, environ={})
    settings.warn_if_default_database()
    [message] = _warnings(caplog)
    assert str(tmp_path / "office.db") in message
    assert "OFFICE_DATABASE_URL" in message and "office_database_url" in message


def test_a_database_url_set_anywhere_gives_no_warning(caplog) -> None:
    for conf, environ in (
        ({"office_database_url": "postgresql+psycopg2://office@db/adolf"}, {}),
        ({}, {"OFFICE_DATABASE_URL": "sqlite:////var/lib/office/office.db"}),
    ):
        OfficeSettings.from_sources(conf, environ=environ).warn_if_default_database()
    assert _warnings(caplog) == []
