"""The student edition of the real notebooks, executed (quick profile, strict mode).

For each notebook with solution regions, its student version (aecore.book.edition) is executed cell
by cell in one kernel, "stop and continue":

- an exercise cell (it defines the functions, with stubs) must run, unless the student edition tagged it
  ``raises-exception`` (a stub outside any function), in which case it must raise NotImplementedError
  with the message of one of its stubs; each of its test cells (the check of one function) must then
  stop with NotImplementedError naming one of the exercise cell's stubs. The source notebook's version
  of the exercise cell (the solution in) is then executed in the same kernel, the student's test cells
  again, which must now pass and print their verdict, and the walk goes on. Torch's, NumPy's and
  Python's global random states are put back as they were before the exercise cell, so running cells
  twice changes no random draw of the cells after them;
- every other cell must run without error;
- the source notebook's book-only cells that glue values (those whose outputs in the source's own run
  hold glue records) are executed at their original positions.

The values glued during that walk are compared with those glued by executing the source notebook
itself: the same names, numbers equal within a relative 1e-6 (the models come from the same cache),
strings equal; only the wall-clock times a run measures itself (LIVE_TIMINGS) are not compared.
So the student notebooks stop only at their exercises, and with the solutions put back they compute
what the book shows.

Each notebook in notebooks/ is executed once per environment and the run serves two tests: the
notebook's own test (every cell runs without error: what ``pytest --nbval notebooks`` checks of a
notebook stored without outputs) and, as the reference, the student walk. Both carry the notebook's
``xdist_group``, so under pytest-xdist (``make test``) they run in the same worker, which keeps the run.

A glued value is read as myst-nb's ``glue`` stores it: a ``display_data`` output whose metadata has
``scrapbook: {name, mime_prefix}``, its mime types prefixed by ``application/papermill.record/`` when
glued with ``display=False`` (as ``aecore.book.report.glue_values`` does). The value compared is its
``text/plain``, read back as a Python literal (``np.float64(1.5)`` and ``tensor(1.5)`` too) where it
is one, else the text.
"""

from __future__ import annotations

import ast
import copy
import math
import os
import re
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbformat import v4

from aecore.book import edition as ms
from aecore.book.kernels import IpcKernelManager
from aecore.book.notebook_format import RAISES

ROOT = Path(__file__).resolve().parent.parent.parent
NOTEBOOKS_DIR = ROOT / "notebooks"
# A hang guard, not a speed check: the book's own per-cell limit (_config.yml), so that a 2-core box
# shared with another job (once 600 s was too short for Lab 1's L2 cell) fails only on a real hang.
CELL_TIMEOUT = yaml.safe_load((ROOT / "_config.yml").read_text())["execute"]["timeout"]
RELATIVE_TOLERANCE = 1e-6
# Glued wall-clock times measured by the run itself (not training times, which come from the model
# cache): no two runs agree on them, so they are only checked to be positive numbers of seconds.
LIVE_TIMINGS = {"load_seconds"}


SOURCES = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
WITH_REGIONS = [p for p in SOURCES if ms.has_regions(nbformat.read(p, as_version=4))]


def per_notebook(paths: list[Path]) -> list:
    """``paths`` as pytest parameters, each in its notebook's xdist group (one worker runs the notebook once)."""
    return [pytest.param(p, id=p.stem, marks=pytest.mark.xdist_group(f"notebook-{p.stem}")) for p in paths]


def test_every_lab_has_exercises():
    """Every lab notebook (all but the data tour) has solution regions: the student edition covers them all."""
    missing = [p.name for p in SOURCES if not p.stem.startswith("00_") and p not in WITH_REGIONS]
    assert not missing, f"no solution regions (### BEGIN SOLUTION / ### END SOLUTION) in {missing}"


