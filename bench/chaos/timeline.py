"""What the oracle accepts of an agent's row at a moment in the middle of the run.

The oracle (``oracle.py``) judges the rows once, at the end. Issue 30's table locks need a
judgement during the run too: was a row read at ``S`` up to date, and since when was it behind?
:class:`Timeline` answers from the same records and rules, with every run's end known: at a
moment ``X`` an agent is working when a run of it started by ``X`` and had not ended (its end
record, the kill of its process, or its worker's end); otherwise its newest verdicts with
``lo <= X`` decide (rule 5's candidates). A row read at ``S`` is *up to date* when some moment
of ``[S - lag, S]`` accepts it: ``lag`` covers the hand-over, a flush, the handler's slack and a
pool kill's WorkerLostError.
"""

from __future__ import annotations

import bisect
import time
from typing import Any

from .oracle import LOST_SLACK, SIGNAL_SLACK, WRITE_SLACK, Expected, Oracle, Verdict

__all__ = ["Timeline", "LAG"]

LAG = LOST_SLACK + WRITE_SLACK + 0.5  # seconds a row may be behind a healthy database


class Timeline:
    """Per agent, its runs and verdicts sorted by time (built once, asked many times)."""

    def __init__(self, oracle: Oracle) -> None:
        self.oracle = oracle
        verdicts, _ = oracle.verdicts(time.time(), set())
        self.verdicts = {a: sorted(v, key=lambda x: x.lo) for a, v in verdicts.items()}
        self.vlo = {a: [v.lo for v in vs] for a, vs in self.verdicts.items()}
        self.runs: dict[str, list[tuple[float, float, str]]] = {a: [] for a in oracle.agents}
        for run in oracle.runs().values():
            start = run.get("start")
            if start is None:
                continue
            agent, text = oracle.route[start["name"]]
            self.runs[agent].append((start["t"], self._until(start, run.get("end")), text))
        for runs in self.runs.values():
            runs.sort()
        self.starts = {a: [r[0] for r in runs] for a, runs in self.runs.items()}
        self.longest = {a: max((u - s for s, u, _ in runs if u != float("inf")), default=0.0)
                        for a, runs in self.runs.items()}

    def _until(self, start: dict[str, Any], end: dict[str, Any] | None) -> float:
        if end is not None:
            return float(end["t"])
        killed = self.oracle.pool_kills.get(start["pid"])
        if killed is not None and killed >= start["t"]:
            return killed
        _, incarnation = self.oracle._incarnation(start.get("node"), start["t"])
        ended = getattr(incarnation, "stop_began", None) or getattr(incarnation, "ended", None)
        return float(ended) if ended else float("inf")

    def states(self, agent: str, x: float) -> list[Verdict]:
        """The states the oracle accepts for ``agent`` at moment ``x``."""
        runs, starts = self.runs[agent], self.starts[agent]
        i = bisect.bisect_right(starts, x)
        working = []
        for j in range(i - 1, -1, -1):
            begun, until, text = runs[j]
            if begun < x - self.longest[agent] - 1.0 and until != float("inf"):
                break
            if until > x:
                working.append(Verdict("ok", text, begun, begun, why="working"))
        if working:
            newest = max(v.lo for v in working)
            return [v for v in working if v.lo >= newest - SIGNAL_SLACK]
        verdicts = self.verdicts[agent][:bisect.bisect_right(self.vlo[agent], x)]
        tail = verdicts[-40:]  # the candidates are among the last few
        states = Oracle._candidates(tail)
        if not any(v.certain for v in verdicts):
            states.append(Verdict("ok", None, 0.0, 0.0, why="first state"))
        return states

    def moments(self, agent: str, a: float, b: float) -> list[float]:
        """``a``, ``b`` and every moment between them at which the agent's state may change."""
        runs, starts = self.runs[agent], self.starts[agent]
        points = {a, b}
        for begun, until, _ in runs[bisect.bisect_left(starts, a - self.longest[agent] - 1.0):
                                    bisect.bisect_right(starts, b)]:
            points.update(t for t in (begun, until) if a < t < b)
        vlo = self.vlo[agent]
        for v in self.verdicts[agent][bisect.bisect_left(vlo, a - LOST_SLACK):
                                      bisect.bisect_right(vlo, b)]:
            points.update(t for t in (v.lo, v.hi) if a < t < b)
        return sorted(points)

    def accepted(self, agent: str, x: float, status: str, task: str | None) -> bool:
        return Expected(agent, self.states(agent, x), [], True).accepts(status, task)

    def up_to_date(self, agent: str, read: float, status: str, task: str | None,
                   *, lag: float = LAG) -> bool:
        return any(self.accepted(agent, x, status, task)
                   for x in self.moments(agent, read - lag, read))

    def behind_since(self, agent: str, read: float, status: str, task: str | None, *,
                     since: float, lag: float = LAG) -> float | None:
        """When a row read at ``read``, not up to date, fell behind: the first moment after the
        last one (from ``since`` on) that accepts it; None when none from ``since`` does."""
        moments = self.moments(agent, since, read - lag)
        for k in range(len(moments) - 1, -1, -1):
            if self.accepted(agent, moments[k], status, task):
                return moments[k + 1] if k + 1 < len(moments) else read - lag
        return None
