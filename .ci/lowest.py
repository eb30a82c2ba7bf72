"""The lowest versions pyproject.toml allows, as pip constraints, and a check that they are
the ones installed.

    python .ci/lowest.py > lowest.txt          # celery==5.3.0, SQLAlchemy==2.0.0, ...
    python .ci/lowest.py --check lowest.txt    # exit 1 unless exactly those are installed

One home for the floors: the ``>=`` of each runtime dependency in pyproject.toml. CI installs
the wheel under these constraints and runs the end-to-end tests, so a floor is a tested fact.
"""

from __future__ import annotations

import re
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
FLOOR = re.compile(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?\s*>=\s*([0-9][0-9.]*)\s*$")


def floors() -> dict[str, str]:
    import tomllib  # Python 3.11+: the pins are written by the host's Python

    dependencies = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["dependencies"]
    found = {}
    for requirement in dependencies:
        match = FLOOR.match(requirement.split(";")[0])
        if match is None:
            raise SystemExit(f"{PYPROJECT.name}: {requirement!r} has no plain '>=' floor to test")
        found[match.group(1)] = match.group(2)
    return found


def pinned(path: str) -> dict[str, str]:
    """The pins of a file this script wrote."""
    pins = {}
    for line in open(path, encoding="utf-8"):
        name, _, floor = line.strip().partition("==")
        if floor:
            pins[name] = floor
    return pins


def main(argv: list[str]) -> int:
    if argv[:1] != ["--check"]:
        print("\n".join(f"{name}=={floor}" for name, floor in floors().items()))
        return 0
    from packaging.version import Version  # pytest's dependency: there wherever tests run

    pins = pinned(argv[1])
    wrong = []
    for name, floor in pins.items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            installed = "not installed"
        if installed == "not installed" or Version(installed) != Version(floor):
            wrong.append(f"{name}: {installed} installed, floor {floor}")
    for line in wrong:
        print(f"lowest versions: {line}", file=sys.stderr)
    if not wrong:
        print("lowest versions installed: " + ", ".join(f"{n} {v}" for n, v in pins.items()))
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
