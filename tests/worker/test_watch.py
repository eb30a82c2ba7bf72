"""The worker's judgement against real databases: a missed schedule and an overlong run turn
the agent to warning, and the event that cures each clears it, whoever writes next."""

from __future__ import annotations

import time
from datetime import timedelta
from types import SimpleNamespace

from celery.schedules import schedule

from celery_office import AgentStatus, agent_statuses, create_office_engine
from celery_office.core.changes import Batch, RunChange
from celery_office.core.texts import RU
from celery_office.db.batches import apply_batch
from celery_office.db.workers import register_worker
from celery_office.worker.watch import Expected, Limit, Watch

from ..db.test_store import AGENTS

MISSED_PREFIX, OVERLONG_PREFIX = RU.missed, RU.overlong  # the default language's

AGENT = "watcher_price_monitor"
NODE = "w1@host"


def _row(engine):
    with engine.connect() as conn:
        return {row.agent_id: row for row in agent_statuses(conn)}[AGENT]


def _judge(engine, watch: Watch, running=()) -> None:
    with engine.begin() as conn:
        watch.judge(conn, node_name=NODE, running=running)


def _start(engine, task_id: str, *, ended: bool = False, task_name: str | None = None) -> None:
    batch = Batch(runs={task_id: RunChange(AGENT, "Сканирование цен", time.time(), ended=ended)},
                  touched={AGENT})
    if task_name is not None:
        batch.started.add((AGENT, task_name))
    with engine.begin() as conn:
        apply_batch(conn, batch, AGENTS, NODE)


def _registered(db_url: str):
    engine = create_office_engine(db_url)
    with engine.begin() as conn:
        register_worker(conn, node_name=NODE, hostname="host", pid=1, agents=list(AGENTS.values()))
    return engine


def test_a_missed_run_warns_after_its_grace_and_the_next_start_clears_it(db_url: str) -> None:
    engine = _registered(db_url)
    every = Expected(AGENT, "app.scan", "Сканирование цен", schedule(timedelta(seconds=1)), 0.5)
    watch = Watch(expected=[every], limits={}, timezone="Europe/Moscow")
    _judge(engine, watch)  # the office starts watching now
    assert _row(engine).status is AgentStatus.ok
    time.sleep(1.8)  # one interval and the grace, with no run
    _judge(engine, watch)
    row = _row(engine)
    assert row.status is AgentStatus.warning
    assert row.task.startswith(f"{MISSED_PREFIX}Сканирование цен — ожидался ")
    assert row.task.endswith("(Europe/Moscow)")
    _start(engine, "t-1", task_name="other.task")  # not the expected task: still missed
    assert _row(engine).status is AgentStatus.warning
    _start(engine, "t-2", task_name="app.scan")  # the cure, written by a batch
    row = _row(engine)
    assert (row.status, row.task) == (AgentStatus.ok, "Сканирование цен")
    _judge(engine, watch)  # and the judge agrees: it started in time
    assert _row(engine).status is AgentStatus.ok
    engine.dispose()


def test_an_overlong_run_warns_while_it_runs_and_its_end_clears_it(db_url: str) -> None:
    engine = _registered(db_url)
    watch = Watch(expected=[], limits={"app.scan": Limit(AGENT, "Сканирование цен", 60.0)})
    _start(engine, "t-1")
    request = SimpleNamespace(name="app.scan", id="t-1", time_start=time.time() - 7500)
    _judge(engine, watch, running=[request])
    row = _row(engine)
    assert row.status is AgentStatus.warning
    assert row.task == f"{OVERLONG_PREFIX}Сканирование цен — идёт 2 ч 05 мин, лимит 1 мин"
    _start(engine, "t-1", ended=True)  # the run's end, written by a batch
    assert (_row(engine).status, _row(engine).task) == (AgentStatus.ok, None)
    engine.dispose()


def test_a_run_within_its_limit_is_no_alert_and_a_stale_one_is_dropped(db_url: str) -> None:
    engine = _registered(db_url)
    watch = Watch(expected=[], limits={"app.scan": Limit(AGENT, "Сканирование цен", 60.0)})
    _start(engine, "t-1")
    _judge(engine, watch,
           running=[SimpleNamespace(name="app.scan", id="t-1", time_start=time.time() - 90)])
    assert _row(engine).status is AgentStatus.warning
    _judge(engine, watch, running=[])  # the run is gone from this worker without its end
    assert _row(engine).status is AgentStatus.ok
    engine.dispose()


