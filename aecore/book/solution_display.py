"""The solved book's display of solution regions: marker lines dropped, the region's lines highlighted.

Used by the Sphinx extension ``book/_ext/solution_regions.py``. The lab notebooks mark the code a
student writes with ``### BEGIN SOLUTION`` (or ``### BEGIN SOLUTION: <hint>``) and ``### END
SOLUTION`` (:mod:`aecore.book.notebook_format`; the student edition cuts those regions out). On the
book's pages the marker lines are bookkeeping: :func:`show_solution_regions` drops them from every
notebook code cell's displayed source and highlights the lines between them instead. A test cell's
hidden cases (``### BEGIN HIDDEN TESTS`` to ``### END HIDDEN TESTS``, for the grader) are not shown
at all: the book shows the check a student runs. The regions are
parsed by the student edition's own parser (:func:`aecore.book.notebook_format.find_regions`), so the
two never disagree.
"""

from __future__ import annotations

from docutils import nodes

from .notebook_format import HIDDEN_BEGIN, HIDDEN_END, find_regions


def without_hidden_tests(text: str) -> str:
    """``text`` without its hidden-test regions, marker lines included (unchanged if it has none)."""
    kept, hidden = [], False
    for line in text.splitlines(keepends=True):
        if line.strip() == HIDDEN_BEGIN:
            hidden = True
        elif line.strip() == HIDDEN_END and hidden:
            hidden = False
        elif not hidden:
            kept.append(line)
    return text if len(kept) == len(text.splitlines(keepends=True)) else "".join(kept).rstrip("\n")


def displayed_source(text: str) -> tuple[str, list[int]]:
    """A code cell's ``text`` without its solution marker lines and hidden tests, and the 1-based numbers
    (in the returned text) of the lines that were inside a solution region. Text without regions comes back
    unchanged with no lines; unbalanced markers raise ``MarkerError`` naming the line."""
    text = without_hidden_tests(text)
    regions = find_regions(text)
    if not regions:
        return text, []
    markers = {line for region in regions for line in (region.begin, region.end)}
    kept, inside = [], []
    for number, line in enumerate(text.splitlines(keepends=True)):
        if number in markers:
            continue
        kept.append(line)
        if any(region.begin < number < region.end for region in regions):
            inside.append(len(kept))
    return "".join(kept).rstrip("\n"), inside


def _is_cell_source(node: nodes.literal_block) -> bool:
    parent = node.parent
    return isinstance(parent, nodes.container) and parent.get("nb_element") == "cell_code_source"


def show_solution_regions(app, doctree: nodes.document) -> None:
    """``doctree-read``: rewrite each notebook code cell's source block as :func:`displayed_source`
    says, with the region's lines passed to Pygments as ``hl_lines``."""
    for block in list(doctree.findall(nodes.literal_block)):
        if not _is_cell_source(block):
            continue
        text, inside = displayed_source(block.astext())
        if text == block.astext():
            continue
        # the HTML writer highlights rawsource, and only when it equals the text
        block.rawsource = text
        del block[:]
        block.append(nodes.Text(text))
        if inside:
            block["highlight_args"] = {**block.get("highlight_args", {}), "hl_lines": inside}