# Run around each exercise cell: the global random states before it, put back before its solution.
SAVE_RANDOM_STATE = """\
import random as _aecore_random, sys as _aecore_sys
_aecore_rng = {"random": _aecore_random.getstate()}
if "numpy" in _aecore_sys.modules:
    _aecore_rng["numpy"] = _aecore_sys.modules["numpy"].random.get_state()
if "torch" in _aecore_sys.modules:
    _aecore_rng["torch"] = _aecore_sys.modules["torch"].random.get_rng_state()
    if _aecore_sys.modules["torch"].cuda.is_initialized():
        _aecore_rng["cuda"] = _aecore_sys.modules["torch"].cuda.get_rng_state_all()
"""
RESTORE_RANDOM_STATE = """\
_aecore_random.setstate(_aecore_rng["random"])
if "numpy" in _aecore_rng:
    _aecore_sys.modules["numpy"].random.set_state(_aecore_rng["numpy"])
if "torch" in _aecore_rng:
    _aecore_sys.modules["torch"].random.set_rng_state(_aecore_rng["torch"])
if "cuda" in _aecore_rng:
    _aecore_sys.modules["torch"].cuda.set_rng_state_all(_aecore_rng["cuda"])
del _aecore_rng, _aecore_random, _aecore_sys
"""


def kernel_env() -> dict[str, str]:
    """The kernels' environment: this process's (AECORE_DATA, AECORE_CACHE, ...), quick and strict."""
    return {**os.environ, "AECORE_PROFILE": "quick", "AECORE_STRICT": "1"}


def client_for(nb) -> NotebookClient:
    return NotebookClient(nb, kernel_name="python3", timeout=CELL_TIMEOUT, kernel_manager_class=IpcKernelManager,
                          resources={"metadata": {"path": str(NOTEBOOKS_DIR)}})


# ---------------------------------------------------------------------------------------------------
# glued values


def _literal(text: str) -> Any:
    """``text`` (a value's text/plain) as a Python value where it is a literal, else the text."""
    text = text.strip()
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    wrapped = re.fullmatch(r"(?:np|numpy|torch)?\.?\w+\((.*?)(?:,\s*dtype=[\w.]+)?\)", text, re.DOTALL)
    if wrapped:  # np.float64(1.5), np.int64(3), tensor(1.5000), tensor(2, dtype=torch.int32)
        try:
            return ast.literal_eval(wrapped.group(1))
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            pass
    return text


def glued(cell) -> dict[str, Any]:
    """name -> value of what ``cell``'s outputs glued (myst_nb.glue's display_data records)."""
    values = {}
    for output in cell.get("outputs", []):
        record = output.get("metadata", {}).get("scrapbook")
        if output.get("output_type") not in ("display_data", "execute_result") or not record:
            continue
        prefix = record.get("mime_prefix", "")
        data = {key[len(prefix):] if key.startswith(prefix) else key: value
                for key, value in output.get("data", {}).items()}
        text = data.get("text/plain", "")
        values[record["name"]] = _literal("".join(text) if isinstance(text, list) else text)
    return values


def same(a: Any, b: Any) -> bool:
    """Whether two glued values agree: numbers within a relative 1e-6, containers item by item, else ==."""
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=RELATIVE_TOLERANCE, abs_tol=1e-12)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def test_glued_values_are_read_and_compared_as_numbers():
    cell = v4.new_code_cell("", outputs=[
        v4.new_output("display_data", data={"application/papermill.record/text/plain": "0.1234567891"},
                      metadata={"scrapbook": {"name": "x", "mime_prefix": "application/papermill.record/"}}),
        v4.new_output("display_data", data={"text/plain": "np.float64(2.5)", "text/html": "<b>2.5</b>"},
                      metadata={"scrapbook": {"name": "y", "mime_prefix": ""}}),
        v4.new_output("display_data", data={"application/papermill.record/text/plain": "'3s and 8s'"},
                      metadata={"scrapbook": {"name": "s", "mime_prefix": "application/papermill.record/"}}),
        v4.new_output("display_data", data={"text/plain": "tensor(7)"}, metadata={}),  # not glue
    ])
    assert glued(cell) == {"x": 0.1234567891, "y": 2.5, "s": "3s and 8s"}
    assert same(100.0, 100.00001) and not same(100.0, 100.001) and same(3, 3.0) and not same("3", 3)
    assert same([1.0, {"a": "b"}], [1.0000000001, {"a": "b"}]) and same(float("nan"), float("nan"))
    assert _literal("tensor(1.5000)") == 1.5 and _literal("<Figure size 640x480 with 1 Axes>").startswith("<Figure")


