"""The notebook format: what the lab notebooks mark, tag and name, and what the book's tools read.

The notebooks in ``notebooks/`` are the solution notebooks. The student edition
(:mod:`aecore.book.edition`), the book's Sphinx extensions (``book/_ext``), the Colab bootstrap cell
(:mod:`aecore.book.bootstrap`), the built-book check (:mod:`aecore.book.check`) and the tests all
read them through this one module:

- *solution regions*: in a code cell, the lines from ``### BEGIN SOLUTION`` (or ``### BEGIN
  SOLUTION: <what the student should write>``) to ``### END SOLUTION`` (nbgrader's markers), each
  marker on a line of its own; :func:`find_regions` parses them;
- *cell tags*: :data:`DROP_TAGS` hide a cell from the book and drop it from the student edition,
  except the bootstrap cell and cells tagged :data:`STUDENT_KEEP`; :data:`EXERCISE_TAG` marks a
  student notebook's exercise cells, :data:`RAISES` its cells that stop with an error;
- *cell ids*: :data:`BOOTSTRAP_ID`, the Colab install cell, first in every notebook and tagged
  :data:`BOOTSTRAP_TAGS`;
- *glue*: :data:`GLUE_ROLE` and :data:`GLUE_DIRECTIVE`, how the markdown cells cite values the code
  cells glue (myst-nb);
- *stubs*: what a region becomes in the student edition (``...`` and a ``raise NotImplementedError``
  line, :data:`STUB_RAISE`);
- *nbgrader markup* (cell metadata ``nbgrader``, schema version 3), so that nbgrader's
  ``generate_assignment`` takes a source notebook as it is:

  - an *exercise cell* (a code cell with solution regions) is a solution cell whose ``grade_id`` is
    the name of the cell's first function;
  - each exercise cell is followed by one *test cell* per function it checks (id and ``grade_id``
    ``check-<function>``): a locked, autograded cell with ``points`` (1 unless the notebook says
    otherwise) that calls ``exercises.check_<function>(<function>)``, then the same check on the
    hidden cases between :data:`HIDDEN_BEGIN` and :data:`HIDDEN_END` (nbgrader's markers);
  - each *observation* (a markdown cell starting with :data:`OBSERVATION_START`, not hidden from the
    book) is a manually graded answer cell, ``grade_id`` ``observation-<k>`` (k = 1, 2, ... in the
    notebook), whose text is the model answer. Its *question* is a locked markdown cell before it
    (id ``<answer id>-question``, ``grade_id`` ``observation-<k>-question``), starting with
    :data:`QUESTION_START`, with no glue (it reaches the student as it is); only the book's hidden
    cells (the glue and claims of the observation) may stand between the two;
  - cells that the graded cells need in order to run (the imports and settings) carry the tag
    :data:`GRADING_SETUP`: a grader runs those, the exercise cells and the test cells, and nothing
    that trains.

  :func:`markup_problems` lists what a notebook gets wrong.
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
EXERCISE_TAG = "exercise"  # a student notebook's exercise cell
RAISES = "raises-exception"  # a student notebook's cell that stops with an error (nbval and nbclient accept it)
TEST_TAGS = (RAISES,)  # a student notebook's test cell: its check stops at the exercise not done yet
GRADING_SETUP = "grading-setup"  # a cell the graded cells need (imports, settings): the grader runs it

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


# --- nbgrader markup (schema version 3) -------------------------------------------------------
NBGRADER = "nbgrader"  # the cell metadata key
SCHEMA_VERSION = 3
DEFAULT_POINTS = 1
HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
HIDDEN_END = "### END HIDDEN TESTS"
OBSERVATION_START = "**Observation.**"
QUESTION_START = "> **Question.**"
TEST_PREFIX = "check-"  # a test cell's id and grade_id: check-<function>
QUESTION_SUFFIX = "-question"  # a question cell's id: <answer cell id>-question
# The visible check call of a test cell (stripped line); group 1: the function.
CHECK_CALL = re.compile(r"exercises\.check_(\w+)\((\w+)\)")


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


# --- nbgrader markup --------------------------------------------------------------------------
def nbgrader(cell) -> dict:
    """The ``nbgrader`` metadata of ``cell`` (empty if it has none, or if it is not a mapping, as in a damaged
    submission)."""
    meta = cell.get("metadata", {}).get(NBGRADER, {})
    return dict(meta) if isinstance(meta, dict) else {}


def tags(cell) -> list[str]:
    """The tags of ``cell``."""
    return list(cell.get("metadata", {}).get("tags", []))


def is_hidden(cell) -> bool:
    """Whether the book hides ``cell`` and the student edition drops it (one of :data:`DROP_TAGS`, not
    :data:`STUDENT_KEEP`, not the Colab install cell)."""
    return (cell.get("id") != BOOTSTRAP_ID and STUDENT_KEEP not in tags(cell)
            and any(tag in DROP_TAGS for tag in tags(cell)))


def is_test_cell(cell) -> bool:
    """Whether ``cell`` is an autograded test cell (a code cell marked grade, not solution)."""
    meta = nbgrader(cell)
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def is_answer_cell(cell) -> bool:
    """Whether ``cell`` is a manually graded answer cell (a markdown cell marked solution and grade)."""
    meta = nbgrader(cell)
    return cell.get("cell_type") == "markdown" and bool(meta.get("solution")) and bool(meta.get("grade"))


def is_observation(cell) -> bool:
    """Whether ``cell`` is an observation of the solved book (markdown starting with :data:`OBSERVATION_START`,
    not hidden)."""
    return (cell.get("cell_type") == "markdown" and cell.get("source", "").lstrip().startswith(OBSERVATION_START)
            and not is_hidden(cell))


def _first_function(text: str) -> str | None:
    match = re.search(r"^def (\w+)\s*\(", text, re.MULTILINE)
    return match.group(1) if match else None


def check_cell_source(function: str) -> str:
    """The source of the test cell of ``function``: its check, then the same check on the hidden cases."""
    return (f"exercises.check_{function}({function})\n{HIDDEN_BEGIN}\n"
            f'exercises.check_{function}({function}, cases="hidden")\n{HIDDEN_END}')


def markup_problems(nb) -> list[str]:
    """What the source notebook ``nb`` gets wrong of the nbgrader markup described above, one line each
    (cell index and id, what is wrong, what to write); empty when nothing."""
    problems = []
    cells = nb.cells if hasattr(nb, "cells") else nb["cells"]

    def where(index: int) -> str:
        return f"cell {index} (id {cells[index].get('id')!r})"

    observations = 0
    for index, cell in enumerate(cells):
        meta = nbgrader(cell)
        if meta and meta.get("schema_version") != SCHEMA_VERSION:
            problems.append(f"{where(index)}: nbgrader schema_version {meta.get('schema_version')!r}, "
                            f"expected {SCHEMA_VERSION}")
        try:
            regions = find_regions(cell.get("source", "")) if cell.get("cell_type") == "code" else []
        except MarkerError as error:
            problems.append(f"{where(index)}: {error}")
            regions = []
        if regions:
            function = _first_function(cell.source)
            if not (meta.get("solution") and not meta.get("grade") and meta.get("grade_id") == function):
                problems.append(f"{where(index)}: an exercise cell must be an nbgrader solution cell "
                                f'{{"solution": true, "grade": false, "grade_id": "{function}", ...}}, has {meta}')
            following = []
            for later in cells[index + 1:]:
                if not is_test_cell(later):
                    break
                following.append(later)
            if not following:
                problems.append(f"{where(index)}: an exercise cell must be followed by its test cell(s) "
                                f"(id check-<function>, a locked nbgrader grade cell calling the check)")
        if is_test_cell(cell):
            lines = [line.strip() for line in cell.source.splitlines() if line.strip()]
            call = CHECK_CALL.fullmatch(lines[0]) if lines else None
            function = call.group(1) if call and call.group(1) == call.group(2) else None
            if function is None or cell.source.strip() != check_cell_source(function):
                problems.append(f"{where(index)}: a test cell must be exactly the check and its hidden cases:\n"
                                + check_cell_source(function or "<function>"))
            elif not (meta.get("locked") and cell.get("id") == meta.get("grade_id") == f"{TEST_PREFIX}{function}"):
                problems.append(f"{where(index)}: the test cell of {function} must be locked, with id and grade_id "
                                f"{TEST_PREFIX}{function}")
            if not isinstance(meta.get("points"), (int, float)) or meta["points"] <= 0:
                problems.append(f"{where(index)}: a test cell needs points > 0 (default {DEFAULT_POINTS}), "
                                f"has {meta.get('points')!r}")
        if is_observation(cell) or is_answer_cell(cell):
            observations += 1
            answer = f"observation-{observations}"
            if not (is_observation(cell) and is_answer_cell(cell) and meta.get("grade_id") == answer
                    and isinstance(meta.get("points"), (int, float)) and meta["points"] > 0):
                problems.append(f"{where(index)}: observation {observations} must start with {OBSERVATION_START!r} "
                                f"and be a manually graded answer cell "
                                f'{{"solution": true, "grade": true, "grade_id": "{answer}", "points": '
                                f"{DEFAULT_POINTS}, ...}}, has {meta}")
            before = index - 1
            while before >= 0 and is_hidden(cells[before]):
                before -= 1
            question = cells[before] if before >= 0 else None
            if (question is None or question.get("cell_type") != "markdown"
                    or not question.source.startswith(QUESTION_START)
                    or question.get("id") != f"{cell.get('id')}{QUESTION_SUFFIX}"
                    or nbgrader(question).get("grade_id") != f"{answer}{QUESTION_SUFFIX}"
                    or not nbgrader(question).get("locked") or nbgrader(question).get("grade")
                    or nbgrader(question).get("solution")):
                problems.append(f"{where(index)}: observation {observations} needs its question just before it "
                                f"(only hidden cells between): a locked markdown cell with id "
                                f"{cell.get('id')}{QUESTION_SUFFIX} and grade_id {answer}{QUESTION_SUFFIX} that starts "
                                f"with {QUESTION_START!r}")
            elif GLUE_ROLE.search(question.source) or GLUE_DIRECTIVE.search(question.source):
                problems.append(f"{where(before)}: a question cites no glued value (it reaches the student as it is)")
    return problems
