"""The row's rule is one rule on both databases: PostgreSQL decides an agent's row in SQL
(``office_recompute``, which flushes, heartbeats, registrations and retirements all call),
SQLite in Python (``AgentState``). Hypothesis writes the same fleet's life to both, through
the production write path, with many events at the same instant, and holds the rows, the
stored runs and outcomes and the day numbers equal between the two and to a tiny model of the
rule (tests/db/row_rule_ops.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from celery_office import create_office_engine

from .row_rule_ops import (
    ENDS,
    NODES,
    T0,
    TASKS,
    TIMES,
    Beat,
    End,
    Fleet,
    Flush,
    Metrics,
    Op,
    Register,
    Retire,
    Start,
    clear,
    days,
    decisive,
    model_days,
    model_row,
    rows,
)

PROCESSES = [(node, pid) for node in NODES for pid in (0, 1)]  # a main and a pool process
RUNS = [(node, pid, task_id) for node, pid in PROCESSES
        for task_id, agent_id in TASKS.items() if agent_id in NODES[node]]
SERVED = [(node, pid, agent_id) for node, pid in PROCESSES for agent_id in NODES[node]]
TEXTS = ("Сбор цен", "Отчёт", None)

times = st.sampled_from(TIMES)
starts = st.builds(lambda run, text, at: Start(*run, text, at),
                   st.sampled_from(RUNS), st.sampled_from(TEXTS), times)
ends = st.builds(lambda run, how, at, metrics: End(*run, how, at, metrics),
                 st.sampled_from(RUNS), st.sampled_from(sorted(ENDS)), times,
                 st.none() | st.integers(0, 3))
metrics = st.builds(lambda served, value, at: Metrics(*served, value, at),
                    st.sampled_from(SERVED), st.integers(0, 3), times)
flushes = st.sampled_from(PROCESSES).map(lambda process: Flush(*process))
nodes = st.sampled_from(sorted(NODES))
workers = st.one_of(nodes.map(Beat), st.builds(Register, nodes, st.none() | times),
                    nodes.map(Retire))


@st.composite
def bursts(draw: st.DrawFn) -> list[Op]:
    """Runs of one agent that start at one instant in one process: the tie the rule breaks."""
    node, pid, agent_id = draw(st.sampled_from(SERVED))
    mine = sorted(t for t, a in TASKS.items() if a == agent_id)
    task_ids = draw(st.lists(st.sampled_from(mine), min_size=2, max_size=3, unique=True))
    at = draw(times)
    return [Start(node, pid, task_id, draw(st.sampled_from(TEXTS)), at) for task_id in task_ids]


# starts, ends and flushes weigh most: one_of draws its branches about evenly
OPERATIONS = st.lists(
    st.one_of(bursts(), *(op.map(lambda o: [o]) for op in (
        starts, starts, ends, ends, flushes, flushes, metrics, workers))),
    min_size=1, max_size=25,
).map(lambda groups: [op for group in groups for op in group])

W1 = "w1@host"
SAME_INSTANT = [Start(W1, 0, "t-b", "B", T0), Start(W1, 0, "t-a", "A", T0), Flush(W1, 0)]
# the same, written by two processes, then a registration recomputes the row
SAME_INSTANT_TWO_WRITERS = [Start(W1, 0, "t-b", "B", T0), Flush(W1, 0),
                            Start(W1, 1, "t-a", "A", T0), Flush(W1, 1), Register(W1, None),
                            Start(W1, 1, "t-a", "A", T0), Start(W1, 0, "t-b", "B", T0),
                            Flush(W1, 1), Flush(W1, 0), Beat(W1)]


examples_run = 0


@pytest.fixture
def engines(pg_url: str, sqlite_url: str, record_property) -> Iterator[dict[str, Engine]]:
    """One database of each kind for all the examples of a test (emptied between them); says
    how many examples ran (the figure the notes quote)."""
    made = {"postgresql": create_office_engine(pg_url), "sqlite": create_office_engine(sqlite_url)}
    before = examples_run
    yield made
    for engine in made.values():
        engine.dispose()
    record_property("examples", examples_run - before)
    print(f"row rule property: {examples_run - before} examples on both databases")


def _same_rows(fleet: Fleet, after: str) -> None:
    pg, lite = (rows(engine) for engine in fleet.engines.values())
    assert pg == lite, f"the rows differ after {after}"


def _check(fleet: Fleet) -> None:
    """Both databases alike, and as the model says."""
    pg, lite = fleet.engines.values()
    _same_rows(fleet, "the last flushes")
    assert decisive(pg) == decisive(lite)
    assert days(pg) == days(lite) == model_days(fleet)
    runs, outcomes = decisive(pg)
    for agent_id, (status, task, row_metrics) in rows(pg).items():
        if status == "offline":  # retired: only a write of the agent brings it back
            assert task is None
        else:
            assert (status, task) == model_row(runs.get(agent_id, []), outcomes.get(agent_id))
        outcome = fleet.outcomes.get(agent_id)
        if outcome is not None:
            stored = outcomes[agent_id]
            assert stored[:3] == (outcome.at, outcome.status.value, outcome.task)
        assert row_metrics == fleet.metrics.get(agent_id, ({}, 0.0))[0]


@settings(max_examples=300, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(operations=OPERATIONS)
@example(operations=SAME_INSTANT)
@example(operations=SAME_INSTANT_TWO_WRITERS)
def test_both_databases_make_the_same_rows_by_one_rule(
    engines: dict[str, Engine], operations: list[Op]
) -> None:
    global examples_run
    examples_run += 1
    clear(engines)
    fleet = Fleet(engines)
    for index, operation in enumerate(operations):
        fleet.apply(operation)
        _same_rows(fleet, f"operation {index}: {operation}")
    for node, pid in sorted(fleet.processes):
        fleet.flush(node, pid)
    _check(fleet)

