"""``celery office status --watch`` ends on Ctrl-C between draws: a Ctrl-C that lands inside a
draw (a database connection closing, say) lets the draw finish, so SQLAlchemy never logs a
traceback for a KeyboardInterrupt raised inside a connection's close."""

from __future__ import annotations

import os
import signal
import time

import click
import pytest

from celery_office.cli.status import _CtrlCBetweenDraws, _watch


def _ctrl_c() -> None:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.05)  # the handler runs here, inside the draw


def test_a_ctrl_c_inside_a_draw_ends_the_watch_once_the_draw_is_done(capsys):
    steps = []

    def draw() -> list[str]:
        steps.append("read")
        _ctrl_c()
        steps.append("connection closed")  # cut short here without the deferral
        return ["a table"]

    with pytest.raises(click.exceptions.Exit) as ended:
        _watch(click.Context(click.Command("status")), draw, 0.01, clear=False, header=False,
               color=False)
    assert ended.value.exit_code == 0
    assert steps == ["read", "connection closed"]  # one whole draw, no second one
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert "a table" not in capsys.readouterr().out  # the interrupted draw is not shown


def test_a_second_ctrl_c_inside_the_same_draw_ends_it_at_once():
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with _CtrlCBetweenDraws().held():
            _ctrl_c()
            steps.append("after the first")
            _ctrl_c()
            steps.append("after the second")
    assert steps == ["after the first"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
