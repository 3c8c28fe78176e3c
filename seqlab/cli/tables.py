"""Tables that fit the terminal: columns chosen by width, no word ever split.

rich shrinks a table that is too wide by cutting headers (``sta…``) and folding words
(``label_column=labe`` / ``l``). :func:`fitted_table` decides instead: each column needs
the width of its header and of its longest word (of its longest value when it does not
wrap), plus a little room for columns that wrap (so prose does not wrap one word per
line); columns are kept in order of importance while they fit, the others are left out
and named in the caption, and the widths are fixed so rich wraps only at spaces.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.table import Table

# rich's default box: one border left of every column and one at the right edge, and one
# space of padding on each side of a cell.
_PER_COLUMN = 3
_EDGE = 1
#: A wrapping column gets at least this many characters when its text is longer, so that
#: a sentence does not stand one word per line.
COMFORTABLE = 20


@dataclass(frozen=True)
class Column:
    """One column: its header, whether its text may wrap (at spaces only), its justification
    and its importance (``0`` is never left out; higher numbers are left out first)."""

    header: str
    wrap: bool = False
    justify: str = "left"
    importance: int = 0


def _needs(column: Column, values: Sequence[str]) -> tuple[int, int]:
    """(the least width that splits no word, the width that wraps nothing)."""
    full = max([len(column.header), *(len(v) for v in values)])
    if not column.wrap:
        return full, full
    longest_word = max([len(column.header), *(len(w) for v in values for w in v.split())])
    return max(longest_word, min(full, COMFORTABLE)), full


def choose_widths(
    columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int
) -> dict[int, int]:
    """{column index: width} of the columns that fit in ``width`` characters.

    Columns are admitted in order of importance (ties: left to right) while their least
    widths fit; importance 0 is always admitted. The room left is shared out to the
    wrapping columns, up to what each needs to wrap nothing.
    """
    needs = [_needs(c, [r[i] for r in rows]) for i, c in enumerate(columns)]
    order = sorted(range(len(columns)), key=lambda i: (columns[i].importance, i))
    kept: list[int] = []
    used = _EDGE
    for i in order:
        cost = needs[i][0] + _PER_COLUMN
        if columns[i].importance == 0 or used + cost <= width:
            kept.append(i)
            used += cost
    widths = {i: needs[i][0] for i in sorted(kept)}
    room = width - used
    for i in sorted(kept, key=lambda i: needs[i][1] - needs[i][0]):  # smallest wants first
        extra = min(needs[i][1] - widths[i], max(room, 0))
        widths[i] += extra
        room -= extra
    return widths


def fitted_table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    width: int,
    *,
    title: str | None = None,
    hint: str = "",
) -> Table:
    """A rich table of ``rows`` within ``width`` characters (see :func:`choose_widths`).

    Left-out columns are named in the caption, followed by ``hint`` (where to see them).
    ``rows`` are plain text (markup is not interpreted).
    """
    widths = choose_widths(columns, rows, width)
    left_out = [c.header for i, c in enumerate(columns) if i not in widths]
    caption = None
    if left_out:
        caption = f"left out at {width} columns: {', '.join(left_out)}" + (
            f"; {hint}" if hint else ""
        )
    table = Table(title=title, caption=caption, caption_justify="left")
    for i, w in widths.items():
        c = columns[i]
        table.add_column(
            c.header,
            justify=c.justify,
            width=w,
            no_wrap=not c.wrap,
            overflow="fold",  # type: ignore[arg-type]
        )
    for row in rows:
        table.add_row(*(_plain(row[i]) for i in widths))
    return table


def _plain(text: str) -> str:
    from rich.markup import escape

    return escape(text)


__all__ = ["COMFORTABLE", "Column", "choose_widths", "fitted_table"]
