"""The oracle: what each agent's row must say once the faults stop, from the tasks' own records.

Independent of celery-office: it reads only the files the tasks append (``chaos_app.record``),
the harness's log of what it did (faults, worker starts and ends), and ``agents.yaml``
parsed here with PyYAML. It imports nothing from ``celery_office``. The rules come from the
README's table ("What the table shows") and from "When the database misbehaves":

1. **Working.** A run still in progress when the rows are checked (a start record, no end, its
   process alive) makes its agent ``ok`` with the registry's text of that task (the newest run's
   text when several).
2. **Otherwise the newest verdict.** Each run that ended adds one verdict at the time it ended:
   success ``ok`` and no task (``@metrics`` tasks replace the metrics with their result);
   failure ``error``, ``Ошибка: ChaosError: <message>``; retry ``warning``,
   ``Повтор: <text> — RateLimited: <message>`` (compared as a prefix: what follows, such as
   when the next try is due, is the plugin's to add). A revoked or terminated run, and a run whose
   whole worker was SIGKILLed, gives none ("leaves the working state; not an error"; the run is
   cleared by the worker's restart under the same name or another worker's heartbeat).
3. **A pool process SIGKILLed** (prefork): its run in progress gets the verdict ``error``,
   ``Ошибка: WorkerLostError...`` (the README: "including a pool process killed"), at the time of
   the kill, from the worker's main process; only the type is compared. Killed right after an
   end (``pool_kill_after_end``, issue 30): the runs that ended in it keep certain verdicts; one
   started in it within half a second of the kill may give WorkerLostError or nothing.
4. **Warm stop.** Agents that no live worker serves become ``offline``. Here only ``chaos_solo``
   is served by one worker alone (w3); a restart brings it back from its last outcome and gives
   no verdict of its own ("a restart, warm or not, is not a success": an error stays). When w3
   is stopped for good after the faults, ``chaos_solo`` must read ``offline``.
5. **Ties and doubt.** The plugin orders verdicts by the time its signal handler ran; the
   records by the time the task wrote them, a moment earlier. Every verdict therefore has a
   window ``[lo, hi]``; any verdict that may be the newest (``hi`` >= the latest ``lo`` of the
   certain ones) is accepted. A verdict is *uncertain* (it may legitimately be missing) when:
   - its worker was SIGKILLed before the database could have taken it: not written within one
     flush when the database was healthy, nor within ``RETRY_MAX`` + a flush of the end of a
     database fault (changes wait in the main process's memory and die with it); except for a
     main process SIGKILLed by ``main_kill_after_end`` (issue 30's promise of a bounded loss):
     there only what ended within ``lost_window`` seconds before the kill, or after it, may be
     missing, whatever the database did;
   - its pool process was SIGKILLed within half a second of it (not handed over yet);
   - it is an error text of the trigger's agent written while the trigger refused it ("drops
     only the refused agent's change");
   A main process paused (SIGSTOP) writes what it held once it runs again: "written by"
   starts at the end of the pause.
   With no certain verdict, the agent's first state (``ok``, idle, no metrics) is accepted too.
6. ``last_activity`` is at most two heartbeats and a flush old for every agent a live worker serves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .schedule import DB_KINDS

__all__ = ["Verdict", "Expected", "Oracle", "read_records", "METRICS_TASKS", "RETRY_MAX"]

METRICS_TASKS = {"chaos_app.scan", "chaos_app.long_report", "chaos_app.solo_index",
                 "chaos_app.probe"}
RETRY_MAX = 5.0  # the writer's longest back-off between two attempts (README: "up to 5 s")
SIGNAL_SLACK = 0.5  # a verdict's handler runs this long after the record at most
LOST_SLACK = 3.0  # the main process sees a killed pool process within this
HANDOVER_SLACK = 0.5  # a pool process hands over at least this often
WRITE_SLACK = 1.0  # a change reaches a healthy database within this
FAULT_SLACK = 0.5  # a fault's effect outlasts its end by this (reconnects)


def read_records(directory: Path) -> list[dict[str, Any]]:
    """Every record of every process, in time order (a torn last line is skipped)."""
    records = []
    for path in sorted(directory.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return sorted(records, key=lambda r: r["t"])


@dataclass
class Verdict:
    status: str
    task: str | None
    lo: float
    hi: float
    certain: bool = True
    prefix: bool = False  # compare ``task`` as a prefix (WorkerLostError's text has a job id)
    metrics: dict[str, Any] | None = None  # new metrics, or None: unchanged
    why: str = ""
    run: str = ""  # the task id
    worker: str = ""  # the worker (short name) whose process ran it

    def label(self) -> str:
        text = f"{self.task}..." if self.prefix else repr(self.task)
        return f"{self.status} {text} ({self.why}{'' if self.certain else ', uncertain'})"


@dataclass
class Expected:
    agent: str
    states: list[Verdict]  # any one of them
    metrics: list[dict[str, Any]]  # any one of them
    live: bool  # served by a live worker: last_activity must be recent
    notes: list[str] = field(default_factory=list)

    def accepts(self, status: str, task: str | None) -> bool:
        for state in self.states:
            if state.status != status:
                continue
            if state.prefix and task is not None and task.startswith(state.task or ""):
                return True
            if not state.prefix and state.task == task:
                return True
        return False


class Oracle:
    """Computes :class:`Expected` rows.

    Parameters:
        agents_file: ``agents.yaml``.
        records: from :func:`read_records`.
        workers: short name -> :class:`chaos_workers.Worker` (incarnations).
        injected: the faults as carried out (:class:`chaos_faults.Injected`).
        serving_at_end: short names of the workers running when the rows are checked.
        solo: the short name of the worker that alone serves ``chaos_solo``.
        heartbeat: the workers' heartbeat interval; flush: their flush interval.
        lost_window: seconds of ends before a ``main_kill_after_end`` that may be lost.
    """

    def __init__(self, agents_file: Path, records: list[dict[str, Any]], workers: dict[str, Any],
                 injected: list[Any], serving_at_end: set[str], solo: str,
                 heartbeat: float, flush: float, *, lost_window: float = 0.1) -> None:
        spec = yaml.safe_load(agents_file.read_text(encoding="utf-8"))
        self.route = {task: (agent_id, text)
                      for agent_id, agent in spec["agents"].items()
                      for task, text in agent["tasks"].items()}
        self.agents = sorted(spec["agents"])
        self.records = records
        self.workers = workers
        self.injected = injected
        self.serving_at_end = serving_at_end
        self.solo = solo
        self.heartbeat = heartbeat
        self.flush = flush
        self.db_faults = sorted(
            (f.begin, (f.end if f.kind != "pg_terminate" else f.begin) + FAULT_SLACK)
            for f in injected if f.kind in DB_KINDS
        )
        self.triggers = [(f.begin, f.end) for f in injected if f.kind == "trigger_refuse"]
        self.pool_kills = {f.details["pid"]: f.begin for f in injected
                           if f.kind in ("pool_kill", "pool_kill_after_end")
                           and "pid" in f.details}
        self.after_end = {f.details["pid"] for f in injected
                          if f.kind == "pool_kill_after_end" and "pid" in f.details}
        self.main_kills = {f.details["pid"]: f.details.get("killed", f.begin) for f in injected
                           if f.kind == "main_kill_after_end" and "killed" in f.details}
        self.lost_window = lost_window
        self.pauses: dict[str, list[tuple[float, float]]] = {}  # worker -> its main's pauses
        for f in injected:
            if f.kind == "main_pause" and f.target and f.end is not None:
                self.pauses.setdefault(f.target, []).append((f.begin, f.end))
        self.notes: list[str] = []

    # ------------------------------------------------------------------ time

    def written_by(self, t: float) -> float:
        """The latest moment a change made at ``t`` in a live main process is in the table."""
        x = t
        for begin, end in self.db_faults:
            if end + RETRY_MAX + WRITE_SLACK < x:
                continue  # over, back-off included, before the change was made
            if begin > x + WRITE_SLACK:
                break  # starts after the change was written
            x = max(x, end) + RETRY_MAX + WRITE_SLACK
        return x + WRITE_SLACK

    def written_by_on(self, t: float, worker: str | None) -> float:
        """:meth:`written_by` for a change made at ``t`` on ``worker``, whose main process
        may have been paused (SIGSTOP) meanwhile: it writes nothing until it runs again."""
        due = self.written_by(t)
        for begin, end in sorted(self.pauses.get(worker or "", ())):
            if begin <= due and end + FAULT_SLACK >= t:
                due = max(due, self.written_by(end + FAULT_SLACK))
        return due

    def held(self, verdict: Verdict) -> bool:
        """Was the verdict's worker's main process paused before it could write it? What a
        paused main process holds lands as one batch when it runs again, one outcome per
        agent (the newest): the row may never show this one."""
        return self.written_by_on(verdict.lo, verdict.worker) > self.written_by(verdict.lo)

    def _db_fault_during(self, a: float, b: float) -> bool:
        return any(begin <= b and end >= a for begin, end in self.db_faults)

    # ------------------------------------------------------------------ processes

    def _incarnation(self, node: str | None, t: float) -> tuple[str | None, Any]:
        short = (node or "").split("@", 1)[0]
        worker = self.workers.get(short)
        if worker is None:
            return short or None, None
        for incarnation in reversed(worker.incarnations):
            if incarnation.started <= t + 0.5:
                return short, incarnation
        return short, None

    def _killed_before_written(self, worker: str | None, incarnation: Any,
                               verdict: Verdict) -> bool:
        if incarnation is None or incarnation.how != "killed":
            return False
        if incarnation.pid in self.main_kills:  # the bounded loss promised
            return verdict.lo > self.main_kills[incarnation.pid] - self.lost_window
        at = verdict.hi
        for begin, end in self.pauses.get(worker or "", ()):
            if begin <= at <= end + FAULT_SLACK:
                at = end + FAULT_SLACK  # held by the paused main process until it ran again
        return self.written_by(at) > (incarnation.stop_began or incarnation.ended)

    # ------------------------------------------------------------------ verdicts

    def runs(self) -> dict[tuple[str, int], dict[str, Any]]:
        """(task id, attempt) -> its start and end records."""
        runs: dict[tuple[str, int], dict[str, Any]] = {}
        for record in self.records:
            if record["ev"] in ("start", "end"):
                key = (record["id"], record.get("retries", 0))
                runs.setdefault(key, {})[record["ev"]] = record
        return runs

    def verdicts(self, now: float, alive_pids: set[int]) -> tuple[dict[str, list[Verdict]],
                                                                   dict[str, list[Verdict]]]:
        """Per agent: the verdicts of ended runs, and the runs still in progress (as working)."""
        verdicts: dict[str, list[Verdict]] = {a: [] for a in self.agents}
        working: dict[str, list[Verdict]] = {a: [] for a in self.agents}
        for (task_id, _attempt), run in self.runs().items():
            start = run.get("start")
            if start is None:
                continue
            agent, text = self.route[start["name"]]
            short, incarnation = self._incarnation(start.get("node"), start["t"])
            end = run.get("end")
            verdict = None
            if end is not None:
                verdict = self._ended(end, agent, text)
            elif start["pid"] in self.pool_kills and self.pool_kills[start["pid"]] >= start["t"]:
                killed = self.pool_kills[start["pid"]]
                verdict = Verdict("error", "Ошибка: WorkerLostError", killed, killed + LOST_SLACK,
                                  prefix=True, why=f"pool process {start['pid']} killed")
                if start["pid"] in self.after_end and killed - start["t"] < HANDOVER_SLACK:
                    verdict.certain = False  # started just before: maybe never accepted
            elif start["pid"] in alive_pids:
                working[agent].append(Verdict("ok", text, start["t"], start["t"],
                                              why=f"run {task_id} in progress"))
                continue
            if verdict is None:  # revoked, terminated, or its whole worker killed: no verdict
                continue
            if self._killed_before_written(short, incarnation, verdict):
                verdict.certain = False
            verdict.run, verdict.worker = task_id, short or ""
            killed = self.pool_kills.get(start["pid"])
            if (end is not None and killed is not None and start["pid"] not in self.after_end
                    and 0 <= killed - verdict.lo < HANDOVER_SLACK):
                verdict.certain = False
            if agent == "chaos_reviews" and verdict.status == "error":
                upto = self.written_by(verdict.hi) + FAULT_SLACK
                if any(b <= upto and e + FAULT_SLACK >= verdict.lo for b, e in self.triggers):
                    verdict.certain = False
            verdicts[agent].append(verdict)
        return verdicts, working

    def _ended(self, end: dict[str, Any], agent: str, text: str | None) -> Verdict | None:
        lo, hi = end["t"], end["t"] + SIGNAL_SLACK
        outcome = end["outcome"]
        name = end["name"].rsplit(".", 1)[-1]
        if outcome == "ok":
            metrics = end.get("result") if end["name"] in METRICS_TASKS else None
            return Verdict("ok", None, lo, hi, metrics=metrics, why=f"{name} {end['seq']} ok")
        if outcome == "error":
            return Verdict("error", f"Ошибка: ChaosError: {end['msg']}", lo, hi,
                           why=f"{name} {end['seq']} failed")
        if outcome == "retry":
            return Verdict("warning", f"Повтор: {text} — RateLimited: {end['msg']}", lo, hi,
                           prefix=True, why=f"{name} {end['seq']} retried")
        return None  # interrupted (a terminate): no verdict

    # ------------------------------------------------------------------ expectations

    def expected(self, now: float, alive_pids: set[int]) -> dict[str, Expected]:
        verdicts, working = self.verdicts(now, alive_pids)
        out = {}
        for agent in self.agents:
            live = agent != "chaos_solo" or self.solo in self.serving_at_end
            metrics = self._candidates([v for v in verdicts[agent] if v.metrics is not None])
            metric_sets = [v.metrics for v in metrics if v.metrics is not None]
            if not metrics or not any(v.certain for v in verdicts[agent] if v.metrics is not None):
                metric_sets.append({})
            if not live:
                states = [Verdict("offline", None, now, now, why="no live worker serves it")]
            elif working[agent]:
                newest = max(v.lo for v in working[agent])
                states = [v for v in working[agent] if v.lo >= newest - SIGNAL_SLACK]
            else:
                states = self._candidates(verdicts[agent])
                if not any(v.certain for v in verdicts[agent]):
                    states.append(Verdict("ok", None, 0.0, 0.0, why="first state"))
            out[agent] = Expected(agent, states, metric_sets, live)
        return out

    @staticmethod
    def _candidates(verdicts: list[Verdict]) -> list[Verdict]:
        """The verdicts that may be the newest one applied (rule 5)."""
        certain = [v.lo for v in verdicts if v.certain]
        latest = max(certain) if certain else float("-inf")
        return [v for v in verdicts if v.hi >= latest]
