"""``celery office status --fail-on``: the office as a health check for cron, Kubernetes, CI.

Exit status 1 when an agent's effective status is one of the given ones, 0 otherwise; the
agents that fail it are named on stderr, so stdout (the table, or the JSON) stays as without
the option. A wrong value is a usage error, exit status 2: a typo in a probe must not pass for
an agent in error, nor for a healthy office.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import click

from ..db.read import AgentRow
from .context import OfficeCLIError
from .status_view import failing, status_name

__all__ = ["FAIL_ON_CHOICES", "UsageLine", "parse_fail_on", "exit_if_failing"]

FAIL_ON_CHOICES = ("error", "warning", "offline")


class UsageLine(OfficeCLIError):
    """A wrong option value: one line on stderr, exit status 2 (click's for usage errors)."""

    exit_code = 2


def parse_fail_on(
    ctx: click.Context, param: click.Parameter, given: Sequence[str]
) -> tuple[str, ...]:
    """``--fail-on error,warning`` (or the option repeated) as the statuses, in order, once."""
    command = ctx.info_name or "status"
    states: list[str] = []
    for value in given or ():
        for part in value.split(","):
            state = part.strip().lower()
            if not state:
                continue
            if state not in FAIL_ON_CHOICES:
                close = difflib.get_close_matches(state, FAIL_ON_CHOICES, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise UsageLine(
                    command, f"--fail-on: unknown status {part.strip()!r}{hint}; use one or more "
                    f"of {', '.join(FAIL_ON_CHOICES)}, separated by commas",
                )
            if state not in states:
                states.append(state)
    if given and not states:
        raise UsageLine(
            command, f"--fail-on needs one or more of {', '.join(FAIL_ON_CHOICES)}, separated "
            "by commas, e.g. --fail-on error,offline",
        )
    return tuple(states)


def exit_if_failing(ctx: click.Context, rows: Sequence[AgentRow], fail_on: Sequence[str]) -> None:
    """Name the agents in one of the ``fail_on`` statuses on stderr and exit with status 1."""
    if not fail_on:
        return
    bad = failing(rows, fail_on)
    if not bad:
        return
    noun = "agent" if len(bad) == 1 else "agents"
    listing = ", ".join(f"{row.agent_id} ({status_name(row.effective_status)})" for row in bad)
    click.echo(
        f"celery office {ctx.info_name or 'status'}: {len(bad)} {noun} in "
        f"{' or '.join(fail_on)} (--fail-on): {listing}",
        err=True,
    )
    ctx.exit(1)
