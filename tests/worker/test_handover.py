"""The hand-over socket between real forked processes: order kept, never blocking, bounded."""

from __future__ import annotations

import os
import pickle
import time

from celery_office.core.changes import Batch, Outcome, RunChange
from celery_office.core.statuses import AgentStatus
from celery_office.worker.handover import MAX_MESSAGE, Handover


def _start(task_id: str, agent: str = "a") -> Batch:
    return Batch(runs={task_id: RunChange(agent, "работает", time.time())}, touched={agent})


def _end(task_id: str, agent: str = "a") -> Batch:
    return Batch(
        runs={task_id: RunChange(agent, None, time.time(), ended=True)},
        outcomes={agent: Outcome(AgentStatus.ok, None, time.time())},
        touched={agent},
    )


def test_a_forked_process_hands_over_in_order_and_the_parent_receives_it_all() -> None:
    handover = Handover()
    pid = os.fork()
    if pid == 0:  # the pool process
        handover.after_fork_in_child()
        ok = all(handover.send(_start(f"t-{i}")) and handover.send(_end(f"t-{i}"))
                 for i in range(200))
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    received: list[Batch] = []
    assert handover.drain(received.append) == 400
    order = [(task_id, run.ended) for batch in received for task_id, run in batch.runs.items()]
    assert order == [(f"t-{i}", ended) for i in range(200) for ended in (False, True)]


def test_a_full_socket_fails_the_send_at_once_instead_of_blocking() -> None:
    handover = Handover()
    big = Batch(metrics={"a": ({"blob": "x" * (MAX_MESSAGE // 2)}, 0.0)}, touched={"a"})
    started = time.monotonic()
    sent = 0
    while handover.send(big):  # nobody receives: the send buffer fills up
        sent += 1
        assert sent < 10_000, "the socket never filled"
    assert time.monotonic() - started < 5
    received: list[Batch] = []
    assert handover.drain(received.append) == sent  # what went is all there
    assert handover.send(big)  # room again


def test_a_large_batch_is_cut_into_parts_of_whole_agents() -> None:
    batch = Batch()
    for agent in range(40):
        name = f"agent_{agent}"
        batch.runs[f"t-{agent}"] = RunChange(name, "т" * 200, 1.0)
        batch.metrics[name] = ({"notes": name + "м" * 4000}, 1.0)  # distinct texts
        batch.touched.add(name)
    parts = list(Handover.parts(batch))
    assert len(parts) > 1
    merged = Batch()
    for part in parts:
        assert {run.agent_id for run in part.runs.values()} <= part.touched
        merged.merge_older(part)
    assert merged.runs.keys() == batch.runs.keys() and merged.metrics == batch.metrics


def test_an_agent_part_too_large_for_a_message_goes_without_its_metrics_only() -> None:
    part = Batch(
        runs={"t-1": RunChange("a", "работает", 1.0)},
        outcomes={"a": Outcome(AgentStatus.ok, None, 2.0)},
        metrics={"a": ({"blob": "x" * (2 * MAX_MESSAGE)}, 2.0)},
        touched={"a"},
        started={("a", "app.scan")},
    )
    (sent,) = Handover.parts(part)
    assert sent.metrics == {}
    assert (sent.runs, sent.outcomes, sent.started) == (part.runs, part.outcomes, part.started)


def test_messages_are_the_parts_with_their_pickles() -> None:
    small = _end("t-1")
    ((part, data),) = Handover.messages(small)
    assert part is small and pickle.loads(data) == small
    large = Batch()
    for agent in range(40):
        name = f"agent_{agent}"
        large.metrics[name] = ({"notes": name + "м" * 4000}, 1.0)
        large.touched.add(name)
    messages = list(Handover.messages(large))
    assert [part for part, _ in messages] == list(Handover.parts(large))
    assert all(pickle.loads(data) == part for part, data in messages)
