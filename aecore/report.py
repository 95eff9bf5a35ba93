"""Helpers to put computed numbers into the book: glue several values, show a table."""

from __future__ import annotations

import html
from typing import Any, Mapping, Sequence


def glue_values(**values: Any) -> None:
    """``myst_nb.glue(name, value, display=False)`` for each keyword: the prose cites them by name."""
    from myst_nb import glue

    for name, value in values.items():
        glue(name, value, display=False)


class Table:
    """A small results table shown as HTML in notebooks and in the book.

    ``rows``: a sequence of dicts (one per row, same keys); ``formats``: optional
    format spec per column, e.g. ``{"PSNR (dB)": ".2f"}``.
    """

    def __init__(self, rows: Sequence[Mapping[str, Any]], formats: Mapping[str, str] | None = None,
                 caption: str | None = None):
        if not rows:
            raise ValueError("a table needs at least one row")
        self.columns = list(rows[0])
        self.rows, self.formats, self.caption = rows, dict(formats or {}), caption

    def cell(self, column: str, value: Any) -> str:
        """Formatted text of one cell."""
        spec = self.formats.get(column)
        return format(value, spec) if spec and isinstance(value, (int, float)) else str(value)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(self.cell(c, row.get(c, '')))}</td>" for c in self.columns) + "</tr>"
            for row in self.rows
        )
        caption = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        return f'<table class="table">{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'

    def __repr__(self) -> str:
        widths = [max(len(c), *(len(self.cell(c, r.get(c, ""))) for r in self.rows)) for c in self.columns]
        line = lambda cells: "  ".join(s.ljust(w) for s, w in zip(cells, widths))
        return "\n".join([line(self.columns)] + [line([self.cell(c, r.get(c, "")) for c in self.columns])
                                                for r in self.rows])
