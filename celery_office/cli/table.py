"""A left-aligned text table for a terminal: one line a row, cells cut to fit its width (then
columns left out, when cutting is not enough), wide characters counted.

Nothing here knows the office: the status command gives it headers, cells, which columns may
be cut and to how narrow, which may be left out first, and how to colour a cell.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import NamedTuple

from ..jsonsafe import cut

__all__ = ["display_width", "truncate", "fit_widths", "fit_columns", "render_table", "Styler",
           "Shrinkable", "Table"]


GAP = 2  # spaces between table columns


MIN_SHRUNK = 8  # a cut column keeps at least this many characters, unless told otherwise


def _cell(text: str | None) -> str:
    """Text fit for one table cell, on one line: control characters (ESC) become spaces, and
    runs of whitespace (a traceback's newlines and indents) one space."""
    if not text:
        return ""
    return " ".join(
        "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text).split()
    )


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


Shrinkable = Mapping[int, int] | Iterable[int]  # columns that may be cut (-> narrowest each)


def _floors(shrinkable: Shrinkable, minimum: int) -> dict[int, int]:
    if isinstance(shrinkable, Mapping):
        return dict(shrinkable)
    return dict.fromkeys(shrinkable, minimum)


def fit_widths(
    natural: Sequence[int],
    available: int | None,
    shrinkable: Shrinkable,
    *,
    gap: int = GAP,
    minimum: int = MIN_SHRUNK,
) -> list[int]:
    """Column widths that fit ``available`` columns by narrowing the widest shrinkable ones.

    No column is narrowed below its narrowest (``shrinkable``'s value, else ``minimum``) nor
    widened; if that is not enough the line stays too long. ``available=None``: no limit.
    """
    widths = list(natural)
    if available is None or not widths:
        return widths
    excess = sum(widths) + gap * (len(widths) - 1) - available
    floors = {i: low for i, low in _floors(shrinkable, minimum).items() if 0 <= i < len(widths)}
    while excess > 0:
        wide = [i for i in floors if widths[i] > floors[i]]
        if not wide:
            break
        widest = max(widths[i] for i in wide)
        tied = [i for i in wide if widths[i] == widest]
        others = [widths[i] for i in wide if widths[i] < widest]
        floor = max([*(floors[i] for i in tied), *others])
        # Lower all the tied widest columns towards the next level, sharing the excess.
        step = min(widest - floor, -(-excess // len(tied)))
        for i in tied:
            if excess <= 0:
                break
            cut = min(step, excess)
            widths[i] -= cut
            excess -= cut
    return widths


def fit_columns(
    natural: Sequence[int],
    available: int | None,
    shrinkable: Shrinkable,
    *,
    droppable: Sequence[int] = (),
    minimum: int = MIN_SHRUNK,
) -> list[int | None]:
    """Column widths that fit ``available``, None for a column left out.

    The shrinkable columns are narrowed first (:func:`fit_widths`); when they are at their
    narrowest and the line is still too long, the ``droppable`` columns are left out in
    that order; as a last resort (a very narrow terminal) each column is clipped where the
    line must end, and those that start past it are left out.
    """
    floors = _floors(shrinkable, minimum)
    hidden: list[int] = []
    for drop in (None, *droppable):
        if drop is not None:
            hidden.append(drop)
        shown = [i for i in range(len(natural)) if i not in hidden]
        fitted = fit_widths([natural[i] for i in shown], available,
                            {shown.index(i): low for i, low in floors.items() if i in shown})
        if available is None or sum(fitted) + GAP * (len(fitted) - 1) <= available:
            break
    widths: list[int | None] = [None] * len(natural)
    start = 0
    for i, width in zip(shown, fitted, strict=True):
        room = width if available is None else min(width, available - start)
        if room > 0:
            widths[i] = room
            start += room + GAP
    return widths


class Table(NamedTuple):
    """A rendered table: its lines, and the headers of the columns left out to fit."""

    lines: list[str]
    hidden: list[str]


Styler = Callable[[int, int, str], str]  # (row index or -1 for the header, column, text)


def render_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    max_width: int | None = None,
    shrinkable: Shrinkable = (),
    droppable: Sequence[int] = (),
    minimum: int = MIN_SHRUNK,
    style: Styler | None = None,
) -> Table:
    """A left-aligned table within ``max_width`` columns (:func:`fit_columns`); None: no limit.

    ``style`` gets each padded cell (row -1 is the header) and returns it decorated; widths are
    computed before, so ANSI codes never count.
    """
    cells = [[_cell(c) for c in row] for row in rows]
    natural = [
        max([display_width(h), *(display_width(row[i]) for row in cells)])
        for i, h in enumerate(headers)
    ]
    widths = fit_columns(natural, max_width, shrinkable, droppable=droppable, minimum=minimum)
    shown = [col for col, width in enumerate(widths) if width is not None]
    lines = []
    for index, row in enumerate([list(headers), *cells]):
        texts = [truncate(row[col], widths[col] or 0) for col in shown]
        last = max((at for at, text in enumerate(texts) if text), default=-1)
        parts = []
        for at, text in enumerate(texts[: last + 1]):  # no trailing blanks, styled or not
            col = shown[at]
            if at != last:
                text += " " * ((widths[col] or 0) - display_width(text))
            parts.append(style(index - 1, col, text) if style else text)
        lines.append((" " * GAP).join(parts))
    left_out = [*droppable, *range(len(headers))]  # in the order they were left out
    hidden = [headers[col] for col in dict.fromkeys(left_out) if widths[col] is None]
    return Table(lines, hidden)
