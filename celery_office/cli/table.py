"""A left-aligned text table for a terminal: cells cut to fit its width, wide characters counted.

Nothing here knows the office: the status command gives it headers, cells, which columns may
be cut and how to colour a cell.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Sequence

from ..jsonsafe import cut

__all__ = ["display_width", "truncate", "fit_widths", "render_table", "Styler"]


GAP = 2  # spaces between table columns


MIN_SHRUNK = 8  # a cut column keeps at least this many characters


def _cell(text: str | None) -> str:
    """Text fit for one table cell: control characters (newlines, ESC) become spaces."""
    if not text:
        return ""
    return "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text).strip()


def _char_width(ch: str) -> int:
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def display_width(text: str) -> int:
    """Columns ``text`` takes in a terminal (wide East Asian characters count two)."""
    return sum(_char_width(ch) for ch in text)


def truncate(text: str, width: int) -> str:
    """``text`` cut to ``width`` terminal columns, the cut marked with ``…``."""
    return cut(text, width, width=_char_width)


def fit_widths(
    natural: Sequence[int],
    available: int | None,
    shrinkable: Iterable[int],
    *,
    gap: int = GAP,
    minimum: int = MIN_SHRUNK,
) -> list[int]:
    """Column widths that fit ``available`` columns by narrowing the widest shrinkable ones.

    No column is narrowed below ``minimum`` (nor widened); if that is not enough the line stays
    too long. ``available=None`` means no limit.
    """
    widths = list(natural)
    if available is None or not widths:
        return widths
    excess = sum(widths) + gap * (len(widths) - 1) - available
    candidates = [i for i in shrinkable if 0 <= i < len(widths)]
    while excess > 0:
        wide = [i for i in candidates if widths[i] > minimum]
        if not wide:
            break
        widest = max(widths[i] for i in wide)
        tied = [i for i in wide if widths[i] == widest]
        others = [widths[i] for i in wide if widths[i] < widest]
        floor = max([minimum, *others])
        # Lower all the tied widest columns towards the next level, sharing the excess.
        step = min(widest - floor, -(-excess // len(tied)))
        for i in tied:
            if excess <= 0:
                break
            cut = min(step, excess)
            widths[i] -= cut
            excess -= cut
    return widths


Styler = Callable[[int, int, str], str]  # (row index or -1 for the header, column, text)


def render_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    max_width: int | None = None,
    shrinkable: Iterable[int] = (),
    style: Styler | None = None,
) -> list[str]:
    """Lines of a left-aligned table; cells of ``shrinkable`` columns cut to fit ``max_width``.

    ``style`` gets each padded cell (row -1 is the header) and returns it decorated; widths are
    computed before, so ANSI codes never count.
    """
    cells = [[_cell(c) for c in row] for row in rows]
    natural = [
        max([display_width(h), *(display_width(row[i]) for row in cells)])
        for i, h in enumerate(headers)
    ]
    widths = fit_widths(natural, max_width, shrinkable)
    lines = []
    for index, row in enumerate([list(headers), *cells]):
        texts = [truncate(text, widths[col]) for col, text in enumerate(row)]
        last = max((col for col, text in enumerate(texts) if text), default=-1)
        parts = []
        for col, text in enumerate(texts[: last + 1]):  # no trailing blanks, styled or not
            if col != last:
                text += " " * (widths[col] - display_width(text))
            parts.append(style(index - 1, col, text) if style else text)
        lines.append((" " * GAP).join(parts))
    return lines
