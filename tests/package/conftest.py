"""The distribution users install: built once per session (or taken from CI's build).

``OFFICE_TEST_DIST`` names a folder holding the sdist and the wheel that CI built with
``python -m build``; without it they are built here from the source tree into a temporary
folder, the way a user's ``pip install`` would build them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE_PACKAGE = ROOT / "celery_office"


def from_source_tree(path: str | Path) -> bool:
    """Whether ``path`` is a file of the checkout's own package folder.

    Not a prefix test on the checkout: the README's ``python -m venv .venv`` puts an
    installation inside the clone, and a module imported from there is the installed one.
    """
    return Path(path).resolve().is_relative_to(SOURCE_PACKAGE)


@dataclass(frozen=True)
class Dist:
    """The two files ``python -m build`` makes."""

    wheel: Path
    sdist: Path


def _one(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    if len(found) != 1:
        raise AssertionError(f"expected one {pattern} in {folder}, found {found}")
    return found[0]


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dist]:
    given = os.environ.get("OFFICE_TEST_DIST")
    if given:
        folder = Path(given)
    else:
        folder = tmp_path_factory.mktemp("dist")
        subprocess.run(
            [sys.executable, "-m", "build", "--outdir", str(folder), str(ROOT)],
            check=True, stdout=subprocess.DEVNULL, timeout=600,
        )
    yield Dist(wheel=_one(folder, "celery_office-*.whl"),
               sdist=_one(folder, "celery_office-*.tar.gz"))
