"""The tests exercise the installed package, not the source tree beside them.

``python -m`` and ``python -c`` put the working directory first on ``sys.path``, and pytest's
default import mode puts the checkout there too: either way ``import celery_office`` would find
the folder in the checkout, and a file missing from the wheel would never fail a test. The
suite runs in importlib mode from a working directory outside the checkout
(``tests/conftest.py``), and these tests fail when that no longer holds.

``OFFICE_TEST_SOURCE_TREE=1`` accepts an editable install of the checkout, for quick local
iterations; CI never sets it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import celery_office

from .conftest import ROOT, from_source_tree

pytestmark = pytest.mark.package

SOURCE_TREE_ALLOWED = os.environ.get("OFFICE_TEST_SOURCE_TREE", "") == "1"


@pytest.mark.skipif(SOURCE_TREE_ALLOWED, reason="OFFICE_TEST_SOURCE_TREE=1: editable install")
def test_the_suite_imports_the_installed_package() -> None:
    assert not from_source_tree(celery_office.__file__), (
        f"celery_office was imported from the checkout ({celery_office.__file__}), not from "
        "its installation: install it with `pip install '.[test]'` (not -e) and run `pytest` "
        "(not `python -m pytest`, which puts the working directory on sys.path)"
    )


@pytest.mark.skipif(SOURCE_TREE_ALLOWED, reason="OFFICE_TEST_SOURCE_TREE=1: editable install")
def test_subprocesses_of_the_tests_import_the_installed_package() -> None:
    """Workers and CLI runs of the tests start from the working directory the suite runs in."""
    found = subprocess.run(
        [sys.executable, "-c", "import celery_office; print(celery_office.__file__)"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip()
    assert not from_source_tree(found), f"a subprocess imported {found}"


def test_the_version_has_one_home() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    expected = declared["project"]["version"]
    assert version("celery-office") == expected
    assert celery_office.__version__ == expected


def test_celery_office_version_option() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "celery", "office", "--version"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"celery-office {celery_office.__version__}"
