"""``celery office init``: a first agents.yaml drafted from the app's registered tasks.

A new user should not type twenty task names the app already knows. The draft groups the
tasks by the module that defines them (one agent a module), takes the department from the
module's path (``adolf.tasks.watcher`` -> ``watcher``, Django's ``shop.tasks`` -> ``shop``),
the agent's name and the texts from the task names, and says in comments what to edit. Every
value keeps the rules of :mod:`celery_office.validation`, so ``office check`` accepts the draft
as it is; values are quoted by PyYAML, the comments are written around them.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any, NamedTuple

import click
import yaml
from celery.bin.base import CeleryCommand, CeleryOption

from ..core.limits import AGENT_ID_MAX, DEPARTMENT_MAX, NAME_MAX, TASK_MAX
from ..core.texts import counted
from ..jsonsafe import cut
from ..registry.keys import BUILTIN_DEFAULTS
from .context import app_name, app_of, fail, registered_tasks, settings_of

__all__ = ["init", "draft_agents", "department_of", "render_draft"]

# Folders that say "these are tasks", not what they are about: skipped when naming a department.
TASK_FOLDERS = frozenset({"tasks", "task", "jobs", "celery", "celery_tasks"})
_NOT_IN_ID = re.compile(r"[^A-Za-z0-9_.:-]+")  # the agent id's characters (validation.py)
COMMENT_AT = 32  # the column where a field's comment starts


class DraftAgent(NamedTuple):
    """One agent of the draft: the tasks of one module."""

    agent_id: str
    module: str
    department: str
    name: str
    tasks: dict[str, str]  # task name (as a pattern) -> text shown while it runs


def _module_of(name: str, task: Any) -> str:
    """The module that defines the task (a custom ``name=`` says nothing of it), else the
    task name's prefix."""
    try:
        module = getattr(task, "__module__", None)
    except Exception:  # the user's task object: even attribute access may fail
        module = None
    if isinstance(module, str) and module and module != "__main__":
        return module
    return name.rpartition(".")[0]


def department_of(module: str, *, home: Collection[str] = ()) -> str:
    """The part of the module's path that names what its tasks are about.

    ``home`` holds the app's own top-level package: its ``tasks`` folder holds one module a
    department (``adolf.tasks.watcher`` -> ``watcher``), where another package's ``tasks`` is
    that package's (Django's ``shop.tasks`` or ``billing.tasks.charge`` -> the app's name).
    """
    parts = [part.strip() for part in module.split(".") if part.strip()]
    for index, part in enumerate(parts):
        if part not in TASK_FOLDERS:
            continue
        before = parts[index - 1] if index > 0 else None
        after = parts[index + 1] if index + 1 < len(parts) else None
        if before is not None and before not in home:  # shop.tasks, billing.tasks.charge
            return before
        if after is not None:  # adolf.tasks.watcher
            return after
        if before is not None:  # proj.tasks, proj.celery
            return before
    meaningful = [part for part in parts if part not in TASK_FOLDERS]
    return meaningful[-1] if meaningful else "general"


def _plain_id(parts: Iterable[str]) -> str:
    return _NOT_IN_ID.sub("_", "_".join(parts)).strip("_")[:AGENT_ID_MAX]


def _unique_id(module: str, department: str, taken: set[str]) -> str:
    """``watcher`` for adolf.tasks.watcher, ``watcher_polling`` for app.tasks.watcher.polling;
    when taken, the module's whole path (``shop_tasks``), then a number."""
    parts = [part for part in module.split(".") if part and part not in TASK_FOLDERS]
    rest = parts[parts.index(department) + 1:] if department in parts else []
    base = _plain_id([department, *rest]) or "agent"
    candidate, number = base, 1
    whole = _plain_id(module.split("."))
    if candidate in taken and whole and whole not in taken:
        candidate = whole
    while candidate in taken:
        number += 1
        suffix = f"_{number}"
        candidate = base[: AGENT_ID_MAX - len(suffix)] + suffix
    taken.add(candidate)
    return candidate


def _words(task_name: str) -> str:
    """``process_wb_reviews`` -> ``process wb reviews``: the task's own name, read aloud."""
    last = task_name.rpartition(".")[2]
    spoken = " ".join(re.sub(r"[_\-]+", " ", last).split())
    return spoken or task_name


def _pattern(task_name: str) -> str:
    """The name as agents.yaml matches it: ``*``, ``?`` and ``[`` would make it a glob, so
    they are written as a glob's one-character sets (``[[]``), matching the name alone."""
    return re.sub(r"[*?[]", lambda found: f"[{found.group(0)}]", task_name)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def draft_agents(tasks: Mapping[str, Any], *, home: Collection[str] = ()) -> list[DraftAgent]:
    """The app's own tasks (``celery.*`` left out) as agents, one a module, sorted; ``home``:
    the app's own top-level package (see :func:`department_of`)."""
    by_module: dict[str, list[str]] = {}
    for name in sorted(tasks):
        if not name.startswith("celery."):
            by_module.setdefault(_module_of(name, tasks[name]), []).append(name)
    taken: set[str] = set()
    agents = []
    for module in sorted(by_module):
        names = by_module[module]
        department = department_of(module, home=home)
        spoken = [_words(name) for name in names]
        agents.append(DraftAgent(
            agent_id=_unique_id(module, department, taken),
            module=module,
            department=cut(department, DEPARTMENT_MAX),
            name=cut(_capital(", ".join(spoken)), NAME_MAX),
            tasks={_pattern(name): cut(_capital(words), TASK_MAX)
                   for name, words in zip(names, spoken, strict=True)},
        ))
    return agents


