"""Sphinx extension: the solved book shows each solution region as highlighted lines, not as markers.

Loaded through ``sphinx: local_extensions`` in _config.yml. The lab notebooks mark the code a student
writes with ``### BEGIN SOLUTION`` (or ``### BEGIN SOLUTION: <hint>``) and ``### END SOLUTION``
(the student edition, :mod:`aecore.book.edition`, cuts those regions out). On the book's pages the
marker lines are bookkeeping: this drops them from every notebook code cell's displayed source and
highlights the lines between them instead, so a reader sees the code as a student would have written it
and which part of it was the exercise. The notebooks themselves, and what their download button gives,
keep the markers.
"""

from aecore.book.solution_display import show_solution_regions


def setup(app):
    app.connect("doctree-read", show_solution_regions)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
