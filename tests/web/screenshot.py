"""The README's picture of the office page: the ADOLF office in every state, in Debian's
headless Chromium. ``python -m tests.web.screenshot docs/office.png [--width 1280]``."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from celery_office import migrate
from celery_office.web import create_app

from .adolf_office import fill_adolf_office
from .browser import chromium
from .server import served


def take(path: Path, *, width: int = 1280, height: int = 900) -> None:
    with tempfile.TemporaryDirectory() as where:
        url = f"sqlite:///{where}/office.db"
        migrate(url)
        fill_adolf_office(url)
        with served(create_app(url)) as base, chromium() as browser:
            page = browser.new_page(viewport={"width": width, "height": height},
                                    device_scale_factor=1)
            page.goto(base + "/")
            page.wait_for_selector(".desk")
            page.screenshot(path=str(path), full_page=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", type=Path)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=900)
    args = parser.parse_args()
    take(args.path, width=args.width, height=args.height)


if __name__ == "__main__":
    main()
