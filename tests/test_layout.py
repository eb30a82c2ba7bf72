"""The house rules of the package's layout, read from the installed sources (issue 22).

Small modules with one job, classes and functions a reader can hold in mind, and no import
cycle (an import inside a function counts: it only hides the cycle). ``core`` is the domain
everything else builds on, so it imports none of the package's other rooms.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import celery_office

PACKAGE = Path(celery_office.__file__).resolve().parent
MODULE_LINES = 300
CLASS_LINES = 150
FUNCTION_LINES = 60
CORE_MAY_NOT_IMPORT = ("db", "worker", "registry", "cli", "web")
# The wheel maps migrations/ onto celery_office.migrations: revisions are history, never
# rewritten once shipped (a database may be at any of them), so the limits do not apply.
HISTORY = "migrations"


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[0] == HISTORY:
            continue
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(["celery_office", *parts])] = path
    return found


MODULES = _modules()


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _imports(name: str, path: Path) -> set[str]:
    """The package's modules ``name`` imports, at any depth of its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            # "from package import module" needs the module; "from module import name" the module
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                       for alias in node.names]
        else:
            continue
        found.update(target for target in targets if target in MODULES and target != name)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycle() -> list[str] | None:
    """One import cycle among the package's modules, or None (a depth-first search)."""
    done: set[str] = set()
    for start in GRAPH:
        stack: list[tuple[str, list[str]]] = [(start, [start])]
        while stack:
            node, trail = stack.pop()
            for nxt in sorted(GRAPH[node]):
                if nxt == start:
                    return [*trail, nxt]
                if nxt not in trail and nxt not in done:
                    stack.append((nxt, [*trail, nxt]))
        done.add(start)
    return None


def _spans(path: Path, kinds: tuple[type, ...]) -> list[tuple[str, int]]:
    return [
        (f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}",  # type: ignore[attr-defined]
         node.end_lineno - node.lineno + 1)  # type: ignore[attr-defined]
        for node in ast.walk(_tree(path)) if isinstance(node, kinds)
    ]


def test_the_package_is_read_from_its_sources() -> None:
    assert "celery_office.core" in MODULES and "celery_office.worker.bootstep" in MODULES
    assert GRAPH["celery_office.worker.bootstep"], "no import of the package was found at all"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_over_its_lines(name: str) -> None:
    lines = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MODULE_LINES, f"{name}: {lines} lines; split it by job (at most {MODULE_LINES})"


def test_no_class_or_function_is_over_its_lines() -> None:
    over = []
    for path in MODULES.values():
        over += [f"class {where}: {n}" for where, n in _spans(path, (ast.ClassDef,))
                 if n > CLASS_LINES]
        over += [f"def {where}: {n}" for where, n in
                 _spans(path, (ast.FunctionDef, ast.AsyncFunctionDef)) if n > FUNCTION_LINES]
    assert not over, f"over {CLASS_LINES} (class) or {FUNCTION_LINES} (function) lines: {over}"


def test_no_import_cycle_between_the_package_modules() -> None:
    cycle = _cycle()
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_core_imports_none_of_the_rooms_built_on_it() -> None:
    rooms = tuple(f"celery_office.{room}" for room in CORE_MAY_NOT_IMPORT)
    wrong = {name: sorted(t for t in targets if t.startswith(rooms))
             for name, targets in GRAPH.items() if name.startswith("celery_office.core")}
    assert not any(wrong.values()), f"the core imports {wrong}"


def test_the_cycle_finder_sees_a_cycle() -> None:
    """The finder itself can fail: a made-up loop is found."""
    saved = dict(GRAPH)
    try:
        GRAPH["celery_office.core"] = {*GRAPH["celery_office.core"],
                                       "celery_office.worker.bootstep"}
        GRAPH["celery_office.worker.bootstep"] = {*GRAPH["celery_office.worker.bootstep"],
                                                  "celery_office.core"}
        assert _cycle() is not None
    finally:
        GRAPH.clear()
        GRAPH.update(saved)
