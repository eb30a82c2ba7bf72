"""What ``pip install celery-office`` gives a user: every file of the source tree, nothing else.

A module missing from the wheel passes every test that imports the source tree and breaks every
user (``install(app)`` fails on import): these tests read the built files themselves.
"""

from __future__ import annotations

import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from .conftest import ROOT, Dist

pytestmark = pytest.mark.package

PACKAGE = "celery_office"
# source folder -> where it lives in the installed package
SHIPPED_TREES = {ROOT / "celery_office": PACKAGE, ROOT / "migrations": f"{PACKAGE}/migrations"}


def _source_files(folder: Path) -> list[Path]:
    """The files of a source folder as a build sees them (no bytecode, no caches)."""
    return sorted(
        path for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
        and path.suffix not in (".pyc", ".pyo")
    )


def _expected_in_wheel() -> set[str]:
    expected = set()
    for folder, target in SHIPPED_TREES.items():
        for path in _source_files(folder):
            expected.add(f"{target}/{path.relative_to(folder).as_posix()}")
    return expected


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _wheel_names(dist: Dist) -> set[str]:
    with zipfile.ZipFile(dist.wheel) as wheel:
        return set(wheel.namelist())


def test_the_wheel_holds_every_file_of_the_source_tree(dist: Dist) -> None:
    names = _wheel_names(dist)
    missing = sorted(_expected_in_wheel() - names)
    assert not missing, f"{dist.wheel.name} lacks files of the source tree: {missing}"


def test_the_wheel_holds_the_typing_marker_migrations_and_their_sql(dist: Dist) -> None:
    """Named one by one, so that a change to the walk above cannot hide them."""
    names = _wheel_names(dist)
    versions = sorted((ROOT / "migrations" / "versions").glob("[0-9]*.py"))
    assert versions, "no migration revisions in the source tree"
    required = [
        f"{PACKAGE}/py.typed",
        f"{PACKAGE}/migrations/env.py",
        f"{PACKAGE}/migrations/script.py.mako",
        f"{PACKAGE}/migrations/sql/postgresql.sql",
        f"{PACKAGE}/migrations/sql/sqlite.sql",
        *(f"{PACKAGE}/migrations/versions/{path.name}" for path in versions),
    ]
    assert [name for name in required if name not in names] == []


def test_the_wheel_holds_nothing_outside_the_package(dist: Dist) -> None:
    stray = sorted(
        name for name in _wheel_names(dist)
        if not name.startswith(f"{PACKAGE}/") and ".dist-info/" not in name
    )
    assert stray == [], f"files outside {PACKAGE}/ would land in site-packages: {stray}"
    junk = sorted(name for name in _wheel_names(dist)
                  if "__pycache__" in name or name.endswith(".pyc"))
    assert junk == []


def _metadata(dist: Dist) -> tuple[object, set[str]]:
    with zipfile.ZipFile(dist.wheel) as wheel:
        info = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
        folder = info.rsplit("/", 1)[0]
        text = wheel.read(info).decode("utf-8")
        names = {n.removeprefix(folder + "/") for n in wheel.namelist() if n.startswith(folder)}
    return Parser().parsestr(text), names


def test_the_metadata_says_what_pyproject_says(dist: Dist) -> None:
    project = _pyproject()["project"]
    meta, dist_info = _metadata(dist)
    assert meta["Name"] == project["name"]
    assert meta["Version"] == project["version"]
    assert meta["License-Expression"] == project["license"] == "MIT"
    assert "licenses/LICENSE" in dist_info  # the text of the licence travels with it
    assert "MIT License" in (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert meta["Description-Content-Type"] == "text/markdown"
    assert meta.get_payload().startswith("# celery-office")  # the README is the description
    urls = {value.split(",")[0] for value in meta.get_all("Project-URL") or []}
    assert {"Homepage", "Changelog", "Issues"} <= urls
    classifiers = meta.get_all("Classifier") or []
    assert "Framework :: Celery" in classifiers and "Typing :: Typed" in classifiers
    requires = {r.lower() for r in meta.get_all("Requires-Dist") or []}  # names normalised
    for floor in project["dependencies"]:
        assert floor.lower() in requires, f"{floor!r} not declared in the wheel: {requires}"
    assert "entry_points.txt" in dist_info


def test_the_changelog_names_this_version() -> None:
    version = _pyproject()["project"]["version"]
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## {version}" in changelog


def test_the_sdist_holds_the_sources_tests_and_licence(dist: Dist) -> None:
    with tarfile.open(dist.sdist) as sdist:
        top = sdist.getnames()[0].split("/")[0]
        names = {name.removeprefix(top + "/") for name in sdist.getnames()}
    expected = {
        "pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md", "agents.yaml",
        *(path.relative_to(ROOT).as_posix()
          for folder in SHIPPED_TREES for path in _source_files(folder)),
        *(path.relative_to(ROOT).as_posix() for path in _source_files(ROOT / "tests")),
    }
    missing = sorted(expected - names)
    assert not missing, f"{dist.sdist.name} lacks: {missing}"
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