# ---------------------------------------------------------------------------------------------------
# the walk


def _error(cell) -> Any:
    return next((o for o in cell.get("outputs", []) if o.get("output_type") == "error"), None)


def run_cell(client: NotebookClient, cell, index: int):
    """Execute ``cell``; its error output (ename, evalue, traceback), or None."""
    try:
        client.execute_cell(cell, index)
    except CellExecutionError as error:
        return _error(cell) or v4.new_output("error", ename=error.ename, evalue=error.evalue,
                                             traceback=[error.traceback])
    return _error(cell)


def _plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)  # without the traceback's ANSI colours


def _describe(error) -> str:
    traceback = _plain("\n".join(error.get("traceback", [])))
    return f"{error.get('ename')}: {error.get('evalue')}\n{traceback[-4000:]}"


def notebook_env() -> dict[str, str]:
    """The kernels' environment of ``pytest --nbval notebooks``: this process's (conftest.py sets the
    quick profile unless the caller chose one; ``make test`` sets AECORE_STRICT=1)."""
    return dict(os.environ)


# (path, environment) -> (the executed notebook, why it failed or None): each notebook runs once per
# environment in a test process. Under ``make test`` (quick, strict) the notebook's own test and the
# student walk ask for the same environment, so they share one run.
_RUNS: dict[tuple[Path, tuple[tuple[str, str], ...]], tuple[Any, str | None]] = {}


def executed(path: Path, env: dict[str, str]) -> tuple[Any, str | None]:
    """``path`` executed top to bottom in one kernel started in notebooks/ with ``env`` (once per
    process): the executed notebook and, if a cell failed, the error's text (else None)."""
    key = (path, tuple(sorted(env.items())))
    if key not in _RUNS:
        nb = nbformat.read(path, as_version=4)
        failure = None
        try:
            client_for(nb).execute(env=env)
        except CellExecutionError as error:
            failure = _plain(str(error))[-4000:]
        except Exception as error:  # a timeout, a dead kernel: fail both tests, without a second run
            failure = f"{type(error).__name__}: {_plain(str(error))[-4000:]}"
        _RUNS[key] = (nb, failure)
    return _RUNS[key]


def execute_source(path: Path):
    """The source notebook executed as the book does it (quick profile): the executed notebook."""
    nb, failure = executed(path, kernel_env())
    if failure is not None:
        pytest.fail(f"{path.name}: the solution notebook itself fails: {failure}")
    return nb


@pytest.mark.parametrize("path", per_notebook(SOURCES))
def test_the_notebook_runs_top_to_bottom(path):
    """What ``pytest --nbval notebooks`` checks of a notebook: stored without outputs (nbval compares
    only cells stored with outputs), every cell runs without error in one kernel started in
    notebooks/, with this process's environment (quick profile; strict under ``make test``)."""
    stored = nbformat.read(path, as_version=4)
    with_outputs = [i for i, cell in enumerate(stored.cells)
                    if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)]
    assert not with_outputs, (f"{path.name}: cells {with_outputs} are stored with outputs or execution counts; "
                              "notebooks are kept without them")
    _, failure = executed(path, notebook_env())
    assert failure is None, f"{path.name} fails: {failure}"


