"""One "round" of the ADOLF office: one task for every agent, with mixed outcomes.

``send_round(app)`` sends, by name, one task of each of the 14 agents of ``agents.yaml``:
``marketing.manage_ozon_campaigns`` retries once (then succeeds), two other agents fail, the
rest succeed; each task takes 0.5-3 s. ``plan_round`` returns the same plan without sending it,
so a demo or test can say which task should end how.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

__all__ = [
    "AGENT_TASKS", "RETRYING_AGENT", "FAILURES_PER_ROUND", "Planned", "plan_round", "send_round",
]

# agent_id -> its task names, mirroring agents.yaml (file order).
AGENT_TASKS: dict[str, tuple[str, ...]] = {
    "watcher_price_monitor": ("adolf.tasks.watcher.poll_prices",),
    "watcher_night_agent": ("adolf.tasks.watcher.night_check",),
    "watcher_competitor_scan": ("adolf.tasks.watcher.scan_competitors",),
    "reputation_wb": ("adolf.tasks.reputation.process_wb_reviews",),
    "reputation_ozon": ("adolf.tasks.reputation.process_ozon_reviews",),
    "reputation_ym": ("adolf.tasks.reputation.process_ym_reviews",),
    "content_descriptions": ("adolf.tasks.content_factory.generate_descriptions",),
    "content_seo": ("adolf.tasks.content_factory.optimize_seo",),
    "marketing_wb": ("adolf.tasks.marketing.manage_wb_campaigns",),
    "marketing_ozon": ("adolf.tasks.marketing.manage_ozon_campaigns",),
    "scout_niche": ("adolf.tasks.scout.analyze_niche",),
    "cfo_report": ("adolf.tasks.cfo.build_pnl_report",),
    "knowledge_rag": ("adolf.tasks.knowledge.index_documents",
                      "adolf.tasks.knowledge.answer_question"),
    "lex_monitor": ("adolf.tasks.lex.check_regulations",),
}
RETRYING_AGENT = "marketing_ozon"  # its task retries on a simulated rate limit
FAILURES_PER_ROUND = 2
DURATION_RANGE = (0.5, 3.0)


@dataclass(frozen=True)
class Planned:
    """One task of a round: which agent, which task, with which keyword arguments."""

    agent_id: str
    task_name: str
    kwargs: dict[str, Any]

    @property
    def outcome(self) -> str:
        return self.kwargs["outcome"]


def plan_round(*, seed: int | None = None) -> list[Planned]:
    """The tasks of one round, in agents.yaml order; ``seed`` makes it reproducible."""
    rng = random.Random(seed)
    failing = set(rng.sample([a for a in AGENT_TASKS if a != RETRYING_AGENT], FAILURES_PER_ROUND))
    plan = []
    for agent_id, task_names in AGENT_TASKS.items():
        outcome = "retry" if agent_id == RETRYING_AGENT else "fail" if agent_id in failing else "ok"
        kwargs = {"duration": round(rng.uniform(*DURATION_RANGE), 2), "outcome": outcome}
        plan.append(Planned(agent_id, rng.choice(task_names), kwargs))
    return plan


def send_round(app: Any, *, seed: int | None = None) -> list:
    """Send one round (see :func:`plan_round`) through ``app``; the AsyncResults in plan order."""
    return [app.send_task(item.task_name, kwargs=item.kwargs) for item in plan_round(seed=seed)]
