"""The main process of a prefork worker freezes its objects before the pool forks (issue 29):
``gc.freeze()`` keeps a pool process's collections from copying the pages it shares."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from celery import signals
from celery.concurrency import prefork, solo, thread

from celery_office.settings import OfficeSettings
from celery_office.worker import runtime
from celery_office.worker.signals import OfficeSignals


@pytest.fixture
def connected() -> Iterator[None]:
    gc.unfreeze()
    OfficeSignals.connect()
    yield
    OfficeSignals.disconnect()
    gc.unfreeze()  # this test process forks nothing: give the objects back to the collector


def _active(*, gc_freeze: bool = True) -> object:
    """What the bootstep activates, as far as the handler reads it."""
    return SimpleNamespace(flusher=SimpleNamespace(settings=OfficeSettings(gc_freeze=gc_freeze)))


def _about_to_fork(pool_cls: object) -> None:
    signals.celeryd_after_setup.send(sender="w1@host", instance=SimpleNamespace(pool_cls=pool_cls),
                                     conf=None)


def test_an_active_plugin_freezes_before_the_prefork_pool_forks(connected, monkeypatch) -> None:
    monkeypatch.setattr(runtime, "_current", _active())
    _about_to_fork(prefork.TaskPool)
    assert gc.get_freeze_count() > 0


@pytest.mark.parametrize("pool_cls", [solo.TaskPool, thread.TaskPool], ids=["solo", "threads"])
def test_a_pool_that_does_not_fork_is_left_alone(connected, monkeypatch, pool_cls) -> None:
    monkeypatch.setattr(runtime, "_current", _active())
    _about_to_fork(pool_cls)
    assert gc.get_freeze_count() == 0


def test_a_disabled_plugin_is_left_alone(connected) -> None:
    assert runtime.current() is None  # what OFFICE_ENABLED=false leaves
    _about_to_fork(prefork.TaskPool)
    assert gc.get_freeze_count() == 0


def test_office_gc_freeze_false_leaves_the_collector_alone(connected, monkeypatch) -> None:
    monkeypatch.setattr(runtime, "_current", _active(gc_freeze=False))
    _about_to_fork(prefork.TaskPool)
    assert gc.get_freeze_count() == 0
