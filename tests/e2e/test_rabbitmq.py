"""The same office on RabbitMQ: a prefork worker consuming from AMQP (results in Redis)."""

from __future__ import annotations

import os

import pytest
from celery import Celery
from kombu import Connection

from celery_office import AgentStatus

from .conftest import Office
from .test_worker import ALL_AGENTS, _is

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

AMQP_URL = os.environ.get("OFFICE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")


@pytest.fixture
def amqp_url() -> str:
    try:
        with Connection(AMQP_URL, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:  # pragma: no cover - depends on the machine
        message = f"RabbitMQ at {AMQP_URL} unreachable: {type(exc).__name__}: {exc}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message + " (CI requires the end-to-end tests)")
        pytest.skip(message)
    return AMQP_URL


@pytest.fixture
def office_amqp(pg_url, amqp_url, redis_url, tmp_path):
    office = Office(pg_url, amqp_url, tmp_path, backend_url=redis_url)
    client = Celery("office_amqp_client", broker=amqp_url, backend=redis_url)
    office.send = lambda name, **kwargs: client.send_task(  # type: ignore[method-assign]
        f"office_app.{name}", kwargs=kwargs, queue=office.queue
    )
    yield office
    office.close()
    with client.connection_for_write() as conn:
        conn.default_channel.queue_delete(office.queue)
    client.close()


def test_working_idle_error_and_offline_on_rabbitmq(office_amqp):
    worker = office_amqp.worker()
    office_amqp.wait_for(lambda r: set(r) == ALL_AGENTS, what="registration")
    result = office_amqp.send("scan_prices", duration=2.0)
    office_amqp.wait_for(
        _is("watcher_price_monitor", AgentStatus.ok, "Сканирование цен конкурентов"),
        what="working",
    )
    result.get(timeout=20)
    office_amqp.wait_for(_is("watcher_price_monitor", AgentStatus.ok, None), what="idle")
    office_amqp.send("fail_scan")
    office_amqp.wait_for(_is("watcher_price_monitor", AgentStatus.error), what="error")
    assert worker.stop() == 0
    rows = office_amqp.rows()
    assert {a: r.status for a, r in rows.items()} == {a: AgentStatus.offline for a in ALL_AGENTS}
