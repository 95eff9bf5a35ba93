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
- a cell with a region (an *exercise cell*) keeps its id and gets the tags ``exercise`` and
  ``raises-exception`` (so nbval and nbclient accept its error);
- the book's own cells are dropped: those tagged ``book-only``, ``remove-input`` or ``remove-cell``
  (hidden assertions, claims, glue, benchmark tables), except the Colab install cell (id
  ``colab-bootstrap``) and cells tagged ``student-keep`` (an interactive widget the static book
  cannot show), which are kept without those tags so that the student sees them;
- in markdown cells, glue roles (``{glue:text}`name:.1f```) become ``[your value: name]`` and glue
  directives (a fenced ``{glue:figure}`` block) a line ``*(your figure)*``: Jupyter cannot render them;
- outputs are emptied and execution counts cleared.

Unbalanced or nested markers stop the run with an error naming the notebook and the cell, and nothing
is written: the notebooks and the zip are written to a temporary folder beside the output and moved
into place only when every notebook succeeded.

Usage (:func:`main`):
    python tools/make_student.py [--out DIR] [NOTEBOOK ...]

writes ``DIR/notebooks/<name>.ipynb`` for each NOTEBOOK (default: every ``notebooks/*.ipynb``) and
``DIR/aecore-student-notebooks.zip`` (those notebooks in a folder ``aecore-student-notebooks/``, with
a README.txt). DIR defaults to ``_build/student`` in the repository. ``DIR/notebooks`` and the zip are
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
    EXERCISE_TAGS,
    FALLBACK_MESSAGE,
    GLUE_DIRECTIVE,
    GLUE_ROLE,
    STUB_RAISE,
    STUDENT_KEEP,
    MarkerError,
    Region,
    find_regions,
)

NOTEBOOKS = ROOT / "notebooks"
DEFAULT_OUT = ROOT / "_build" / "student"
ZIP_NAME = "aecore-student-notebooks.zip"
ZIP_FOLDER = "aecore-student-notebooks"

README = """\
Deep autoencoders: the lab notebooks, student edition
=====================================================

One notebook per lab. Each exercise is a code cell in which the missing code is two lines,

    ...
    raise NotImplementedError("write <function>: <what it does> (see its docstring)")

Replace both lines with your code. Run the notebook from the top: it stops at the first
exercise you have not done yet. The check right after each exercise says whether your code is
right and names the typical mistakes. The models you train with your own code get their own
cache entries, so a wrong loss never overwrites (or loads) the reference models.

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


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _set_tags(cell, tags: list[str]) -> None:
    if tags:
        cell.metadata["tags"] = tags
    else:
        cell.metadata.pop("tags", None)


def is_book_only(cell) -> bool:
    """Whether the student edition drops ``cell``: one of :data:`DROP_TAGS`, and neither the Colab install cell
    nor tagged :data:`STUDENT_KEEP`."""
    return (cell.get("id") != BOOTSTRAP_ID and STUDENT_KEEP not in _tags(cell)
            and any(tag in DROP_TAGS for tag in _tags(cell)))


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


def student_notebook(nb, name: str = "notebook") -> nbformat.NotebookNode:
    """The student version of the solution notebook ``nb`` (not changed); ``name`` labels errors."""
    student = copy.deepcopy(nb)
    cells = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            try:
                regions = find_regions(cell.source)
            except MarkerError as error:
                raise MarkerError(f"{name}, cell {index} (id {cell.get('id')!r}): {error}") from None
        if is_book_only(cell):
            continue
        cell = copy.deepcopy(cell)
        if cell.get("id") == BOOTSTRAP_ID or STUDENT_KEEP in _tags(cell):
            _set_tags(cell, [tag for tag in _tags(cell) if tag not in DROP_TAGS + (STUDENT_KEEP,)])
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            if regions:
                cell.source = student_source(cell.source)
                _set_tags(cell, _tags(cell) + [tag for tag in EXERCISE_TAGS if tag not in _tags(cell)])
        elif cell.cell_type == "markdown":
            cell.source = student_markdown(cell.source)
        cells.append(cell)
    student.cells = cells
    nbformat.validate(student)
    return student


def exercise_cells(nb) -> list[int]:
    """The indices of the exercise cells of a student notebook."""
    return [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code" and "exercise" in _tags(cell)]


def has_regions(nb) -> bool:
    """Whether any code cell of the solution notebook ``nb`` has a solution region."""
    return any(cell.cell_type == "code" and find_regions(cell.source) for cell in nb.cells)


def insert_solutions(student_nb, source_nb) -> nbformat.NotebookNode:
    """A copy of ``student_nb`` whose exercise cells have the solution regions of ``source_nb``'s cells of
    the same id back in place of their stubs (and the source's tags); ValueError if a cell has no
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
        source_tags = _tags(source)
        _set_tags(cell, [tag for tag in _tags(cell) if tag not in EXERCISE_TAGS or tag in source_tags])
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
        folder = staging / "notebooks"
        folder.mkdir()
        written = []
        for path in notebooks:
            nb = nbformat.read(path, as_version=4)
            student = for_students(student_notebook(nb, name=_display(path)))  # installs the student package
            nbformat.write(student, folder / path.name, version=4)
            written.append(folder / path.name)
        write_zip(staging / ZIP_NAME, written)
        # everything succeeded: move into place (the zip atomically, the folder by two renames)
        out.mkdir(exist_ok=True)
        target = out / "notebooks"
        if target.exists():
            target.rename(staging / "previous")  # removed with the staging folder
        folder.rename(target)
        os.replace(staging / ZIP_NAME, out / ZIP_NAME)
        return [target / p.name for p in written]
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
    except MarkerError as error:
        print(f"make_student: {error}; nothing written", file=sys.stderr)
        return 1
    exercises = sum(len(exercise_cells(nbformat.read(p, as_version=4))) for p in written)
    print(f"make_student: {len(written)} student notebook(s), {exercises} exercise cell(s), in "
          f"{args.out / 'notebooks'}; archive {args.out / ZIP_NAME}")
    return 0