def walk_steps(source, executed_source, student):
    """The cells the walk executes, in order, as ``(kind, label, cell)``; kind is ``student``,
    ``exercise``, ``stop`` (a test cell while the stubs are in place), ``solution``, ``check`` (a test cell
    after the solution), ``glue`` (a book-only cell of the source that glues), ``save`` or ``restore`` (the
    random states around an exercise)."""
    student_index = {cell.get("id"): i for i, cell in enumerate(student.cells)}
    exercises = {student.cells[i].get("id") for i in ms.exercise_cells(student)}
    tests = {student.cells[j].get("id"): student.cells[i].get("id")
             for i in ms.exercise_cells(student) for j in ms.check_cells_after(student, i)}
    steps = []
    for index, cell in enumerate(source.cells):
        cell_id = cell.get("id")
        if ms.is_book_only(cell):
            if cell.cell_type == "code" and glued(executed_source.cells[index]):
                steps.append(("glue", f"source cell {index} (id {cell_id!r}, book-only, glues)", copy.deepcopy(cell)))
            continue
        assert cell_id in student_index, f"source cell {index} (id {cell_id!r}) is missing from the student notebook"
        if cell_id in tests:
            continue  # run with its exercise cell
        mine = copy.deepcopy(student.cells[student_index[cell_id]])
        label = f"student cell {student_index[cell_id]} (id {cell_id!r})"
        if cell_id in exercises:
            checks = [(f"student cell {j} (id {student.cells[j].get('id')!r}, the check of {label})",
                       student.cells[j]) for j in ms.check_cells_after(student, student_index[cell_id])]
            assert checks, f"{label}: an exercise cell without a test cell after it"
            steps.append(("save", "saving the random states", v4.new_code_cell(SAVE_RANDOM_STATE)))
            steps.append(("exercise", label, mine))
            steps += [("stop", check_label, copy.deepcopy(check)) for check_label, check in checks]
            steps.append(("restore", "restoring the random states", v4.new_code_cell(RESTORE_RANDOM_STATE)))
            solution = copy.deepcopy(cell)
            solution.outputs, solution.execution_count = [], None
            solution["id"] = f"{cell_id}-solution"  # the walk's cells keep unique ids
            steps.append(("solution", f"source cell {index} (id {cell_id!r}, the solution of {label})", solution))
            for check_label, check in checks:
                again = copy.deepcopy(check)
                again["id"] = f"{check.get('id')}-again"
                steps.append(("check", f"{check_label}, after the solution", again))
        else:
            steps.append(("student", label, mine))
    return steps


@pytest.mark.parametrize("path", per_notebook(WITH_REGIONS))
def test_the_student_notebook_stops_only_at_its_exercises_and_the_solutions_give_the_book_values(path, tmp_path):
    written = ms.make_student([path], tmp_path / "student")
    student = nbformat.read(written[0], as_version=4)
    assert ms.exercise_cells(student), f"{path.name}: no exercise cell in the student notebook"
    source = nbformat.read(path, as_version=4)

    executed_source = execute_source(path)
    expected = {}
    for cell in executed_source.cells:
        expected.update(glued(cell))

    steps = walk_steps(source, executed_source, student)
    walk = v4.new_notebook(cells=[cell for _, _, cell in steps], metadata=copy.deepcopy(student.metadata))
    client = client_for(walk)
    found = {}
    messages: list[str] = []
    with client.setup_kernel(env=kernel_env()):
        for position, (kind, label, cell) in enumerate(steps):
            error = run_cell(client, cell, position)
            where = f"{path.name}, {label}"
            if kind == "exercise":
                messages = ms.exercise_messages(cell.source)
            if kind == "stop" or (kind == "exercise" and RAISES in cell.metadata.get("tags", [])):
                assert error is not None, f"{where}: ran without error; it must stop at a stub of its exercise"
                assert error.get("ename") == "NotImplementedError" and error.get("evalue") in messages, (
                    f"{where}: must raise NotImplementedError with one of {messages}, raised {_describe(error)}")
                continue
            assert error is None, f"{where} fails: {_describe(error)}"
            if kind == "check":  # the self-check prints its verdict
                printed = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
                assert "✓" in printed, f"{where}: no verdict printed, only {printed!r}"
            found.update(glued(cell))

    assert sorted(found) == sorted(expected), (
        f"{path.name}: glued only by the source: {sorted(set(expected) - set(found))}; "
        f"only by the student walk: {sorted(set(found) - set(expected))}")
    for name in LIVE_TIMINGS & set(expected):
        assert isinstance(found[name], float) and found[name] > 0, f"{path.name}: {name} = {found[name]!r}"
    differ = {name: (found[name], expected[name]) for name in expected
              if name not in LIVE_TIMINGS and not same(found[name], expected[name])}
    assert not differ, (f"{path.name}: values glued by the student walk and by the source differ "
                        f"(walk, source): {differ}")
