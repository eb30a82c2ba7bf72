"""Settings resolution: the one warning a worker gives when nobody named a database, and the
bounds every duration must keep."""

from __future__ import annotations

import logging

import pytest

from celery_office.core.errors import OfficeConfigError
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


@pytest.mark.parametrize("name", ["office_heartbeat_interval", "office_schedule_grace",
                                  "office_offline_after", "office_day_retention"])
@pytest.mark.parametrize("raw", ["inf", "nan", "1e309", "99999999999"])
def test_every_duration_setting_is_finite_and_bounded(name: str, raw: str) -> None:
    with pytest.raises(OfficeConfigError) as info:
        OfficeSettings.from_sources({name: raw}, environ={})
    assert name in str(info.value) and "finite" in str(info.value)


def test_an_unknown_language_is_one_line_naming_the_setting_and_the_choices() -> None:
    with pytest.raises(OfficeConfigError) as info:
        OfficeSettings.from_sources({}, {"OFFICE_LANGUAGE": "de"})
    assert str(info.value) == "office_language (OFFICE_LANGUAGE) must be one of ru, en, got 'de'"
    assert OfficeSettings.from_sources({"office_language": "en"}, {}).language == "en"
