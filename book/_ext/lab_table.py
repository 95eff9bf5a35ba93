"""Sphinx extension: the lab table of the book's introduction, from :data:`aecore.labs.LABS`, filled in between
its markers when the page is read (:mod:`aecore.book.lab_table` does the work; this file says when).

Loaded through ``sphinx: local_extensions`` in _config.yml.
"""

from aecore.book.lab_table import fill_lab_table, reread_the_table_page


def setup(app):
    app.connect("source-read", fill_lab_table)
    app.connect("env-get-outdated", reread_the_table_page)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
