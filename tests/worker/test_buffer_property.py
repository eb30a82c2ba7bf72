"""The buffers of a pool process and its main process, driven by Hypothesis through any order of
starts, ends, hand-overs that fail or land late, writes that fail, and pool processes killed
mid-run. Once everything is written the table shows the run in progress, and no ended run but
one whose end died unsent with its pool process (the main process's lost-run check,
``requests.py``, ends those); when no process was lost, every start and end is counted once.
No thread, no database: the table is a dictionary that applies each written batch as
``office_apply_changes`` does its runs (a start inserts the run, an end deletes it)."""

from __future__ import annotations

from collections import Counter

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from celery_office.core.changes import Batch
from celery_office.core.statuses import AgentStatus
from celery_office.worker.buffer import StatusBuffer

AGENT = "watcher_price_monitor"
COUNTED_AS: dict[AgentStatus | None, str] = {
    AgentStatus.ok: "succeeded", AgentStatus.error: "failed", None: "revoked"}


class PoolAndMain(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.pool = StatusBuffer()
        self.main = StatusBuffer(remember_own_ends=True)
        self.in_the_socket: list[Batch] = []  # handed over, not yet received by the main process
        self.table: dict[str, str] = {}  # task_id -> agent: the runs the table shows running
        self.counted: Counter[str] = Counter()  # what the written batches counted
        self.done: Counter[str] = Counter()  # what happened
        self.running: str | None = None  # a pool process runs one task at a time
        self.ids = 0
        self.ended_in_this_pool: set[str] = set()
        self.ended_in_a_lost_pool: set[str] = set()  # their ends may have died unsent
        self.lost_any = False

    # ------------------------------------------------------------------ what tasks do

    @precondition(lambda self: self.running is None)
    @rule()
    def start(self) -> None:
        self.ids += 1
        self.running = f"t-{self.ids}"
        self.pool.run_started(self.running, AGENT, "Сканирование")
        self.done["runs"] += 1

    @precondition(lambda self: self.running is not None)
    @rule(text=st.sampled_from(["Шаг 2", None]))
    def progress(self, text: str | None) -> None:
        assert self.running is not None
        self.pool.run_progress(self.running, AGENT, text, {"n": 1})

    @precondition(lambda self: self.running is not None)
    @rule(outcome=st.sampled_from([AgentStatus.ok, AgentStatus.error, None]))
    def end(self, outcome: AgentStatus | None) -> None:
        assert self.running is not None
        self.pool.run_finished(self.running, AGENT, outcome)
        self.pool.run_finished(self.running, AGENT, outcome, only_if_active=True)  # postrun
        self.done[COUNTED_AS[outcome]] += 1
        self.ended_in_this_pool.add(self.running)
        self.running = None

    @rule(twice=st.booleans())
    def kill_the_pool_process(self, twice: bool) -> None:
        """Its pending changes die with it; the main process ends its run (WorkerLostError;
        a hard time limit reports it twice). What it already sent stays in the socket."""
        if self.running is not None:
            for _ in range(2 if twice else 1):
                self.main.run_finished(self.running, AGENT, AgentStatus.error,
                                       text="WorkerLostError")
        self.pool = StatusBuffer()
        self.running = None
        self.ended_in_a_lost_pool |= self.ended_in_this_pool
        self.ended_in_this_pool = set()
        self.lost_any = True

    # ------------------------------------------------------------------ the flushers

    @rule(sent=st.booleans())
    def hand_over(self, sent: bool) -> None:
        batch, first_out = self.pool.take()
        if not sent:
            _not_landed(self.pool, batch, first_out)
            return
        if batch:
            self.in_the_socket.append(batch)
        self.pool.settle(batch, first_out, ok=True)

    @precondition(lambda self: self.in_the_socket)
    @rule()
    def receive(self) -> None:
        self.main.absorb(self.in_the_socket.pop(0))

    @rule(landed=st.booleans())
    def write(self, landed: bool) -> None:
        batch, first_out = self.main.take()
        if not landed:
            _not_landed(self.main, batch, first_out)
            return
        for task_id, run in batch.runs.items():
            if run.ended:
                self.table.pop(task_id, None)
            else:
                self.table[task_id] = run.agent_id
        for count in batch.counts.values():
            for name in ("runs", *COUNTED_AS.values()):
                self.counted[name] += getattr(count, name)
        self.main.settle(batch, first_out, ok=True)

    def teardown(self) -> None:
        """Everything moves and lands: the table shows the run in progress and no other,
        but an end that died unsent."""
        for _ in range(3):
            self.hand_over(sent=True)
            while self.in_the_socket:
                self.receive()
            self.write(landed=True)
        running = {self.running} - {None}
        assert running <= set(self.table), "a run in progress is not shown"
        assert set(self.table) - running <= self.ended_in_a_lost_pool, "an ended run is shown"
        if not self.lost_any:
            assert +self.counted == +self.done


def _not_landed(buffer: StatusBuffer, batch: Batch, first_out: set[str]) -> None:
    """A hand-over or write that surely failed: the batch waits again, as the flushers do."""
    buffer.settle(batch, first_out, ok=False)
    buffer.put_back(batch)


PoolAndMain.TestCase.settings = settings(max_examples=300, stateful_step_count=40,
                                         deadline=None)
TestPoolAndMain = PoolAndMain.TestCase
