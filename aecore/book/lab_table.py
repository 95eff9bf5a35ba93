"""The book's lab table: ``book/intro.md`` holds only the markers :data:`aecore.labs.BEGIN` and
:data:`aecore.labs.END`; the build fills in :func:`aecore.labs.lab_table` between them, so a new lab module
appears in the table without an edit to the intro. ``book/_ext/lab_table.py`` connects these to Sphinx."""

from __future__ import annotations

from typing import Any

from .. import labs

PAGE = "intro"
"""The page (Sphinx docname) that carries the lab table."""


def fill_lab_table(app: Any, docname: str, source: list[str]) -> None:
    """Sphinx ``source-read``: in :data:`PAGE`, put the lab table between its markers (``source[0]``, the page's
    text, is changed in place); ValueError if the page has no markers."""
    if docname == PAGE:
        source[0] = labs.with_lab_table(source[0], "myst")


def reread_the_table_page(app: Any, env: Any, added: set[str], changed: set[str], removed: set[str]) -> list[str]:
    """Sphinx ``env-get-outdated``: :data:`PAGE` is read again on every build (its table follows the lab modules,
    which Sphinx does not watch; it is one short page)."""
    return [PAGE] if PAGE in env.found_docs else []
