"""The office page's HTML: the shipped ``static/index.html`` with its texts and settings filled.

Everything the page's script needs that is not the office itself (the texts, how often to poll,
the task texts' prefixes that mark a missed schedule or an overlong run) travels in one JSON
block inside the HTML, so the page needs no second request before it can draw, and the texts
keep their one home (:mod:`.texts`). The page loads nothing from the internet: its script and
style are files of this package, served beside it.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from ..core.texts import ERROR_PREFIX, LANG, MISSED_PREFIX, OVERLONG_PREFIX, PAGE, RETRY_PREFIX

__all__ = ["STATIC", "render_page"]

STATIC = Path(__file__).resolve().parent / "static"


def _script_json(value: object) -> str:
    """JSON that cannot end its ``<script>`` block or open a comment in it."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_page(*, refresh: float) -> str:
    """The page, its script polling ``api/agents`` every ``refresh`` seconds."""
    config = {
        "texts": PAGE,
        "refresh_ms": max(250, int(refresh * 1000)),
        "api": "api/agents",
        "prefixes": {"error": ERROR_PREFIX, "retry": RETRY_PREFIX, "missed": MISSED_PREFIX,
                     "overlong": OVERLONG_PREFIX},
    }
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    for name, value in (("lang", LANG), ("title", str(PAGE["title"])),
                        ("noscript", str(PAGE["noscript"]))):
        page = page.replace("{{" + name + "}}", html.escape(value))
    return page.replace("{{config}}", _script_json(config))
