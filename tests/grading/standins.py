"""Stand-ins for what two other parts of issue 34 deliver, so that grading can be tested before they land.

# CONTRACT STAND-IN: replace with the real markup of notebooks/*.ipynb (obs) and with
# aecore.book.student_package.write_package(out, hidden_cases=True) (pkg) once both are merged.
"""

from __future__ import annotations

import copy
import inspect
import re
import shutil
from pathlib import Path

import nbformat

from aecore.config import REPO_ROOT
from aecore.grading import markup

_CHECK_CALL = re.compile(r"^exercises\.check_(\w+)\((\w+)\)\s*$")


def _meta(**fields) -> dict:
    return {"nbgrader": {"schema_version": 3, **fields}}


# CONTRACT STAND-IN: replace with the source notebooks as obs marks them up (contract section 3).
def mark_up(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``nb`` with the contract's markup applied: each exercise cell (with ``### BEGIN SOLUTION``) a solution cell,
    its check calls moved into locked test cells of 1 point (with the hidden check when the checks take
    ``cases``), the imports cell tagged ``grading-setup``, each observation an answer cell after a question."""
    from aecore import exercises

    hidden = "cases" in inspect.signature(next(iter(exercises.CHECKS.values()))).parameters
    out = copy.deepcopy(nb)
    cells, k = [], 0
    for cell in out.cells:
        tags = cell.metadata.get("tags", [])
        if cell.cell_type == "code" and "from aecore.exercises import" in cell.source:
            cell.metadata.setdefault("tags", []).append(markup.GRADING_SETUP)
        if cell.cell_type == "code" and "### BEGIN SOLUTION" in cell.source:
            lines = cell.source.rstrip().splitlines()
            calls = [line for line in lines if _CHECK_CALL.match(line)]
            body = "\n".join(line for line in lines if not _CHECK_CALL.match(line)).rstrip() + "\n"
            first = re.search(r"^def (\w+)", body, re.MULTILINE)
            cell.source = body
            cell.metadata.update(_meta(solution=True, grade=False, locked=False, grade_id=first[1] if first else "x"))
            cells.append(cell)
            for call in calls:
                function = _CHECK_CALL.match(call)[1]
                source = call
                if hidden:
                    source += (f"\n### BEGIN HIDDEN TESTS\nexercises.check_{function}({function}, cases=\"hidden\")\n"
                               "### END HIDDEN TESTS")
                test = nbformat.v4.new_code_cell(source)
                test.metadata.update(_meta(solution=False, grade=True, locked=True, points=1,
                                           grade_id=f"check-{function}"))
                cells.append(test)
            continue
        if cell.cell_type == "markdown" and cell.source.startswith("**Observation.**") and "book-only" not in tags:
            k += 1
            cells.append(nbformat.v4.new_markdown_cell(
                f"**Question {k}.** What does the experiment above show? Describe it and explain why."))
            cell.metadata.update(_meta(solution=True, grade=True, locked=False, points=1,
                                       grade_id=f"observation-{k}"))
        cells.append(cell)
    out.cells = cells
    return out


def marked_up_notebooks(folder: Path, stems: list[str]) -> list[Path]:
    """The source notebooks ``stems`` with :func:`mark_up` applied, written into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for stem in stems:
        nb = nbformat.read(REPO_ROOT / "notebooks" / f"{stem}.ipynb", as_version=4)
        path = folder / f"{stem}.ipynb"
        nbformat.write(mark_up(nb), path)
        paths.append(path)
    return paths


# CONTRACT STAND-IN: replace with aecore.book.student_package.write_package(out, hidden_cases=True) (pkg).
def write_package_standin(out: Path) -> Path:
    """A copy of this checkout's ``aecore`` package in ``out`` (the real grading build leaves the references out
    and adds the stored hidden cases); returns ``out``."""
    shutil.copytree(REPO_ROOT / "aecore", out / "aecore", ignore=shutil.ignore_patterns("__pycache__"))
    return out
