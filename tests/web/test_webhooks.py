"""Webhook posts: delivered, retried with backoff, never waited on, never logging a secret."""

from __future__ import annotations

import json
import logging
import threading
import time

import pytest

from celery_office.web.webhooks import WebhookSender, scrub, where

from .receiver import receiving
from .serve_process import free_port

TOKEN = "xoxb-SECRET-TOKEN-42"


def test_a_message_is_posted_as_json_with_its_text() -> None:
    with receiving() as receiver:
        sender = WebhookSender([receiver.url])
        sender.start()
        try:
            sender.send({"text": "🔴 Мониторинг цен: ошибка", "agent_id": "a"})
            posts = receiver.wait_for(lambda posts: len(posts) == 1)
        finally:
            sender.stop()
    assert posts == [{"text": "🔴 Мониторинг цен: ошибка", "agent_id": "a"}]


def test_every_url_gets_the_message() -> None:
    with receiving() as one, receiving() as two:
        sender = WebhookSender([one.url, two.url])
        sender.start()
        try:
            sender.send({"text": "x"})
            one.wait_for(lambda posts: len(posts) == 1)
            two.wait_for(lambda posts: len(posts) == 1)
        finally:
            sender.stop()


def test_failures_are_retried_with_growing_delays_then_delivered_once() -> None:
    with receiving() as receiver:
        receiver.statuses = [500, 503, 429]
        sender = WebhookSender([receiver.url], backoff=0.05)
        arrivals: list[float] = []
        original = sender._post

        def timed(url: str, body: bytes, timeout: float) -> None:
            arrivals.append(time.monotonic())
            original(url, body, timeout)

        sender._post = timed
        sender.start()
        try:
            sender.send({"text": "x"})
            receiver.wait_for(lambda posts: len(posts) == 1)
        finally:
            sender.stop()
    assert len(arrivals) == 4 and len(receiver.posts) == 1
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1 and gaps[2] >= 0.2  # 0.05 s, doubled each time


def test_a_refused_post_is_not_retried(caplog: pytest.LogCaptureFixture) -> None:
    with receiving() as receiver:
        receiver.statuses = [400, 200]
        sender = WebhookSender([receiver.url], backoff=0.01)
        sender.start()
        try:
            sender.send({"text": "x"}, label="watcher_price_monitor: error")
            deadline = time.monotonic() + 10
            while not receiver.paths and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.3)  # a retry, were there one, would come after 0.01 s
        finally:
            sender.stop()
    assert receiver.paths == [receiver.paths[0]] and receiver.posts == []
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "refused" in errors[0].getMessage()
    assert "watcher_price_monitor: error" in errors[0].getMessage()


def test_send_returns_while_the_receiver_still_holds_the_post() -> None:
    """Never blocks the page: the post waits in the sender's thread, not in send()."""
    with receiving() as receiver:
        receiver.hold = threading.Event()
        sender = WebhookSender([receiver.url])
        sender.start()
        try:
            sender.send({"text": "first"})
            assert receiver.arrived.wait(10)
            sender.send({"text": "second"})  # returns although the first post hangs
            assert not receiver.hold.is_set() and receiver.posts == []
            receiver.hold.set()
            receiver.wait_for(lambda posts: len(posts) == 2)
        finally:
            sender.stop()


def test_no_secret_of_a_webhook_url_reaches_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    port = free_port()  # nobody listens there
    unreachable = f"http://bot:{TOKEN}-pw@127.0.0.1:{port}/bot{TOKEN}/sendMessage?key={TOKEN}"
    with receiving(f"/services/{TOKEN}?token={TOKEN}") as receiver:
        receiver.statuses = [500] * 3
        sender = WebhookSender([receiver.url, unreachable], backoff=0.01, attempts=3)
        sender.start()
        try:
            sender.send({"text": "x"}, label="watcher_price_monitor: error")
            deadline = time.monotonic() + 15
            while sender.pending and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            sender.stop()
    assert caplog.records, "the failures were not logged at all"
    assert TOKEN not in caplog.text
    assert f"http://127.0.0.1:{port}/…" in caplog.text  # the host is named, the rest is not


def test_where_and_scrub_keep_only_the_host() -> None:
    url = f"https://user:{TOKEN}@hooks.example.com:8443/services/{TOKEN}?token={TOKEN}"
    assert where(url) == "https://hooks.example.com:8443/…"
    assert TOKEN not in scrub(f"HTTP Error 500 for {url} (path /services/{TOKEN})", url)


def test_a_message_is_utf8_json() -> None:
    posted: list[bytes] = []
    sender = WebhookSender(["http://127.0.0.1:9/"], post=lambda url, body, t: posted.append(body))
    sender.start()
    try:
        sender.send({"text": "Ошибка <b>"})
        deadline = time.monotonic() + 5
        while not posted and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        sender.stop()
    assert json.loads(posted[0].decode("utf-8")) == {"text": "Ошибка <b>"}