def _scalar(value: Any) -> str:
    """``value`` as one line of YAML, quoted where YAML would read it otherwise."""
    text = yaml.safe_dump(value, allow_unicode=True, width=math.inf, default_flow_style=True)
    text = text.removesuffix("\n").removesuffix("\n...")
    if "\n" in text:  # a line break in a name: JSON's escapes are YAML's double quotes
        return json.dumps(value, ensure_ascii=False)
    return text


def _line(
    indent: int, key: str, value: Any = None, *, comment: str = "", bare: bool = False
) -> str:
    text = " " * indent + _scalar(key) + ":" + ("" if bare else " " + _scalar(value))
    if comment:
        text = text.ljust(COMMENT_AT - 1) + " # " + comment
    return text


def _header(app: str, agents: list[DraftAgent]) -> list[str]:
    count = sum(len(agent.tasks) for agent in agents)
    return [
        "# agents.yaml: which Celery tasks belong to which agent of the office (celery-office).",
        "#",
        f"# Drafted by `celery office init` from the app's {counted(count, 'registered task')}",
        "# (Celery's own celery.* left out): one agent a module, its department from the",
        "# module's path, names and texts from the task names. Edit it, then check it:",
        f"#   celery -A {app} office check",
        "#",
        "# What to edit:",
        "#   agent ids   the keys under 'agents': unique; Latin letters, digits, _ . : -",
        f"#               (at most {AGENT_ID_MAX} characters);"
        " the dashboard's rows are keyed by them",
        f"#   department  at most {DEPARTMENT_MAX} characters",
        f"#   name        shown on the dashboard, at most {NAME_MAX} characters",
        "#   tasks       task name -> text shown while it runs (at most 255 characters; null",
        "#               shows the task's own name). Move tasks between agents or split an agent",
        "#               in several: a task belongs to exactly one agent. A name may be a glob",
        "#               (* ? [..]); an exact name wins over a glob.",
        "#   brand, salary_equivalent, fte_coefficient: once under 'defaults', or per agent.",
        "#   schedule, grace, max_runtime (optional): expected runs and run time limits per",
        "#               agent, see the README's \"Missed schedules and overlong runs\".",
        "",
    ]


def render_draft(agents: list[DraftAgent], *, app: str) -> str:
    """The draft's text: the header, the defaults, then each agent with its module named."""
    lines = _header(app, agents)
    lines += [
        _line(0, "defaults", bare=True,
              comment="every agent inherits these, unless it sets its own"),
        _line(2, "brand", BUILTIN_DEFAULTS["brand"],
              comment="at most 20 characters; null: every brand"),
        _line(2, "salary_equivalent", BUILTIN_DEFAULTS["salary_equivalent"],
              comment="RUB a month of the people an agent replaces"),
        _line(2, "fte_coefficient", float(BUILTIN_DEFAULTS["fte_coefficient"]),
              comment="how many full-time people (2 decimals)"),
        "",
        _line(0, "agents", bare=True),
    ]
    for agent in agents:
        lines += [
            f"  # {' '.join(agent.module.split())}: {counted(len(agent.tasks), 'task')}",
            _line(2, agent.agent_id, bare=True),
            _line(4, "department", agent.department),
            _line(4, "name", agent.name),
            _line(4, "tasks", bare=True),
            *(_line(6, name, text) for name, text in agent.tasks.items()),
            "",
        ]
    return "\n".join(lines[:-1]) + "\n"


def _write_new(ctx: click.Context, path: str, text: str) -> None:
    """Write ``path`` only if it does not exist yet: a draft never replaces an edited file."""
    try:
        with open(path, "x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        fail(ctx, f"{path} already exists: nothing written; edit it, or choose another "
             "--output (or remove the file first)")
    except FileNotFoundError:
        folder = os.path.dirname(os.path.abspath(path))
        fail(ctx, f"cannot write {path}: the folder {folder} does not exist; create it, or "
             "choose another --output")
    except OSError as exc:
        fail(ctx, f"cannot write {path}: {exc.strerror or exc}; choose another --output")


def _home(ctx: click.Context) -> set[str]:
    """The app's own top-level package: of its main name, and of the module given to ``-A``."""
    names = {getattr(app_of(ctx), "main", None), app_name(ctx)}
    return {name.split(".")[0] for name in names if isinstance(name, str) and name}


def _own_count(names: Iterable[str]) -> int:
    return sum(1 for name in names if not name.startswith("celery."))


@click.command(cls=CeleryCommand)
@click.option("--output", cls=CeleryOption, metavar="FILE",
              help="Write the draft to FILE (never over an existing file); default: stdout.")
@click.pass_context
def init(ctx: click.Context, output: str | None, **kwargs: Any) -> None:
    """Draft agents.yaml from the app's registered tasks."""
    tasks = registered_tasks(ctx)
    app = app_name(ctx)
    if not _own_count(tasks) and app == "<app>":  # no -A: Celery's default app
        fail(ctx, "no app given: name yours with -A, e.g. celery -A proj office init")
    if not _own_count(tasks):
        fail(ctx, f"the app {app} registers no tasks of its own (only Celery's celery.*); "
             "define tasks, or make the app import their modules (include=, imports, "
             "autodiscover_tasks) and run init again")
    agents = draft_agents(tasks, home=_home(ctx))
    text = render_draft(agents, app=app)
    if output is None:
        click.echo(text, nl=False)
        return
    default = os.path.abspath(settings_of(ctx).agents_file) == os.path.abspath(output)
    _write_new(ctx, output, text)
    click.echo(f"Wrote {output}: {counted(len(agents), 'agent')}, "
               f"{counted(_own_count(tasks), 'task')}; edit it, then run "
               f"celery -A {app} office check" + ("" if default else f" --agents-file {output}"))
