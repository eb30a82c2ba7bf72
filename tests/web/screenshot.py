"""The README's pictures of the office page, in Debian's headless Chromium: the ADOLF office
(14 agents) in every state, and a fleet of 1,000 agents as compact rows.

    python -m tests.web.screenshot docs [--width 1280]

writes ``docs/office.png`` and ``docs/office-1000.png``; the page's tests take both too
(``tests/web/test_page_fleet.py``, into ``OFFICE_SCREENSHOTS`` when set).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from celery_office import migrate
from celery_office.web import create_app

from .adolf_office import fill_adolf_office
from .browser import chromium
from .fleet_office import fill_fleet
from .server import served

NAMES = {None: "office.png", 1000: "office-1000.png"}


def take(path: Path, *, agents: int | None = None, width: int = 1280, height: int = 900) -> None:
    """The ADOLF office (``agents`` None: the whole page) or a fleet of ``agents`` (the
    window's top: the chips, the filters, the first rows)."""
    with tempfile.TemporaryDirectory() as where:
        url = f"sqlite:///{where}/office.db"
        migrate(url)
        if agents is None:
            fill_adolf_office(url)
        else:
            fill_fleet(url, agents)
        with served(create_app(url)) as base, chromium() as browser:
            page = browser.new_page(viewport={"width": width, "height": height},
                                    device_scale_factor=1)
            page.goto(base + "/")
            page.wait_for_selector("#office [data-agent-id]")
            if agents is not None:
                page.wait_for_selector(f"#office tr[data-agent-id]:nth-child({agents})")
            page.screenshot(path=str(path), full_page=agents is None)


def take_all(folder: Path, *, width: int = 1280, height: int = 900) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for agents, name in NAMES.items():
        take(folder / name, agents=agents, width=width, height=height)
    return [folder / name for name in NAMES.values()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=900)
    args = parser.parse_args()
    for path in take_all(args.folder, width=args.width, height=args.height):
        print(path)


if __name__ == "__main__":
    main()
