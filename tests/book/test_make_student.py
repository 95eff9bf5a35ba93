"""The student edition (aecore.book.edition) and the book's links to it (aecore.book.student_links),
on small synthetic notebooks: the real notebooks are covered by tests/book/test_student_edition.py."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbformat import v4

from aecore.book import edition as ms
from aecore.book import notebook_format as fmt
from aecore.book import student_links as links_ext
from aecore.book.kernels import IpcKernelManager

ROOT = Path(__file__).resolve().parent.parent.parent

BOOTSTRAP = 'import importlib.util\nif importlib.util.find_spec("aecore") is None:\n    raise ModuleNotFoundError("x")'

EXERCISE = '''\
import math


def double(x):
    """Twice x, for numbers and tensors alike.

    More text.
    """
    ### BEGIN SOLUTION
    y = 2 * x
    return y
    ### END SOLUTION


class Box:
    def area(self, side):
        if side > 0:
            ### BEGIN SOLUTION: return the area of a square of this side
            return side * side
            ### END SOLUTION
        return 0

### BEGIN SOLUTION
TOTAL = double(2) + Box().area(3)
### END SOLUTION
assert TOTAL == 13'''


def _cell(kind: str, source: str, id: str, tags=None, **extra):
    cell = (v4.new_code_cell if kind == "code" else v4.new_markdown_cell)(source, id=id, **extra)
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def _graded(cell, **meta):
    """``cell`` with nbgrader metadata ``meta`` (schema version 3)."""
    cell.metadata["nbgrader"] = {"schema_version": 3, "task": False, **meta}
    return cell


def exercise_and_test(source: str, id: str, function: str, tags=None, points=1):
    """An exercise cell (nbgrader solution cell) and its test cell (locked, graded, hidden cases)."""
    return [_graded(_cell("code", source, id, tags), solution=True, grade=False, locked=False, grade_id=function),
            _graded(_cell("code", fmt.check_cell_source(function), f"check-{function}"), solution=False, grade=True,
                    locked=True, points=points, grade_id=f"check-{function}")]


def observation(answer: str, id: str, k: int, question: str, between=()):
    """An observation: its locked question, the hidden cells ``between``, the manually graded answer."""
    return [_graded(_cell("markdown", f"> **Question.** {question}", f"{id}-question"), solution=False, grade=False,
                    locked=True, grade_id=f"observation-{k}-question"),
            *between,
            _graded(_cell("markdown", answer, id), solution=True, grade=True, locked=False, points=1,
                    grade_id=f"observation-{k}")]


ANSWER = "**Observation.** The total is {glue:text}`total`: two doubled is four, and a square of side three has nine."


def solution_notebook():
    """A small solution notebook: the install cell, prose with glue, an exercise and its test cell, an
    observation with its question, book-only cells."""
    nb = v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    exercise, test = exercise_and_test(EXERCISE, "ex", "double", ["hide-output"], points=2)
    exercise.execution_count, exercise.outputs = 3, [v4.new_output("stream", name="stdout", text="13\n")]
    nb.cells = [
        _cell("code", BOOTSTRAP, "colab-bootstrap", ["remove-cell"]),
        _cell("markdown", "# Lab\n\nThe loss is {glue:text}`loss:.2f` nats and {glue:}`n` {glue}`other` "
                          "{glue:md}`page::far:myst`.", "intro"),
        exercise,
        test,
        _cell("code", "glue_values(loss=1.0)", "glue", ["hide-cell", "book-only"]),
        *observation(ANSWER, "obs", 1, "Why is the total 13?", between=[
            _cell("code", "claim('it works', True)", "claims", ["remove-input"]),
            _cell("code", "secret = 1", "hidden", ["remove-cell"])]),
        _cell("code", "sliders()", "widget", ["remove-cell", "student-keep", "full-width"]),
        _cell("markdown", "Only in the book.", "book-prose", ["book-only"]),
        _cell("markdown", "Figure:\n\n```{glue:figure} recon_fig\n:name: fig-recon\n:width: 80%\n\n"
                          "Reconstructions of {glue:text}`n` digits.\n```\n\n```{glue} table_x\n```\nAfter.",
              "figure"),
        _cell("code", "print(double(21))", "use", execution_count=4,
              outputs=[v4.new_output("stream", name="stdout", text="42\n")]),
    ]
    nbformat.validate(nb)
    return nb


# ---------------------------------------------------------------------------------------------------
# regions and their stubs


def test_each_region_becomes_two_lines_at_its_indentation_with_a_message():
    student = ms.student_source(EXERCISE)
    assert "### BEGIN SOLUTION" not in student and "### END SOLUTION" not in student
    assert "y = 2 * x" not in student and "side * side" not in student and "TOTAL = double" not in student
    lines = student.splitlines()
    begins = [i for i, line in enumerate(lines) if line.strip() == "..."]
    assert [lines[i][:len(lines[i]) - 3] for i in begins] == ["    ", "            ", ""]
    assert lines[begins[0] + 1] == ('    raise NotImplementedError("write double: Twice x, for numbers and tensors '
                                    'alike (see its docstring)")')
    assert lines[begins[1] + 1] == '            raise NotImplementedError("return the area of a square of this side")'
    assert lines[begins[2] + 1] == 'raise NotImplementedError("write the missing code here")'
    # everything outside the regions is kept, byte for byte
    assert student.startswith('import math\n\n\ndef double(x):\n    """Twice x,')
    assert student.endswith("        return 0\n\n...\nraise NotImplementedError(\"write the missing code here\")\n"
                            "assert TOTAL == 13")
    assert ms.exercise_messages(student) == ["write double: Twice x, for numbers and tensors alike (see its docstring)",
                                             "return the area of a square of this side", "write the missing code here"]
    compile(student, "<student>", "exec")  # still Python


