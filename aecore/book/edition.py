"""The student edition of the labs: the solution notebooks with their solutions taken out.

The notebooks in ``notebooks/`` are the solution notebooks and stay the source of truth. In their code
cells a *solution region* is the code between two marker lines (nbgrader's; the format's one
definition is :mod:`aecore.book.notebook_format`)::

    ### BEGIN SOLUTION            (or: ### BEGIN SOLUTION: what the student should write)
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    ### END SOLUTION

Each notebook's student version differs from it as follows:

- every region, marker lines included, becomes two lines at the BEGIN line's indentation, ``...`` and
  ``raise NotImplementedError("<what to write>")``. The message is the text after
  ``### BEGIN SOLUTION:`` if given; otherwise it names the enclosing function and the first line of
  its docstring (``write reparameterize: A differentiable sample ... (see its docstring)``); a region
  outside any function says ``write the missing code here``;
- a cell with a region (an *exercise cell*) keeps its id and gets the tag ``exercise`` (and
  ``raises-exception`` where a region lies outside any function, so that the cell itself raises);
- its test cells (the locked nbgrader grade cells after it that call its check) get
  ``raises-exception``: with a stub in place the check stops there, and nbval and nbclient accept
  that error. Their hidden test cases (between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN
  TESTS``) are removed by nbgrader's ``ClearHiddenTests``;
- each observation's answer cell (the solved paragraph, a manually graded nbgrader cell) becomes
  nbgrader's answer prompt (``ClearSolutions``' ``YOUR ANSWER HERE``); its question, the cell
  before it, stays as it is, and so do the figures and tables the code cells draw;
- the book's own cells are dropped: those tagged ``book-only``, ``remove-input`` or ``remove-cell``
  (hidden assertions, claims, glue, benchmark tables), except the Colab install cell (id
  ``colab-bootstrap``) and cells tagged ``student-keep`` (an interactive widget the static book
  cannot show), which are kept without those tags so that the student sees them;
- in markdown cells, glue roles (``{glue:text}`name:.1f```) become ``[your value: name]`` and glue
  directives (a fenced ``{glue:figure}`` block) a line ``*(your figure)*``: Jupyter cannot render them;
- outputs are emptied and execution counts cleared;
- the notebook then goes through the rest of nbgrader's release steps, as ``nbgrader
  generate_assignment`` runs them: ``LockCells`` (test and question cells cannot be edited or
  deleted, answer and exercise cells not deleted), ``ClearMarkScheme``, ``ComputeChecksums``, and
  its metadata validator. The student notebook is an nbgrader assignment in release form: a course
  that collects it back grades it with the source notebook's test cells, hidden tests included.

The source notebook must carry the nbgrader markup of :mod:`aecore.book.notebook_format`; where it
does not (an exercise cell without metadata, an observation without its question, ...) the run
stops with :class:`MarkupError` naming the notebook, the cell and what to write.

Unbalanced or nested markers stop the run too, with an error naming the notebook and the cell, and nothing
is written: the notebooks and the zip are written to a temporary folder beside the output and moved
into place only when every notebook succeeded.

Usage (:func:`main`):
    python tools/make_student.py [--out DIR] [NOTEBOOK ...]

writes ``DIR/notebooks/<name>.ipynb`` for each NOTEBOOK (default: every ``notebooks/*.ipynb``) and
``DIR/aecore-student-notebooks.zip`` (those notebooks in a folder ``aecore-student-notebooks/``, with
a README.txt), and ``DIR/nbgrader-source/<name>/<name>.ipynb``, each notebook in nbgrader's *source*
form (:func:`course_source`: solutions and hidden tests in, the book's own cells out), laid out as an
nbgrader course's ``source/`` folder, one assignment per notebook named after its stem. DIR defaults to
``_build/student`` in the repository. ``DIR/notebooks``, ``DIR/nbgrader-source`` and the zip are
replaced as a whole, so they hold exactly the notebooks of the last run.

:func:`insert_solutions` puts a source notebook's regions back into its student notebook (the tests'
round trip, and the student walk of ``tests/book/test_student_edition.py``).
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import os
import re
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

import nbformat

from ..config import REPO_ROOT as ROOT
from .bootstrap import for_students
from .notebook_format import (
    BOOTSTRAP_ID,
    DROP_TAGS,
    EXERCISE_TAG,
    FALLBACK_MESSAGE,
    GLUE_DIRECTIVE,
    GLUE_ROLE,
    RAISES,
    STUB_RAISE,
    STUDENT_KEEP,
    TEST_TAGS,
    MarkerError,
    Region,
    find_regions,
    is_answer_cell,
    is_hidden,
    is_test_cell,
    markup_problems,
    nbgrader,
    tags,
)

NOTEBOOKS = ROOT / "notebooks"
DEFAULT_OUT = ROOT / "_build" / "student"
ZIP_NAME = "aecore-student-notebooks.zip"
ZIP_FOLDER = "aecore-student-notebooks"
COURSE_SOURCE = "nbgrader-source"  # DIR/nbgrader-source/<stem>/<stem>.ipynb: nbgrader's source layout

README = """\
Deep autoencoders: the lab notebooks, student edition
=====================================================

