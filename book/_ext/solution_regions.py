"""Sphinx extension: the solved book shows each solution region as highlighted lines, not as markers.

Loaded through ``sphinx: local_extensions`` in _config.yml. The lab notebooks mark the code a student
writes with ``### BEGIN SOLUTION`` (or ``### BEGIN SOLUTION: <hint>``) and ``### END SOLUTION``
(``tools/make_student.py`` cuts those regions out for the student edition). On the book's pages the
marker lines are bookkeeping: this drops them from every notebook code cell's displayed source and
highlights the lines between them instead, so a reader sees the code as a student would have written it
and which part of it was the exercise. The notebooks themselves, and what their download button gives,
keep the markers.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from docutils import nodes

ROOT = Path(__file__).resolve().parent.parent.parent


def _find_regions():
    spec = importlib.util.spec_from_file_location("make_student", ROOT / "tools" / "make_student.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.find_regions


find_regions = _find_regions()  # the student edition's own parser, so the two never disagree


def displayed_source(text: str) -> tuple[str, list[int]]:
    """A code cell's ``text`` without its solution marker lines, and the 1-based numbers (in the
    returned text) of the lines that were inside a region. Text without regions comes back unchanged
    with no lines; unbalanced markers raise ``MarkerError`` naming the line."""
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
        if not inside:
            continue
        # the HTML writer highlights rawsource, and only when it equals the text
        block.rawsource = text
        del block[:]
        block.append(nodes.Text(text))
        block["highlight_args"] = {**block.get("highlight_args", {}), "hl_lines": inside}


def setup(app):
    app.connect("doctree-read", show_solution_regions)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
