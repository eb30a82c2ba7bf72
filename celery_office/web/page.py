"""The office page's HTML: the shipped ``static/index.html`` with its texts and settings filled.

Everything the page's script needs that is not the office itself (the words of its frame, how
often to poll, from how many agents it draws compact rows) travels in one JSON block inside the
HTML, so the page needs no second request before it can draw, and the words keep their one home
(:mod:`.texts`); the office's own texts come formatted in ``/api/agents`` (:mod:`.view`). The
page loads nothing from the internet: its script and style are files of this package, served
beside it.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .texts import PAGE

__all__ = ["STATIC", "COMPACT_FROM", "render_page"]

STATIC = Path(__file__).resolve().parent / "static"
COMPACT_FROM = 60  # agents shown: from this many, rows of a table instead of desks in rooms


def _script_json(value: object) -> str:
    """JSON that cannot end its ``<script>`` block or open a comment in it."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_page(*, refresh: float, texts: Mapping[str, Any] = PAGE) -> str:
    """The page in ``texts``' words, its script polling ``api/agents`` every ``refresh``
    seconds."""
    config = {
        "texts": texts,
        "refresh_ms": max(250, int(refresh * 1000)),
        "api": "api/agents",
        "compact_from": COMPACT_FROM,
    }
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    for name, value in (("lang", str(texts["language"])), ("title", str(texts["title"])),
                        ("noscript", str(texts["noscript"]))):
        page = page.replace("{{" + name + "}}", html.escape(value))
    return page.replace("{{config}}", _script_json(config))