One notebook per lab. Each exercise is a code cell in which the missing code is two lines,

    ...
    raise NotImplementedError("write <function>: <what it does> (see its docstring)")

Replace both lines with your code. Run the notebook from the top: it stops at the first
exercise you have not done yet. The check in the cell right after each exercise says whether
your code is right and names the typical mistakes. The models you train with your own code get
their own cache entries, so a wrong loss never overwrites (or loads) the reference models.

Each observation of a lab is a question (a cell starting with "Question."), followed by a cell
"YOUR ANSWER HERE": write your answer there, in Markdown, citing the numbers and the figures
your run produced.

The notebooks are nbgrader assignments: a course that grades with nbgrader collects them back
as they are. Do not delete or copy the check cells and the answer cells, and keep the names of
the functions you write.

How to open the notebooks:

- Jupyter (JupyterLab or Notebook) with aecore installed: in a checkout of the course's
  repository run `make install`, then `.venv/bin/jupyter lab`, and open a notebook of this
  folder (or `pip install` aecore into the environment of your own Jupyter).
- Google Colab: File -> Upload notebook (or the "open in Colab" link on the lab's page of the
  course's book). The first cell installs aecore; it takes a minute or two.
"""


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def solution_regions(source_cell_text: str) -> list[str]:
    """The text of each solution region of a code cell, marker lines and line endings included."""
    lines = _lines(source_cell_text)
    return ["".join(lines[r.begin:r.end + 1]) for r in find_regions(source_cell_text)]


def _parse(text: str) -> ast.Module | None:
    """``text`` parsed as Python, IPython magics and shell lines masked (line numbers kept); None if it
    still does not parse."""
    masked = []
    for line in text.splitlines():
        stripped = line.lstrip()
        masked.append(line[:len(line) - len(stripped)] + "pass" if stripped.startswith(("%", "!")) else line)
    try:
        return ast.parse("\n".join(masked))
    except SyntaxError:
        return None


def _enclosing_def(text: str, line_number: int, indent: str) -> tuple[str, str | None] | None:
    """``(name, first docstring line)`` of the innermost function around ``line_number`` (1-based) of
    ``text`` whose ``def`` is indented less than ``indent``; None outside any function."""
    tree = _parse(text)
    if tree is not None:
        best = None
        for node in ast.walk(tree):
            if (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.col_offset < len(indent)
                    and node.lineno < line_number <= (node.end_lineno or node.lineno)):
                if best is None or node.lineno > best.lineno:
                    best = node
        if best is None:
            return None
        doc = ast.get_docstring(best)
        first = next((line.strip() for line in (doc or "").splitlines() if line.strip()), None)
        return best.name, first
    # not Python (a cell magic, say): the nearest preceding less-indented def line, no docstring
    lines, width = text.splitlines(), len(indent)
    for line in reversed(lines[:line_number - 1]):
        stripped = line.lstrip()
        if not stripped or stripped.startswith("#"):
            continue
        if len(line) - len(stripped) < width:
            match = re.match(r"(?:async\s+)?def\s+(\w+)\s*\(", stripped)
            if match:
                return match.group(1), None
            width = len(line) - len(stripped)
    return None


def region_message(text: str, region: Region) -> str:
    """What the student is asked to write in ``region`` of the cell ``text``, on one line."""
    if region.message:
        message = region.message
    else:
        found = _enclosing_def(text, region.begin + 1, region.indent)
        if found is None:
            message = FALLBACK_MESSAGE
        else:
            name, doc = found
            if doc and doc.endswith(".") and not doc.endswith(".."):
                doc = doc[:-1]  # the sentence goes on: "(see its docstring)"
            message = f"write {name}: {doc} (see its docstring)" if doc else f"write {name}"
    return " ".join(message.split())


def stub_lines(indent: str, message: str, ending: str) -> list[str]:
    """The two lines that replace a region: ``...`` and the raise, the last ending with ``ending``."""
    return [f"{indent}...\n", f"{indent}raise NotImplementedError({json.dumps(message, ensure_ascii=False)})"
            + ending]


def _ending(line: str) -> str:
    return line[len(line.rstrip("\r\n")):]


def student_source(text: str) -> str:
    """A code cell's ``text`` with each solution region replaced by its two stub lines."""
    regions = find_regions(text)
    lines = _lines(text)
    out, position = [], 0
    for region in regions:
        out += lines[position:region.begin]
        out += stub_lines(region.indent, region_message(text, region), _ending(lines[region.end]))
        position = region.end + 1
    return "".join(out + lines[position:])


def _stubs(text: str) -> list[tuple[int, str]]:
    """``(line index of the "..." line, message)`` of each stub in a student cell's ``text``."""
    lines, found = text.splitlines(), []
    for number in range(len(lines) - 1):
        first, second = lines[number], lines[number + 1]
        indent = first[:len(first) - len(first.lstrip())]
        match = STUB_RAISE.fullmatch(second.strip())
        if first.strip() == "..." and match and second[:len(second) - len(second.lstrip())] == indent:
            try:
                message = ast.literal_eval(match.group(1))
            except (ValueError, SyntaxError):
                continue
            if isinstance(message, str):
                found.append((number, message))
    return found


def exercise_messages(student_cell_text: str) -> list[str]:
    """The NotImplementedError messages of the stubs in a student notebook's code cell."""
    return [message for _, message in _stubs(student_cell_text)]


def _set_tags(cell, new: list[str]) -> None:
    if new:
        cell.metadata["tags"] = new
    else:
        cell.metadata.pop("tags", None)


def is_book_only(cell) -> bool:
    """Whether the student edition drops ``cell``: one of :data:`DROP_TAGS`, and neither the Colab install cell
    nor tagged :data:`STUDENT_KEEP`."""
    return is_hidden(cell)


class MarkupError(ValueError):
    """A source notebook lacks the nbgrader markup the student edition needs (see
    :func:`aecore.book.notebook_format.markup_problems`)."""


def raises_itself(text: str) -> bool:
    """Whether the exercise cell ``text`` runs a stub itself in the student edition: a region outside any
    function (a region inside a function raises only when the function is called, by its check)."""
    return any(_enclosing_def(text, region.begin + 1, region.indent) is None for region in find_regions(text))


def _nbgrader_release(nb: nbformat.NotebookNode) -> None:
    """nbgrader's release steps on the student notebook ``nb``, in place, in the order ``generate_assignment``
    runs them (after its solutions are cleared): answer cells get the answer prompt, hidden tests go, cells are
    locked, checksums computed, and the metadata validated."""
    try:
        from nbgrader.nbgraderformat import MetadataValidator, ValidationError
        from nbgrader.preprocessors import (
            ClearHiddenTests,
            ClearMarkScheme,
            ClearSolutions,
            ComputeChecksums,
            LockCells,
        )
    except ImportError as error:  # pragma: no cover - nbgrader is a dependency of the student edition
        raise ImportError("the student edition needs nbgrader: install aecore with the grading extra "
                          "(pip install -c constraints.txt -e '.[grading]')") from error
    resources: dict = {"language": nb.metadata.get("kernelspec", {}).get("language", "python")}
    clear = ClearSolutions()
    for index, cell in enumerate(nb.cells):
        if is_answer_cell(cell):  # the code cells' regions are already stubs, with their own messages
            clear.preprocess_cell(cell, resources, index)
    for step in (ClearHiddenTests(), ClearMarkScheme(), LockCells(), ComputeChecksums()):
        nb, resources = step.preprocess(nb, resources)
    try:
        MetadataValidator().validate_nb(nb)
    except ValidationError as error:
        raise MarkupError(f"nbgrader rejects the student notebook: {error}") from None


def _glue_name(role_text: str) -> str:
    name = role_text.split("::", 1)[1] if "::" in role_text else role_text
    return name.split(":", 1)[0].strip()


def student_markdown(text: str) -> str:
    """A markdown cell's ``text`` with glue roles and glue directives replaced by placeholders."""
    lines, out, number = _lines(text), [], 0
    while number < len(lines):
        match = GLUE_DIRECTIVE.match(lines[number])
        if not match:
            out.append(lines[number])
            number += 1
            continue
        indent, fence, kind, name = match.groups()
        closing = number + 1
        while closing < len(lines):
            stripped = lines[closing].strip()
            if stripped and set(stripped) == {fence[0]} and len(stripped) >= len(fence):
                break
            closing += 1
        body = [line for line in lines[number + 1:closing] if not line.strip().startswith(":")]
        ending = _ending(lines[min(closing, len(lines) - 1)]) or "\n"
        placeholder = "*(your figure)*" if kind == "figure" else f"[your value: {name}]"
        out.append(f"{indent}{placeholder}{ending}")
        caption = "".join(body).strip()
        if caption:  # a figure's caption stays, as text
            out.append(f"{indent}{caption}{ending}")
        number = closing + 1
    return GLUE_ROLE.sub(lambda m: f"[your value: {_glue_name(m.group(2))}]", "".join(out))


def course_source(nb, name: str = "notebook") -> nbformat.NotebookNode:
    """The nbgrader *source* form of the solution notebook ``nb`` (not changed), for a course that runs
    nbgrader itself: its solutions, hidden tests and model answers kept, the book's own cells dropped,
    glue roles in markdown replaced by placeholders, outputs cleared. ``nbgrader generate_assignment`` turns
    it into a release like :func:`student_notebook` (with nbgrader's own stubs). ``name`` labels errors
    (:class:`MarkerError`, :class:`MarkupError`)."""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            try:
                find_regions(cell.source)
            except MarkerError as error:
                raise MarkerError(f"{name}, cell {index} (id {cell.get('id')!r}): {error}") from None
    problems = markup_problems(nb)
    if problems:
        raise MarkupError(f"{name}: " + "; ".join(problems))
    course = copy.deepcopy(nb)
    cells = []
    for cell in nb.cells:
        if is_book_only(cell):
            continue
        cell = copy.deepcopy(cell)
        if cell.get("id") == BOOTSTRAP_ID or STUDENT_KEEP in tags(cell):
            _set_tags(cell, [tag for tag in tags(cell) if tag not in DROP_TAGS + (STUDENT_KEEP,)])
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        elif cell.cell_type == "markdown":
            cell.source = student_markdown(cell.source)
        cells.append(cell)
    course.cells = cells
    nbformat.validate(course)
    return course


def student_notebook(nb, name: str = "notebook") -> nbformat.NotebookNode:
    """The student version of the solution notebook ``nb`` (not changed), in nbgrader's release form;
    ``name`` labels errors (:class:`MarkerError`, :class:`MarkupError`)."""
    student = course_source(nb, name)
    for cell in student.cells:
        if cell.cell_type != "code":
            continue
        if find_regions(cell.source):
            added = [EXERCISE_TAG] + ([RAISES] if raises_itself(cell.source) else [])
            cell.source = student_source(cell.source)
            _set_tags(cell, tags(cell) + [tag for tag in added if tag not in tags(cell)])
        elif is_test_cell(cell):
            _set_tags(cell, tags(cell) + [tag for tag in TEST_TAGS if tag not in tags(cell)])
    _nbgrader_release(student)
    nbformat.validate(student)
    return student


def exercise_cells(nb) -> list[int]:
    """The indices of the exercise cells of a student notebook."""
    return [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code" and EXERCISE_TAG in tags(cell)]


def check_cells_after(nb, exercise: int) -> list[int]:
    """The indices of the test cells that follow the exercise cell ``exercise`` of a notebook (source or
    student)."""
    found = []
    for index in range(exercise + 1, len(nb.cells)):
        if not is_test_cell(nb.cells[index]):
            break
        found.append(index)
    return found


def has_regions(nb) -> bool:
    """Whether any code cell of the solution notebook ``nb`` has a solution region."""
    return any(cell.cell_type == "code" and find_regions(cell.source) for cell in nb.cells)


def insert_solutions(student_nb, source_nb) -> nbformat.NotebookNode:
    """A copy of ``student_nb`` whose exercise cells have the solution regions of ``source_nb``'s cells of
    the same id back in place of their stubs (and the source's metadata); ValueError if a cell has no
    counterpart or a different number of stubs than the source has regions."""
    by_id = {cell.get("id"): cell for cell in source_nb.cells}
    solved = copy.deepcopy(student_nb)
    for index in exercise_cells(solved):
        cell = solved.cells[index]
        source = by_id.get(cell.get("id"))
        if source is None:
            raise ValueError(f"exercise cell {index} (id {cell.get('id')!r}) has no cell of that id in the source")
        regions, stubs = solution_regions(source.source), _stubs(cell.source)
        if len(regions) != len(stubs):
            raise ValueError(f"exercise cell {index} (id {cell.get('id')!r}) has {len(stubs)} stub(s), "
                             f"the source cell {len(regions)} solution region(s)")
        lines, out, position = _lines(cell.source), [], 0
        for (line, _), region in zip(stubs, regions):  # a stub is two lines; the raise ends as END did
            out += lines[position:line]
            out.append(region)
            position = line + 2
        cell.source = "".join(out + lines[position:])
        cell.metadata = copy.deepcopy(source.metadata)  # the source's tags and nbgrader metadata, no checksum
    return solved


def _display(path: Path) -> str:
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return path.name


def write_zip(path: Path, notebooks: list[Path]) -> None:
    """The archive of ``notebooks`` under the folder :data:`ZIP_FOLDER`, with README.txt (fixed dates, so
    the same notebooks give the same bytes)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        members = [("README.txt", README.encode("utf-8"))] + [(p.name, p.read_bytes()) for p in notebooks]
        for name, payload in members:
            info = zipfile.ZipInfo(f"{ZIP_FOLDER}/{name}", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type, info.external_attr = zipfile.ZIP_DEFLATED, 0o644 << 16
            archive.writestr(info, payload)


def make_student(notebooks: list[Path], out: Path) -> list[Path]:
    """Write the student edition of ``notebooks`` into ``out`` (see the module docstring); return the
    student notebooks' paths. Nothing is written if any notebook fails."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))  # beside out: same file system
    try:
        folder, course = staging / "notebooks", staging / COURSE_SOURCE
        folder.mkdir()
        written = []
        for path in notebooks:
            nb = nbformat.read(path, as_version=4)
            student = for_students(student_notebook(nb, name=_display(path)))  # installs the student package
            nbformat.write(student, folder / path.name, version=4)
            written.append(folder / path.name)
            (course / path.stem).mkdir(parents=True)
            nbformat.write(course_source(nb, name=_display(path)), course / path.stem / path.name, version=4)
        write_zip(staging / ZIP_NAME, written)
        # everything succeeded: move into place (the zip atomically, each folder by two renames)
        out.mkdir(exist_ok=True)
        for name in ("notebooks", COURSE_SOURCE):
            if (out / name).exists():
                (out / name).rename(staging / f"previous-{name}")  # removed with the staging folder
            (staging / name).rename(out / name)
        os.replace(staging / ZIP_NAME, out / ZIP_NAME)
        return [out / "notebooks" / p.name for p in written]
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the student edition of the lab notebooks.")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="output folder (default: _build/student in the repository)")
    parser.add_argument("notebooks", nargs="*", type=Path, help="solution notebooks (default: notebooks/*.ipynb)")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted(NOTEBOOKS.glob("*.ipynb"))
    missing = [str(p) for p in notebooks if not p.is_file()]
    if missing or not notebooks:
        print(f"make_student: no such notebook: {', '.join(missing) or NOTEBOOKS}", file=sys.stderr)
        return 1
    try:
        written = make_student(notebooks, args.out)
    except (MarkerError, MarkupError) as error:
        print(f"make_student: {error}; nothing written", file=sys.stderr)
        return 1
    students = [nbformat.read(p, as_version=4) for p in written]
    exercises = sum(len(exercise_cells(nb)) for nb in students)
    graded = [nbgrader(cell) for nb in students for cell in nb.cells if nbgrader(cell).get("grade")]
    points = sum(meta["points"] for meta in graded)
    print(f"make_student: {len(written)} student notebook(s), {exercises} exercise cell(s), {len(graded)} graded "
          f"cell(s) worth {points:g} points, in {args.out / 'notebooks'}; archive {args.out / ZIP_NAME}; "
          f"nbgrader source folders in {args.out / COURSE_SOURCE}")
    return 0
