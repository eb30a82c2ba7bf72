"""Which states an agent entered are announced, and the message: pure rules, no I/O.

An agent's notified state is one of ``error``, ``offline``, ``missed`` (an expected run did not
start), ``overlong`` (a run past its limit), or ``ok``. Each period of its timeline
(:mod:`celery_office.db.timeline`) is read in order, so a state entered and left between two
looks is announced too. Entering any of the first four is announced, and so is ``ok`` after
them (a recovery), but only an ``ok`` that began with a successful end: a new run starting
after a failure is not a recovery. A run in progress whose agent's last finished run failed
(the period's alert ``error``: a failure while another run goes on, or in the same batch as
the next run's start, which the row shows as the run) is ``error``: the agent failed though
the row never said so. A retry's warning, a run after a retry, or a status a team added to
the enum announce nothing: the last announced state stands. An agent's first state is
announced unless it is ``ok``.

Offline comes from the table's own ``offline`` (a worker retired the agent) or from silence
(``last_activity`` older than ``office_offline_after``): silence is judged only when the
caller says the workers had time to write (:class:`celery_office.web.notifier.Notifier`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from ..core.statuses import MISSED, OVERLONG, AgentStatus
from ..core.texts import PREFIXES, RU, Words
from ..db.notices import Notice
from ..db.read import AgentRow
from ..db.timeline import Period
from ..jsonsafe import json_safe

__all__ = [
    "OK", "ERROR", "OFFLINE", "MISSED", "OVERLONG", "Event", "state_of", "events",
    "message", "chat_escape",
]

OK = "ok"
ERROR = "error"
OFFLINE = "offline"

# What the task text of a state starts with (in any language), cut from the message's detail
# (the state says it)
_PREFIXES = {ERROR: PREFIXES["error"], MISSED: PREFIXES["missed"], OVERLONG: PREFIXES["overlong"]}


def state_of(period: Period) -> str | None:
    """The notified state a period is, or None when it announces nothing either way."""
    if period.status == AgentStatus.offline.value:
        return OFFLINE
    if period.status == AgentStatus.error.value:
        return ERROR
    if period.status == AgentStatus.warning.value:
        return period.alert if period.alert in (OVERLONG, MISSED) else None
    if period.status == AgentStatus.ok.value:
        if period.alert == ERROR:  # a run in progress after a failure: still failed
            return ERROR
        return OK if period.last_run_ok else None
    return None  # a status a team added: shown on the page, not announced


@dataclass(frozen=True)
class Event:
    """An agent entered ``state`` (from ``previous``, None: nothing announced before).

    ``key`` is the event id receivers see: the timeline row's id, or for a silence and a
    return from it the open period's id with the announcement's number."""

    key: str
    agent_id: str
    state: str
    previous: str | None
    since: datetime | None
    task: str | None
    silent_for: float | None = None


def _from_periods(periods: Iterable[Period], notice: Notice) -> tuple[list[Event], Notice]:
    found: list[Event] = []
    for period in periods:
        state = state_of(period)
        notice = replace(notice, period_id=period.id)
        if state is None or state == notice.state:
            continue
        if not notice.state and state == OK:  # first sight of an agent that is fine
            notice = replace(notice, state=state)
            continue
        found.append(Event(str(period.id), period.agent_id, state, notice.state or None,
                           period.since, period.task))
        notice = replace(notice, state=state, version=notice.version + 1)
    return found, notice


def _from_silence(row: AgentRow, notice: Notice, current: Period | None,
                  judge: bool) -> tuple[list[Event], Notice]:
    """Offline by silence, and back from it; keyed by the open period and the number."""
    if row.status is AgentStatus.offline or current is None:
        return [], notice  # the table says offline itself: its periods announce it
    silent = row.effective_status is AgentStatus.offline
    if silent and judge and notice.state != OFFLINE:
        state, since, kind = OFFLINE, row.last_activity, "offline"
    elif not silent and notice.state == OFFLINE:
        state, since, kind = state_of(current) or OK, datetime.now(timezone.utc), "back"
    else:
        return [], notice
    version = notice.version + 1
    event = Event(f"{current.id}-{kind}-{version}", row.agent_id, state, notice.state or None,
                  since, row.task, row.silent_for if state == OFFLINE else None)
    return [event], replace(notice, state=state, version=version)


def events(
    periods: Iterable[Period], notices: Mapping[str, Notice], rows: Iterable[AgentRow],
    current: Mapping[str, Period], *, judge_silence: bool,
) -> tuple[list[Event], dict[str, Notice]]:
    """The events of the periods read (in id order) and of silence, and every notice that
    moved (a new period read, or a state announced)."""
    by_agent: dict[str, list[Period]] = {}
    for period in periods:
        by_agent.setdefault(period.agent_id, []).append(period)
    found: list[Event] = []
    moved: dict[str, Notice] = {}
    for agent_id, agent_periods in by_agent.items():
        new, moved[agent_id] = _from_periods(agent_periods, notices.get(agent_id, Notice()))
        found += new
    for row in rows:
        notice = moved.get(row.agent_id) or notices.get(row.agent_id)
        if notice is None:
            continue  # not read yet: its periods come first
        new, after = _from_silence(row, notice, current.get(row.agent_id), judge_silence)
        if new:
            found += new
            moved[row.agent_id] = after
    return found, moved


def chat_escape(text: str) -> str:
    """``&``, ``<`` and ``>`` as entities: chat webhooks (Slack's, Mattermost's) read
    ``<...>`` as links and mentions, so a task's text could otherwise ping a whole channel."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _detail(event: Event, words: Words) -> str:
    if event.state == OFFLINE:
        if event.silent_for is None:
            return ""
        return str(words.notify["last_seen"]).format(ago=words.duration(event.silent_for))
    if event.state == OK:
        return ""
    task = event.task or ""
    for prefix in _PREFIXES.get(event.state, ()):
        if task.startswith(prefix):
            return task[len(prefix):]
    return task


def message(event: Event, row: AgentRow | None, *, now: datetime | None = None,
            words: Words = RU) -> dict[str, Any]:
    """The JSON sent for an event, in ``words``' language: ``text`` for chat webhooks (escaped
    for them), and the same facts as plain fields (``event_id`` for receivers to drop a
    duplicate)."""
    NOTIFY = words.notify  # noqa: N806 (the texts' table, as in core.texts)
    state = event.state
    text = str(NOTIFY["headline"]).format(
        icon=NOTIFY["icons"][state], name=row.name if row else event.agent_id,
        agent_id=event.agent_id, department=row.department if row else "",
        state=NOTIFY["states"][state],
    )
    if event.since is not None:
        since = event.since.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        text += str(NOTIFY["since"]).format(since=since)
    detail = _detail(event, words)
    if detail:
        text += str(NOTIFY["detail"]).format(detail=detail)
    if state == OK and event.previous:
        text += str(NOTIFY["previous"]).format(
            state=NOTIFY["states"].get(event.previous, event.previous))
    return {
        "event_id": event.key,
        "text": chat_escape(text),
        "event": "recovered" if state == OK else "entered",
        "state": state,
        "previous": event.previous,
        "agent_id": event.agent_id,
        "name": row.name if row else None,
        "department": row.department if row else None,
        "brand": row.brand if row else None,
        "since": json_safe(event.since),
        "task": event.task,
        "last_activity": json_safe(row.last_activity) if row else None,
        "at": (now or datetime.now(timezone.utc)).isoformat(),
    }
