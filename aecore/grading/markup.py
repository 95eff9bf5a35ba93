"""The graded parts of a lab notebook, read from its nbgrader markup (issue 34's contract, section 3).

A source notebook's cells carry nbgrader's cell metadata (``cell.metadata.nbgrader``, schema 3):

- an *exercise cell* is a solution cell (``solution: true, grade: false``, ``grade_id`` = its function);
- each checked function has an autograded *test cell* right after its exercise cell (``grade: true,
  locked: true, points: P, grade_id: "check-<function>"``), which calls its check (and, between
  ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``, the hidden check);
- each observation has an *answer cell*, a manually graded solution cell (``solution: true, grade: true``,
  ``grade_id: "observation-<k>"``) after the markdown cell that asks its question;
- cells tagged ``grading-setup`` are those a graded cell needs in order to run (imports, settings, data).

Grading runs only the grading-setup cells, the solution cells and the test cells (:func:`graded_notebook`),
so it never trains a model.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import nbformat

# The format's one definition is aecore.book.notebook_format: the tag, the test cells' grade_id prefix, the
# nbgrader metadata of a cell and what makes a test cell come from there.
from ..book.notebook_format import GRADING_SETUP, tags
from ..book.notebook_format import TEST_PREFIX as CHECK_PREFIX
from ..book.notebook_format import is_test_cell as is_test
from ..book.notebook_format import nbgrader as nbgrader_metadata


def is_solution(cell: Any) -> bool:
    """True for a cell the student writes in (an exercise cell or an observation's answer cell)."""
    return bool(nbgrader_metadata(cell).get("solution"))


def is_answer(cell: Any) -> bool:
    """True for a manually graded answer cell (an observation's answer)."""
    meta = nbgrader_metadata(cell)
    return bool(meta.get("grade")) and bool(meta.get("solution"))


def is_grading_setup(cell: Any) -> bool:
    """True for a cell tagged ``grading-setup``."""
    return GRADING_SETUP in tags(cell)


def grade_id(cell: Any) -> str | None:
    """The cell's nbgrader ``grade_id`` (None for a cell without nbgrader metadata)."""
    value = nbgrader_metadata(cell).get("grade_id")
    return str(value) if value else None


def runs_when_grading(cell: Any) -> bool:
    """True for the code cells grading runs: grading-setup cells, solution cells and test cells."""
    return cell.get("cell_type") == "code" and (is_grading_setup(cell) or is_solution(cell) or is_test(cell))


def graded_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of source notebook ``nb`` with only what grading needs: the code cells that
    :func:`runs_when_grading`, and the markdown cells of the student edition (the tasks, the observation
    questions and their answer cells; not the book-only ones). Outputs are cleared."""
    out = copy.deepcopy(nb)
    kept = []
    for cell in out.cells:
        if cell.cell_type == "markdown" and ("book-only" not in tags(cell) or is_solution(cell)):
            kept.append(cell)
        elif runs_when_grading(cell):
            cell.outputs, cell.execution_count = [], None
            kept.append(cell)
    out.cells = kept
    return out


@dataclass(frozen=True)
class Test:
    """One autograded test cell: its ``grade_id`` (``check-<function>``), the ``exercise`` (the function it
    checks), its ``points`` and the ``grade_id`` of the ``solution`` cell it belongs to (the exercise cell
    before it; None if there is none)."""
    grade_id: str
    exercise: str
    points: float
    solution: str | None


@dataclass(frozen=True)
class Question:
    """One manually graded answer cell: its ``grade_id`` (``observation-<k>``), its ``points`` and the
    ``question`` (the markdown of the cell before it)."""
    grade_id: str
    points: float
    question: str


def tests(nb: nbformat.NotebookNode) -> list[Test]:
    """The autograded test cells of ``nb``, in notebook order, each tied to the exercise cell before it."""
    found, solution = [], None
    for cell in nb.cells:
        if is_solution(cell) and cell.cell_type == "code":
            solution = grade_id(cell)
        elif is_test(cell):
            gid = grade_id(cell) or ""
            exercise = gid[len(CHECK_PREFIX):] if gid.startswith(CHECK_PREFIX) else gid
            found.append(Test(gid, exercise, float(nbgrader_metadata(cell).get("points", 0) or 0), solution))
    return found


def questions(nb: nbformat.NotebookNode) -> list[Question]:
    """The manually graded answer cells of ``nb`` with the question each answers, in notebook order."""
    found, previous = [], ""
    for cell in nb.cells:
        if is_answer(cell):
            found.append(Question(grade_id(cell) or "", float(nbgrader_metadata(cell).get("points", 0) or 0),
                                  previous.strip()))
        if cell.cell_type == "markdown":
            previous = cell.source
    return found