def test_a_method_without_docstring_and_quotes_in_messages():
    source = ('class A:\n    def f(self):\n        ### BEGIN SOLUTION\n        return 1\n        ### END SOLUTION\n\n'
              'def g():\n    r"""Say "hi" \\ there."""\n    ### BEGIN SOLUTION\n    return 2\n    ### END SOLUTION')
    student = ms.student_source(source)
    assert ms.exercise_messages(student) == ["write f", 'write g: Say "hi" \\ there (see its docstring)']
    assert r'raise NotImplementedError("write g: Say \"hi\" \\ there (see its docstring)")' in student
    assert student.endswith('    raise NotImplementedError("write g: Say \\"hi\\" \\\\ there (see its docstring)")')
    namespace = {}
    exec(compile(student, "<student>", "exec"), namespace)
    with pytest.raises(NotImplementedError, match="write f"):
        namespace["A"]().f()


def test_a_def_that_ended_before_the_region_does_not_name_it():
    source = "def f():\n    return 1\nif True:\n    ### BEGIN SOLUTION\n    x = 1\n    ### END SOLUTION\n"
    assert ms.exercise_messages(ms.student_source(source)) == ["write the missing code here"]


def test_solution_regions_are_the_marked_lines():
    assert ms.solution_regions(EXERCISE) == [
        "    ### BEGIN SOLUTION\n    y = 2 * x\n    return y\n    ### END SOLUTION\n",
        "            ### BEGIN SOLUTION: return the area of a square of this side\n            return side * side\n"
        "            ### END SOLUTION\n",
        "### BEGIN SOLUTION\nTOTAL = double(2) + Box().area(3)\n### END SOLUTION\n"]
    assert ms.solution_regions("x = 1\n# ### BEGIN SOLUTION is only a marker on its own line\n") == []


