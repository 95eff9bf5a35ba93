"""The notebook format: what the lab notebooks mark, tag and name, and what the book's tools read.

The notebooks in ``notebooks/`` are the solution notebooks. The student edition
(:mod:`aecore.book.edition`), the book's Sphinx extensions (``book/_ext``), the Colab bootstrap cell
(:mod:`aecore.book.bootstrap`), the built-book check (:mod:`aecore.book.check`) and the tests all
read them through this one module:

- *solution regions*: in a code cell, the lines from ``### BEGIN SOLUTION`` (or ``### BEGIN
  SOLUTION: <what the student should write>``) to ``### END SOLUTION`` (nbgrader's markers), each
  marker on a line of its own; :func:`find_regions` parses them;
- *cell tags*: :data:`DROP_TAGS` hide a cell from the book and drop it from the student edition,
  except the bootstrap cell and cells tagged :data:`STUDENT_KEEP`; :data:`EXERCISE_TAGS` mark a
  student notebook's exercise cells;
- *cell ids*: :data:`BOOTSTRAP_ID`, the Colab install cell, first in every notebook and tagged
  :data:`BOOTSTRAP_TAGS`;
- *glue*: :data:`GLUE_ROLE` and :data:`GLUE_DIRECTIVE`, how the markdown cells cite values the code
  cells glue (myst-nb);
- *stubs*: what a region becomes in the student edition (``...`` and a ``raise NotImplementedError``
  line, :data:`STUB_RAISE`).
"""

from __future__ import annotations

import re
from typing import NamedTuple

# --- solution regions -------------------------------------------------------------------------
BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
# A BEGIN line (stripped); group 1: the text after "### BEGIN SOLUTION:", if any.
BEGIN_LINE = re.compile(r"### BEGIN SOLUTION(?::(.*))?")

# --- cell tags --------------------------------------------------------------------------------
DROP_TAGS = ("book-only", "remove-input", "remove-cell")  # the book's own cells: not in the student edition
STUDENT_KEEP = "student-keep"  # a cell the book hides that the student edition keeps (e.g. sliders)
EXERCISE_TAGS = ("exercise", "raises-exception")  # a student notebook's exercise cell (nbval accepts its error)

# --- cell ids ---------------------------------------------------------------------------------
BOOTSTRAP_ID = "colab-bootstrap"  # the Colab install cell, first in every notebook
BOOTSTRAP_TAGS = ("remove-cell",)  # the book does not show it

# --- the student edition's stubs --------------------------------------------------------------
# The second line of a stub, stripped; group 1: the message, a Python string literal.
STUB_RAISE = re.compile(r"raise NotImplementedError\((.*)\)")
FALLBACK_MESSAGE = "write the missing code here"  # a region outside any function

# --- glue (myst-nb) ---------------------------------------------------------------------------
# {glue}`name`, {glue:}`name`, {glue:text}`name:.2f`, {glue:md}`other/page::name:myst`;
# groups: the role's kind ("" or None for plain glue), the reference.
GLUE_ROLE = re.compile(r"\{glue(?::([a-z]*))?\}`([^`]+)`")
# The opening line of a fenced glue directive: ```{glue:figure} name, :::{glue} name;
# groups: indentation, fence, kind (None for plain glue), name ("" when none is given).
GLUE_DIRECTIVE = re.compile(r"^([ \t]*)(`{3,}|~{3,}|:{3,})\{glue(?::([a-z]*))?\}[ \t]*(\S*)", re.MULTILINE)
# Roles whose reference may end with a format (``name:.2f``), which is not part of the name.
GLUE_ROLES_WITH_FORMAT = ("text", "md")


class MarkerError(ValueError):
    """Unbalanced or nested solution markers."""


class Region(NamedTuple):
    """A solution region of a cell: lines ``begin`` to ``end`` (0-based, both marker lines)."""
    begin: int
    end: int
    indent: str
    message: str | None  # the text after "### BEGIN SOLUTION:", None when not given


def find_regions(text: str) -> list[Region]:
    """The solution regions of a code cell's ``text``, in order; :class:`MarkerError` (naming the
    line) when a BEGIN has no END, an END no BEGIN, or a BEGIN comes inside a region."""
    regions, opened = [], None
    for number, line in enumerate(text.splitlines(keepends=True)):
        match = BEGIN_LINE.fullmatch(line.strip())
        if match:
            if opened is not None:
                raise MarkerError(f"line {number + 1}: {BEGIN!r} inside the region opened on line "
                                  f"{opened[0] + 1} (regions cannot nest)")
            message = (match.group(1) or "").strip() or None
            opened = (number, line[:len(line) - len(line.lstrip())], message)
        elif line.strip() == END:
            if opened is None:
                raise MarkerError(f"line {number + 1}: {END!r} without a {BEGIN!r} before it")
            regions.append(Region(opened[0], number, opened[1], opened[2]))
            opened = None
    if opened is not None:
        raise MarkerError(f"line {opened[0] + 1}: {BEGIN!r} has no {END!r} after it")
    return regions