def test_an_overlong_alert_whose_run_is_gone_is_dropped_by_any_judge(db_url: str) -> None:
    """Its worker died (or came back under another name): the run left the table with it,
    and the next judge of the agent drops the warning nobody else would."""
    engine = _registered(db_url)
    limits = {"app.scan": Limit(AGENT, "Сканирование цен", 60.0)}
    _start(engine, "t-1")
    running = [SimpleNamespace(name="app.scan", id="t-1", time_start=time.time() - 90)]
    _judge(engine, Watch(expected=[], limits=limits), running=running)
    assert _row(engine).status is AgentStatus.warning
    with engine.begin() as conn:  # the dead worker's run, cleared by a heartbeat
        conn.exec_driver_sql("delete from office_agent_run")
    with engine.begin() as conn:
        Watch(expected=[], limits=limits).judge(conn, node_name="w2@other", running=[])
    assert _row(engine).status is AgentStatus.ok
    engine.dispose()


def test_two_missed_schedules_of_one_agent_are_two_alerts_and_the_second_shows_at_once(
    db_url: str,
) -> None:
    """Once, one missed-schedule alert was kept per agent: the second missed entry hid behind
    the first, and when the first's task started the agent read ok until the next judgement.
    Each missed entry is its own alert; the earliest set shows, the next takes its place."""
    engine = _registered(db_url)
    scan = Expected(AGENT, "app.scan", "Сканирование цен", schedule(timedelta(seconds=1)), 0.5)
    report = Expected(AGENT, "app.report", "Отчёт", schedule(timedelta(seconds=1)), 0.5)
    watch = Watch(expected=[scan, report], limits={}, timezone="UTC")
    _judge(engine, watch)  # the office starts watching now
    time.sleep(1.8)
    _judge(engine, watch)
    with engine.connect() as conn:
        subjects = sorted(conn.exec_driver_sql(
            "select subject from office_agent_alert where kind = 'missed'").scalars())
    assert subjects == ["app.report", "app.scan"]
    shown = _row(engine).task
    assert _row(engine).status is AgentStatus.warning and shown.startswith(MISSED_PREFIX)
    assert shown.startswith(f"{MISSED_PREFIX}Отчёт — ")  # set at once: the subject breaks ties
    first, second = "app.report", "Сканирование цен"
    _start(engine, "t-1", task_name=first)  # the first one's cure, written by a batch
    _start(engine, "t-1", ended=True)
    row = _row(engine)
    assert row.status is AgentStatus.warning, "the second missed schedule hid behind the first"
    assert row.task.startswith(f"{MISSED_PREFIX}{second} — ожидался ")
    engine.dispose()


def test_overlong_runs_of_two_workers_are_each_their_own_judges(db_url: str) -> None:
    """Each overlong run is an alert of its own, kept by the worker that runs it."""
    engine = _registered(db_url)
    limits = {"app.scan": Limit(AGENT, "Сканирование цен", 60.0)}
    _start(engine, "t-1")
    _start(engine, "t-2")
    with engine.begin() as conn:
        Watch(expected=[], limits=limits).judge(conn, node_name="w1@host", running=[
            SimpleNamespace(name="app.scan", id="t-1", time_start=time.time() - 90)])
        Watch(expected=[], limits=limits).judge(conn, node_name="w2@other", running=[
            SimpleNamespace(name="app.scan", id="t-2", time_start=time.time() - 4000)])
    with engine.connect() as conn:
        owners = dict(conn.exec_driver_sql(
            "select subject, node_name from office_agent_alert where kind = 'overlong'").all())
    assert owners == {"t-1": "w1@host", "t-2": "w2@other"}
    with engine.begin() as conn:  # w1's run ended as far as w1 knows: only its alert goes
        Watch(expected=[], limits=limits).judge(conn, node_name="w1@host", running=[])
    assert _row(engine).task.endswith("идёт 1 ч 06 мин, лимит 1 мин")
    engine.dispose()
