"""Every command, module and name the documentation gives exists in the installed package.

The SQL files once told DBAs to run ``python -m celery_office.schema``, a module that had
moved: a reader copying a documented line must never meet a ``No module named`` error.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
from pathlib import Path

import click
import pytest

from celery_office.cli import office

from .conftest import ROOT

pytestmark = pytest.mark.package

DOCS = [
    ROOT / "README.md",
    ROOT / "CHANGELOG.md",
    ROOT / "migrations" / "README.md",
    ROOT / "examples" / "README.md",
    *sorted((ROOT / "migrations" / "sql").glob("*.sql")),
    *sorted((ROOT / "celery_office").rglob("*.py")),
]

PYTHON_M = re.compile(r"python3? -m ([A-Za-z_][\w.]*)")
DOTTED = re.compile(r"\bcelery_office(?:\.[A-Za-z_]\w*)+")
OFFICE_COMMAND = re.compile(r"\bcelery (?:-\S+ (?:\S+ )?)*office((?: [^\s`|;&]+)*)")


def _mentions(pattern: re.Pattern[str]) -> list[tuple[str, str]]:
    """(where, match) for each mention in the docs: file:line and the matched text."""
    found = []
    for path in DOCS:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in pattern.finditer(line):
                found.append((f"{path.relative_to(ROOT)}:{number}", match.group(0)))
    return found


def test_the_docs_mention_commands_at_all() -> None:
    """The patterns below still match the way the docs write commands."""
    assert len(_mentions(OFFICE_COMMAND)) > 10
    assert _mentions(PYTHON_M) and _mentions(DOTTED)


def test_every_documented_python_m_module_runs() -> None:
    broken = []
    for where, text in _mentions(PYTHON_M):
        module = PYTHON_M.match(text).group(1).rstrip(".")  # type: ignore[union-attr]
        if module.split(".")[0] == "bench":  # the checkout's benchmarks, run from its root
            path = ROOT.joinpath(*module.split("."))
            main = path / "__main__.py" if path.is_dir() else path.with_suffix(".py")
            if not main.is_file() or "__main__" not in main.read_text(encoding="utf-8"):
                broken.append(f"{where}: {text} (no such benchmark with a __main__ entry)")
            continue
        spec = importlib.util.find_spec(module.split(".")[0])
        if spec is None:
            broken.append(f"{where}: {text} (not installed)")
            continue
        if not module.startswith("celery_office"):
            continue
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            broken.append(f"{where}: {text} (no such module)")
        elif "__main__" not in Path(spec.origin).read_text(encoding="utf-8"):
            broken.append(f"{where}: {text} (the module has no __main__ entry)")
    assert broken == []


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        try:
            for name in parts[cut:]:
                obj = getattr(obj, name)
        except AttributeError:
            return False
        return True
    return False


# an editable install maps no celery_office.migrations (the wheel does; tests/package/test_wheel)
EDITABLE = os.environ.get("OFFICE_TEST_SOURCE_TREE", "") == "1"


def test_every_documented_celery_office_name_exists() -> None:
    broken = [f"{where}: {text}" for where, text in _mentions(DOTTED) if not _resolves(text)
              and not (EDITABLE and text.startswith("celery_office.migrations"))]
    assert broken == []


def _options(command: click.Command) -> set[str]:
    return {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}


def test_every_documented_office_command_and_option_exists() -> None:
    ctx = click.Context(office)
    broken = []
    for where, text in _mentions(OFFICE_COMMAND):
        words = OFFICE_COMMAND.match(text).group(1).split()  # type: ignore[union-attr]
        if words and not re.fullmatch(r"-?-?[a-z][a-z-]*", words[0]):
            continue  # a message's prefix ("celery office migrate: ..."), not a command
        if not words or words[0].startswith("-"):  # the group itself: --version, --help
            unknown = [w for w in words
                       if w.startswith("--") and w not in _options(office) | {"--help"}]
        else:
            command = office.get_command(ctx, words[0])
            if command is None:
                broken.append(f"{where}: no command 'celery office {words[0]}'")
                continue
            options = _options(command) | {"--help"}
            unknown = [w.split("=")[0] for w in words[1:] if w.startswith("--")
                       and w.split("=")[0].rstrip(",.)") not in options]
        broken += [f"{where}: 'celery office {' '.join(words[:1])}' has no option {w}"
                   for w in unknown]
    assert broken == []