@pytest.mark.parametrize("source, says", [
    ("### BEGIN SOLUTION\nx = 1\n", "line 1: '### BEGIN SOLUTION' has no '### END SOLUTION'"),
    ("x = 1\n### END SOLUTION\n", "line 2: '### END SOLUTION' without a '### BEGIN SOLUTION'"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n### END SOLUTION\n", "cannot nest"),
])
def test_unbalanced_or_nested_markers_are_errors(source, says):
    with pytest.raises(ms.MarkerError, match=says):
        ms.find_regions(source)


# ---------------------------------------------------------------------------------------------------
# the student notebook


def test_the_student_notebook():
    source = solution_notebook()
    student = ms.student_notebook(source)
    assert [c.get("id") for c in student.cells] == ["colab-bootstrap", "intro", "ex", "check-double", "obs-question",
                                                    "obs", "widget", "figure", "use"]
    assert source.cells[0].metadata["tags"] == ["remove-cell"]  # the source is not changed
    bootstrap, intro, exercise, test, question, answer, widget, figure, use = student.cells
    assert "tags" not in bootstrap.metadata and bootstrap.source == BOOTSTRAP
    # a cell the book hides but the student keeps (sliders): kept, without the book's tags
    assert widget.metadata["tags"] == ["full-width"] and widget.source == "sliders()"
    # exercise cells: tagged, same id, stubs (a region outside any function: the cell raises itself)
    assert ms.exercise_cells(student) == [2] and ms.check_cells_after(student, 2) == [3]
    assert exercise.metadata["tags"] == ["hide-output", "exercise", "raises-exception"]
    assert exercise.source == ms.student_source(EXERCISE)
    assert "tags" not in use.metadata
    # outputs emptied
    for cell in (bootstrap, exercise, use):
        assert cell.outputs == [] and cell.execution_count is None
    # nbgrader's release form: the test cell without its hidden cases, locked; the answer a prompt
    assert test.source == "exercises.check_double(double)" and test.metadata["tags"] == ["raises-exception"]
    assert test.metadata["editable"] is False and test.metadata["deletable"] is False
    assert test.metadata["nbgrader"]["points"] == 2 and test.metadata["nbgrader"]["locked"] is True
    assert question.source == "> **Question.** Why is the total 13?" and question.metadata["editable"] is False
    assert answer.source == "YOUR ANSWER HERE" and answer.metadata["nbgrader"]["grade_id"] == "observation-1"
    assert "editable" not in answer.metadata and "editable" not in exercise.metadata  # the student writes there
    for cell in (exercise, test, question, answer):
        assert cell.metadata["nbgrader"]["checksum"] == nbgrader_checksum(cell)
    # glue placeholders
    assert intro.source == ("# Lab\n\nThe loss is [your value: loss] nats and [your value: n] [your value: other] "
                            "[your value: far].")
    assert figure.source == ("Figure:\n\n*(your figure)*\nReconstructions of [your value: n] digits.\n\n"
                             "[your value: table_x]\nAfter.")
    nbformat.validate(student)


def nbgrader_checksum(cell) -> str:
    from nbgrader.utils import compute_checksum

    return compute_checksum(cell)


def test_the_source_notebook_is_not_changed_and_its_model_answer_stays_in_the_course_source():
    source = solution_notebook()
    before = nbformat.writes(source)
    course = ms.course_source(source)
    assert nbformat.writes(source) == before
    assert [c.get("id") for c in course.cells] == ["colab-bootstrap", "intro", "ex", "check-double", "obs-question",
                                                   "obs", "widget", "figure", "use"]
    by_id = {cell.id: cell for cell in course.cells}
    assert by_id["ex"].source == EXERCISE and by_id["check-double"].source == fmt.check_cell_source("double")
    assert by_id["obs"].source == ANSWER.replace("{glue:text}`total`", "[your value: total]")
    assert by_id["ex"].outputs == [] and "checksum" not in by_id["ex"].metadata["nbgrader"]


@pytest.mark.parametrize("breaks, says", [
    (lambda nb: nb.cells[2].metadata.pop("nbgrader"), "cell 2 (id 'ex'): an exercise cell must be an nbgrader"),
    (lambda nb: nb.cells.pop(3), "cell 2 (id 'ex'): an exercise cell must be followed by its test cell"),
    (lambda nb: setattr(nb.cells[3], "source", "exercises.check_double(double)"), "must be exactly the check and its"),
    (lambda nb: nb.cells[3].metadata["nbgrader"].pop("points"), "a test cell needs points"),
    (lambda nb: nb.cells.pop(5), "observation 1 needs its question just before it"),
    (lambda nb: setattr(nb.cells[5], "source", "> **Question.** Why {glue:text}`total`?"), "cites no glued value"),
    (lambda nb: nb.cells[8].metadata.pop("nbgrader"), "observation 1 must start with '**Observation.**' and be a"),
])
def test_missing_or_wrong_markup_stops_the_edition_and_names_the_cell(breaks, says, tmp_path, capsys):
    broken = solution_notebook()
    assert fmt.markup_problems(broken) == []
    breaks(broken)
    with pytest.raises(ms.MarkupError, match=re.escape(says)):
        ms.student_notebook(broken, name="01_lab.ipynb")
    nbformat.write(broken, tmp_path / "01_lab.ipynb")
    assert ms.main(["--out", str(tmp_path / "out"), str(tmp_path / "01_lab.ipynb")]) == 1
    assert says in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_make_student_writes_the_notebooks_and_the_zip(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    nbformat.write(solution_notebook(), folder / "01_lab.ipynb")
    plain = v4.new_notebook(cells=[_cell("markdown", "# Tour", "a"), _cell("code", "x = 1", "b")])
    nbformat.write(plain, folder / "00_tour.ipynb")
    out = tmp_path / "out"
    assert ms.main(["--out", str(out), str(folder / "00_tour.ipynb"), str(folder / "01_lab.ipynb")]) == 0
    written = sorted(p.name for p in (out / "notebooks").iterdir())
    assert written == ["00_tour.ipynb", "01_lab.ipynb"]
    text = (out / "notebooks" / "01_lab.ipynb").read_text()
    assert text.startswith('{\n "cells": [\n  {\n') and "NotImplementedError" in text  # nbformat, indent 1
    assert nbformat.read(out / "notebooks" / "01_lab.ipynb", as_version=4) == ms.student_notebook(solution_notebook())
    with zipfile.ZipFile(out / ms.ZIP_NAME) as archive:
        names = sorted(archive.namelist())
        assert names == ["aecore-student-notebooks/00_tour.ipynb", "aecore-student-notebooks/01_lab.ipynb",
                         "aecore-student-notebooks/README.txt"]
        assert archive.read("aecore-student-notebooks/01_lab.ipynb").decode() == text
        readme = archive.read("aecore-student-notebooks/README.txt").decode()
    assert "Colab" in readme and "aecore" in readme and "NotImplementedError" in readme
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notebooks", "out"]  # no staging folder left
    assert sorted(p.relative_to(out).as_posix() for p in (out / ms.COURSE_SOURCE).rglob("*.ipynb")) == [
        "nbgrader-source/00_tour/00_tour.ipynb", "nbgrader-source/01_lab/01_lab.ipynb"]
    assert nbformat.read(out / ms.COURSE_SOURCE / "01_lab" / "01_lab.ipynb", as_version=4) == ms.course_source(
        solution_notebook())

    # a second run replaces the folder and the zip as a whole
    assert ms.main(["--out", str(out), str(folder / "01_lab.ipynb")]) == 0
    assert sorted(p.name for p in (out / "notebooks").iterdir()) == ["01_lab.ipynb"]
    assert sorted(p.name for p in (out / ms.COURSE_SOURCE).iterdir()) == ["01_lab"]
    with zipfile.ZipFile(out / ms.ZIP_NAME) as archive:
        assert len(archive.namelist()) == 2


def test_unbalanced_markers_stop_everything_and_name_the_cell(tmp_path, capsys):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    nbformat.write(solution_notebook(), folder / "01_lab.ipynb")
    broken = solution_notebook()
    broken.cells[12].source = "### BEGIN SOLUTION\nprint(double(21))"
    nbformat.write(broken, folder / "02_broken.ipynb")
    out = tmp_path / "out"
    assert ms.main(["--out", str(out), str(folder / "01_lab.ipynb"), str(folder / "02_broken.ipynb")]) == 1
    error = capsys.readouterr().err
    assert "02_broken.ipynb, cell 12 (id 'use')" in error and "has no '### END SOLUTION'" in error
    assert "nothing written" in error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notebooks"]  # not even the output folder

    # an earlier edition stays as it was
    assert ms.main(["--out", str(out), str(folder / "01_lab.ipynb")]) == 0
    before = {p.name: p.read_bytes() for p in (out / "notebooks").iterdir()}
    zipped = (out / ms.ZIP_NAME).read_bytes()
    assert ms.main(["--out", str(out), str(folder / "02_broken.ipynb")]) == 1
    assert {p.name: p.read_bytes() for p in (out / "notebooks").iterdir()} == before
    assert (out / ms.ZIP_NAME).read_bytes() == zipped
    with pytest.raises(ms.MarkerError, match=r"02_broken.ipynb, cell 12"):
        ms.make_student([folder / "02_broken.ipynb"], out)


def test_insert_solutions_restores_every_exercise_cell_exactly():
    source = solution_notebook()
    # more shapes: a region at the very end of a cell, with and without a final newline, CRLF lines
    source.cells += exercise_and_test("def h():\n    ### BEGIN SOLUTION\n    return 3\n    ### END SOLUTION",
                                      "end1", "h")
    source.cells += exercise_and_test("def k():\r\n    ### BEGIN SOLUTION\r\n    return 4\r\n    ### END SOLUTION\r\n",
                                      "end2", "k", ["remove-output"])
    student = ms.student_notebook(source)
    assert len(ms.exercise_cells(student)) == 3
    solved = ms.insert_solutions(student, source)
    by_id = {cell.id: cell for cell in source.cells}
    for index in ms.exercise_cells(student):
        cell = solved.cells[index]
        assert cell.source == by_id[cell.id].source
        assert cell.metadata == by_id[cell.id].metadata  # the added tags and nbgrader's checksums are gone again
    assert ms.exercise_cells(solved) == []
    assert student.cells[2].source == ms.student_source(EXERCISE)  # the student notebook is not changed

    student.cells[2].source = student.cells[2].source.replace("...\n", "", 1)  # a stub missing
    with pytest.raises(ValueError, match="2 stub"):
        ms.insert_solutions(student, source)


CHECKS = """\
import types


def check_double(fn, cases="visible"):
    assert fn(4) == 8, f"double(4) is {fn(4)!r}, not 8"
    print(f"✓ double: right on the {cases} cases")


exercises = types.SimpleNamespace(check_double=check_double)"""


def test_the_student_notebook_stops_at_its_test_cell_and_runs_with_the_solutions(tmp_path):
    source = v4.new_notebook(cells=[
        _cell("code", CHECKS, "setup", ["grading-setup"]),
        *exercise_and_test('def double(x):\n    """Twice x."""\n    ### BEGIN SOLUTION\n    return 2 * x\n'
                           '    ### END SOLUTION', "ex", "double"),
        _cell("code", "print(double(21))", "after"),
    ])
    student = ms.student_notebook(source)
    setup, exercise, test, after = student.cells
    assert exercise.metadata["tags"] == ["exercise"] and test.metadata["tags"] == ["raises-exception"]
    assert setup.metadata["tags"] == ["grading-setup"]
    client = NotebookClient(student, kernel_name="python3", timeout=60, kernel_manager_class=IpcKernelManager,
                            resources={"metadata": {"path": str(tmp_path)}})
    with client.setup_kernel():
        client.execute_cell(setup, 0)
        client.execute_cell(exercise, 1)  # defines the stub: no error
        client.execute_cell(test, 2)  # tagged raises-exception: the error is an output
        errors = [o for o in test.outputs if o.output_type == "error"]
        assert [(e.ename, e.evalue) for e in errors] == [
            ("NotImplementedError", "write double: Twice x (see its docstring)")]
        with pytest.raises(CellExecutionError, match="NotImplementedError"):
            client.execute_cell(after, 3)  # the function is the stub

    solved = ms.insert_solutions(student, source)
    NotebookClient(solved, kernel_name="python3", timeout=60, kernel_manager_class=IpcKernelManager,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert [o.get("text") for o in solved.cells[2].outputs] == ["✓ double: right on the visible cases\n"]
    assert [o.get("text") for o in solved.cells[3].outputs] == ["42\n"]


# ---------------------------------------------------------------------------------------------------
# the book's links (aecore.book.student_links, the extension book/_ext/student_links.py)


def test_the_note_links_to_the_student_notebook_and_to_colab():
    links = links_ext.student_links("https://github.com/uni-x/ae-labs", "student", "notebooks/03_mnist_vae",
                                    "03_mnist_vae.ipynb")
    assert links == {
        "download": "../_student/03_mnist_vae.ipynb",
        "zip": "../_student/aecore-student-notebooks.zip",
        "colab": "https://colab.research.google.com/github/uni-x/ae-labs/blob/student/notebooks/03_mnist_vae.ipynb",
    }
    other = links_ext.student_links("https://github.com/uni-x/ae-labs.git/", "exercises-2026", "lab", "lab.ipynb")
    assert other["download"] == "_student/lab.ipynb"
    assert other["colab"] == "https://colab.research.google.com/github/uni-x/ae-labs/blob/exercises-2026/notebooks/lab.ipynb"
    assert links_ext.student_links("https://gitlab.com/uni-x/ae-labs", "student", "lab", "lab.ipynb")["colab"] is None


def test_the_note_goes_under_the_page_title():
    from docutils import nodes
    from docutils.frontend import get_default_settings
    from docutils.parsers.rst import Parser
    from docutils.utils import new_document

    doctree = new_document("page", get_default_settings(Parser))
    section = nodes.section()
    section += nodes.title(text="Lab 3")
    section += nodes.paragraph(text="Intro.")
    doctree += section
    links = links_ext.student_links("https://github.com/o/r", "student", "notebooks/x", "x.ipynb")
    links_ext.insert_note(doctree, links_ext.student_note(links))
    note = section[1]
    assert isinstance(note, nodes.note) and isinstance(section[0], nodes.title)
    assert note.astext() == "Student version: download the notebook · open in Colab · all labs (zip)"
    assert [r["refuri"] for r in note.findall(nodes.reference)] == [links["download"], links["colab"], links["zip"]]
    without_colab = links_ext.student_note({**links, "colab": None})
    assert without_colab.astext() == "Student version: download the notebook · all labs (zip)"


def test_the_book_loads_the_extension_with_its_branch_setting():
    import yaml
    from jupyter_book.config import get_final_config

    user_yaml = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    user_yaml["repository"]["url"] = "https://github.com/uni-x/ae-labs"
    sphinx_config, _ = get_final_config(user_yaml=user_yaml, cli_config={"latex_individualpages": False},
                                         raise_on_invalid=True)
    assert "student_links" in sphinx_config["extensions"]
    assert sphinx_config["aecore_student_branch"] == "student"
    assert sphinx_config["html_theme_options"]["repository_url"] == "https://github.com/uni-x/ae-labs"
