"""``celery office check``: agents.yaml against the app's registered tasks, and the dashboard's
table against the contract, for CI."""

from __future__ import annotations

from typing import Any

import click
from celery.bin.base import CeleryCommand, CeleryOption

from ..core.errors import MigrationError, NewerSchemaError
from ..core.texts import counted
from ..db.contract import ContractError
from ..db.schema import check as check_table
from ..registry import DEFAULT_SETTING_HINT, RegistryError, load_registry
from ..settings import DEFAULT_DATABASE_URL
from .context import app_of, fail, registered_tasks, settings_of

__all__ = ["check"]


@click.command(cls=CeleryCommand)
@click.option("--agents-file", cls=CeleryOption, metavar="PATH",
              help="Registry to check (default: office_agents_file).")
@click.option("--strict", cls=CeleryOption, is_flag=True,
              help="Treat warnings (uncovered tasks, unmatched patterns) as errors.")
@click.pass_context
def check(ctx: click.Context, agents_file: str | None, strict: bool, **kwargs: Any) -> None:
    """Check agents.yaml against the app's registered tasks."""
    app = app_of(ctx)
    settings = settings_of(ctx)
    path = agents_file or settings.agents_file
    try:
        registry = load_registry(
            path, setting_hint="--agents-file" if agents_file else DEFAULT_SETTING_HINT, app=app
        )
    except RegistryError as exc:
        fail(ctx, str(exc))
    names = sorted(registered_tasks(ctx))

    errors: list[str] = []
    for name in names:
        try:
            registry.resolve([name])
        except RegistryError as exc:
            errors.append(str(exc))
    own = [name for name in names if not name.startswith("celery.")]
    uncovered = [name for name in own if registry.route(name) is None]
    warnings = [f"task {name!r} is not covered by any agent" for name in uncovered]
    for agent, pattern in registry.unmatched_patterns(names):
        line = agent.task_lines.get(pattern, agent.line)
        kind = "pattern" if any(ch in pattern for ch in "*?[") else "task"
        warnings.append(
            f"{registry.path}:{line}: agent '{agent.agent_id}': {kind} {pattern!r} "
            "matches no registered task"
        )
    _check_dashboard_table(settings.database_url, errors, warnings)
    if strict:
        errors.extend(warnings)
        warnings = []

    for message in errors:
        click.echo(f"celery office check: {message}", err=True)
    for message in warnings:
        click.echo(f"warning: {message}")
    covered = len(own) - len(uncovered)
    agents = len(registry.agents)
    click.echo(
        f"{registry.path}: {counted(agents, 'agent')}, {covered} of "
        f"{counted(len(own), 'task')} covered; {counted(len(errors), 'error')}, "
        f"{counted(len(warnings), 'warning')}"
        + (" (--strict)" if strict else "")
    )
    if errors:
        ctx.exit(1)


def _check_dashboard_table(url: str, errors: list[str], warnings: list[str]) -> None:
    """With a database configured, an existing ``office_agent_status`` the worker could not
    adopt is an error here too (the worker would stop on it), and so are tables a newer
    celery-office migrated (the worker would write nothing); a database out of reach from
    where ``check`` runs (a CI job) is only a warning."""
    if url == DEFAULT_DATABASE_URL:
        return
    try:
        check_table(url)
    except (ContractError, NewerSchemaError) as exc:  # the worker would write nothing there
        errors.append(str(exc))
    except MigrationError as exc:
        warnings.append(f"the dashboard table was not checked: {exc}")
