"""Every notebook of notebooks/ executed once (quick profile, strict mode), serving two tests.

**The notebook's own test** (what ``pytest --nbval notebooks`` checks of a notebook stored without outputs):
stored without outputs, and every cell of the source notebook runs without error, in order, in one kernel
started in notebooks/.

**The student walk** (notebooks with solution regions): at each exercise the run is the student's, "stop and
continue". Before the source's exercise cell (the solution) it executes, in the same kernel:

1. a *save* cell: a fingerprint of the kernel's state (every variable of the notebook, by identity and, for
   tensors, arrays, modules and aecore's own objects, by content; torch's global switches) and the global
   random states of Python, NumPy and torch;
2. the student's exercise cell (the stubs): it must run, unless the edition tagged it ``raises-exception`` (a
   stub outside any function), in which case it must raise NotImplementedError with one of its stubs'
   messages;
3. the student's test cells (each the check of one function): each must stop with NotImplementedError naming
   one of the exercise's stubs;
4. a *verify* cell: it puts the random states back and fails if the kernel's state differs from the saved one,
   except for the names the stub cell binds, which the solution binds again (checked from the code).

Then the source's exercise cell runs, and right after it the student's test cells again, between a save and a
verify cell, each printing its verdict (✓). The source notebook's own cells (its test cells with their hidden
cases, and its book-only cells) run at their places and must run without error; the test cells must print
their verdicts.

So the cells of the source notebook run as the book runs them, and what the walk adds between them is shown to
leave the kernel as it found it: the values the walk glues are the book's, with no second run to compare them
with. Each student code cell that is neither an exercise nor a test cell must be the source's cell (the Colab
install cell aside: tests/book/test_bootstrap.py covers it). So the student notebook stops only at its
exercises, and with the solutions put back it computes what the book shows.

Both tests carry the notebook's ``xdist_group``, so under pytest-xdist (``make test``) they run in the same
worker, which executes the notebook once.
"""

from __future__ import annotations

import ast
import copy
import os
import re
import tempfile
from dataclasses import dataclass, field
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
from aecore.book.notebook_format import BOOTSTRAP_ID, RAISES

ROOT = Path(__file__).resolve().parent.parent.parent
NOTEBOOKS_DIR = ROOT / "notebooks"
# A hang guard, not a speed check: the book's own per-cell limit (_config.yml), so that a 2-core box
# shared with another job (once 600 s was too short for Lab 1's L2 cell) fails only on a real hang.
CELL_TIMEOUT = yaml.safe_load((ROOT / "_config.yml").read_text())["execute"]["timeout"]

SOURCES = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
WITH_REGIONS = [p for p in SOURCES if ms.has_regions(nbformat.read(p, as_version=4))]


def per_notebook(paths: list[Path]) -> list:
    """``paths`` as pytest parameters, each in its notebook's xdist group (one worker runs the notebook once)."""
    return [pytest.param(p, id=p.stem, marks=pytest.mark.xdist_group(f"notebook-{p.stem}")) for p in paths]


def test_every_lab_has_exercises():
    """Every lab notebook (all but the data tour) has solution regions: the student edition covers them all."""
    missing = [p.name for p in SOURCES if not p.stem.startswith("00_") and p not in WITH_REGIONS]
    assert not missing, f"no solution regions (### BEGIN SOLUTION / ### END SOLUTION) in {missing}"


# ---------------------------------------------------------------------------------------------------
# the cells the walk adds around an exercise

# The save cell. The kernel's state as a fingerprint: each variable of the notebook (IPython's own and the
# walk's ``_aecore_*`` left out) by identity, and by content where it can change in place (tensors, arrays,
# modules, and the lists, dicts, dataclasses and aecore objects that hold them); torch's global switches and
# NumPy's error settings. The global random states are saved beside it. Every name it binds starts with
# ``_aecore``, and the verify cell (``_aecore_finish``) removes them all.
SAVE_STATE = '''\
def _aecore_state():
    import dataclasses, hashlib, re, sys, types
    torch, np = sys.modules.get("torch"), sys.modules.get("numpy")
    ip = get_ipython()
    seen = {}

    def tensor_bytes(t):
        t = t.detach().cpu().contiguous().reshape(-1)
        same_size = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}.get(t.element_size())
        return t.view(same_size).numpy().tobytes() if same_size else repr(t.tolist()).encode()

    def digest(value, depth=0):
        if id(value) in seen:
            return seen[id(value)]
        seen[id(value)] = ("seen", id(value))
        if torch is not None and isinstance(value, torch.Tensor):
            out = ("tensor", id(value), str(value.dtype), tuple(value.shape), value.requires_grad,
                   hashlib.blake2b(tensor_bytes(value), digest_size=16).hexdigest())
        elif np is not None and isinstance(value, np.ndarray) and value.dtype != object:
            out = ("array", id(value), str(value.dtype), value.shape,
                   hashlib.blake2b(np.ascontiguousarray(value).tobytes(), digest_size=16).hexdigest())
        elif torch is not None and isinstance(value, torch.nn.Module):
            out = ("module", id(value), tuple(m.training for m in value.modules()),
                   tuple((k, digest(v, depth + 1)) for k, v in value.state_dict(keep_vars=True).items()))
        elif depth >= 4 or isinstance(value, (types.ModuleType, types.FunctionType, type)):
            out = ("id", id(value))
        elif isinstance(value, (list, tuple)):
            out = (type(value).__name__, id(value), tuple(digest(v, depth + 1) for v in value))
        elif isinstance(value, dict):
            out = ("dict", id(value), tuple((repr(k), digest(v, depth + 1)) for k, v in value.items()))
        elif hasattr(value, "__dict__") and (dataclasses.is_dataclass(value) or isinstance(value, types.SimpleNamespace)
                                             or type(value).__module__.split(".")[0] == "aecore"):
            out = ("object", id(value), type(value).__name__,
                   tuple((k, digest(v, depth + 1)) for k, v in vars(value).items()))
        else:
            out = ("id", id(value))
        seen[id(value)] = out
        return out

    ipython_own = re.compile(r"_{1,3}|_i{1,3}|_i?[0-9]+|_aecore.*")
    state = {name: digest(value) for name, value in list(ip.user_ns.items())
             if name not in ip.user_ns_hidden and not ipython_own.fullmatch(name)}
    if torch is not None:
        state["<torch switches>"] = (torch.is_grad_enabled(), str(torch.get_default_dtype()),
                                     torch.are_deterministic_algorithms_enabled(), torch.get_num_threads())
    if np is not None:
        state["<numpy errors>"] = tuple(sorted(np.geterr().items()))
    return state


def _aecore_random_states():
    import random, sys
    states = {"random": random.getstate()}
    if "numpy" in sys.modules:
        states["numpy"] = sys.modules["numpy"].random.get_state()
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        states["torch"] = torch.random.get_rng_state()
        if torch.cuda.is_initialized():
            states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _aecore_finish(allowed):
    # put the random states back, forget the walk's names, and fail naming what changed but `allowed`
    import random, sys
    now = _aecore_state()
    saved, states = _aecore_saved, _aecore_saved_random
    random.setstate(states["random"])
    if "numpy" in states:
        sys.modules["numpy"].random.set_state(states["numpy"])
    if "torch" in states:
        sys.modules["torch"].random.set_rng_state(states["torch"])
    if "cuda" in states:
        sys.modules["torch"].cuda.set_rng_state_all(states["cuda"])
    changed = sorted(name for name in set(saved) | set(now) if name not in allowed and saved.get(name) != now.get(name))
    for name in [n for n in globals() if n.startswith("_aecore")]:
        del globals()[name]
    if changed:
        raise AssertionError(f"the kernel's state changed: {changed}")


_aecore_saved, _aecore_saved_random = _aecore_state(), _aecore_random_states()
'''


def verify_state(allowed: set[str]) -> str:
    """The verify cell: puts back the random states saved, and fails naming what changed, ``allowed`` aside."""
    return f"_aecore_finish({sorted(allowed)!r})\n"


def bound_names(source: str) -> set[str]:
    """The names a cell binds at its top level (functions, classes, assignments, imports)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names


def test_the_verify_cell_catches_what_a_stub_changes_and_puts_the_random_states_back():
    """The verify cell is no formality: a stub cell that rebinds a variable, changes a tensor in place, binds
    a name of its own or turns off gradients is caught; one that draws random numbers is not, and the states
    are put back."""
    stub = 'def double(x):\n    raise NotImplementedError("write double")\n'
    cases = {"": [], "x.add_(1)": ["x"], "n = 2": ["n"], "torch.rand(3)": [], "helper = 3": ["helper"],
             "torch.set_grad_enabled(False)": ["<torch switches>"]}
    setup = v4.new_code_cell("import torch\nx = torch.zeros(3)\nn = 1")
    rounds = [[v4.new_code_cell("before = torch.random.get_rng_state()"), v4.new_code_cell(SAVE_STATE),
               v4.new_code_cell(stub + extra), v4.new_code_cell(verify_state(bound_names(stub))),
               v4.new_code_cell("assert torch.equal(torch.random.get_rng_state(), before)\n"
                                "assert not [k for k in globals() if k.startswith('_aecore')]\n"
                                "torch.set_grad_enabled(True); x.zero_(); n = 1; globals().pop('helper', None)")]
              for extra in cases]
    nb = v4.new_notebook(cells=[setup] + [cell for cells in rounds for cell in cells])
    client = NotebookClient(nb, kernel_name="python3", timeout=60, kernel_manager_class=IpcKernelManager)
    with client.setup_kernel():
        assert run_cell(client, setup, 0) is None
        for number, ((extra, changed), cells) in enumerate(zip(cases.items(), rounds)):
            errors = [run_cell(client, cell, 1 + 5 * number + offset) for offset, cell in enumerate(cells)]
            verified, after = errors[3], errors[4]
            if changed:
                assert verified is not None and verified["ename"] == "AssertionError", (extra, verified)
                assert f"changed: {changed!r}" in verified["evalue"], (extra, verified["evalue"])
            else:
                assert verified is None, (extra, _describe(verified))
            assert after is None, (extra, _describe(after))


# ---------------------------------------------------------------------------------------------------
# the walk

SOURCE_KINDS = ("source", "solution", "source check")
"""The kinds of step that are the source notebook's own cells (the book's run)."""


def walk_steps(source, student) -> list[tuple[str, str, Any, set[str]]]:
    """The cells the walk executes, in order, as ``(kind, label, cell, allowed)``. ``kind``: ``source`` (a cell
    of the source notebook), ``solution`` (the source's exercise cell), ``source check`` (the source's test
    cell of an exercise, hidden cases in), ``save``, ``exercise`` (the student's, stubs in), ``stop`` (a
    student test cell while the stubs are in place), ``check`` (a student test cell after the solution) and
    ``verify``, whose ``allowed`` are the names it lets differ. ``student`` None: the source's cells alone."""
    if student is None:
        steps = [("source", f"cell {i} (id {c.get('id')!r})", copy.deepcopy(c), set())
                 for i, c in enumerate(source.cells) if c.cell_type == "code"]
        return steps
    student_index = {cell.get("id"): i for i, cell in enumerate(student.cells)}
    checks_of = {student.cells[i].get("id"): ms.check_cells_after(student, i) for i in ms.exercise_cells(student)}
    source_checks = {student.cells[j].get("id") for js in checks_of.values() for j in js}
    steps = []

    def bracket(inner: list[tuple[str, str, Any]], allowed: set[str], what: str) -> None:
        steps.append(("save", f"saving the state before {what}", v4.new_code_cell(SAVE_STATE), set()))
        steps.extend((kind, label, cell, set()) for kind, label, cell in inner)
        steps.append(("verify", f"the state after {what}", v4.new_code_cell(verify_state(allowed)), allowed))

    for index, cell in enumerate(source.cells):
        if cell.cell_type != "code":
            continue
        cell_id = cell.get("id")
        label = f"source cell {index} (id {cell_id!r})"
        if cell_id not in checks_of:
            steps.append(("source check" if cell_id in source_checks else "source", label, copy.deepcopy(cell), set()))
            continue
        mine_index = student_index[cell_id]
        mine = student.cells[mine_index]
        mine_label = f"student cell {mine_index} (id {cell_id!r})"
        checks = [(f"student cell {j} (id {student.cells[j].get('id')!r}, the check of {mine_label})",
                   student.cells[j]) for j in checks_of[cell_id]]
        assert checks, f"{mine_label}: an exercise cell without a test cell after it"
        bracket([("exercise", mine_label, copy.deepcopy(mine))]
                + [("stop", check_label, copy.deepcopy(check)) for check_label, check in checks],
                bound_names(mine.source), f"the stubs of {mine_label} and their checks")
        steps.append(("solution", f"{label}, the solution of {mine_label}", copy.deepcopy(cell), set()))
        again = [("check", f"{check_label}, after the solution", copy.deepcopy(check)) for check_label, check in checks]
        bracket(again, set(), f"the student's checks of {mine_label}")
    return steps


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
    """The kernel's environment: this process's (conftest.py sets the quick profile unless the caller chose
    one), strict unless the caller set AECORE_STRICT (``make test`` sets 1)."""
    return {"AECORE_STRICT": "1", **os.environ}


def student_edition(path: Path) -> tuple[Any, str | None]:
    """The student notebook of ``path`` as ``make student`` writes it (None for a notebook without solution
    regions), and why the edition failed (else None)."""
    if path not in WITH_REGIONS:
        return None, None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            written = ms.make_student([path], Path(tmp) / "student")
        except Exception as error:  # the walk test reports it; the notebook's own test runs the source alone
            return None, f"{type(error).__name__}: {error}"
        return nbformat.read(written[0], as_version=4), None


@dataclass
class Run:
    """One notebook's run: its student notebook (None: no regions, or the edition failed and ``edition`` says
    why), the steps executed, each step's error (or None), and why the run stopped early (a cell over its time
    limit, a dead kernel), or None."""
    student: Any
    edition: str | None
    steps: list[tuple[str, str, Any, set[str]]]
    errors: list[Any] = field(default_factory=list)
    stopped: str | None = None


_RUNS: dict[Path, Run] = {}


def executed(path: Path) -> Run:
    """``path`` executed once per test process, in one kernel started in notebooks/: the student walk where it
    has a student edition, else its own cells."""
    if path not in _RUNS:
        source = nbformat.read(path, as_version=4)
        student, edition = student_edition(path)
        steps = walk_steps(source, student)
        for number, (_, _, cell, _) in enumerate(steps):
            cell["id"] = f"walk-{number}"  # the walk's cells keep unique ids
            cell.outputs, cell.execution_count = [], None
        run = Run(student, edition, steps)
        walk = v4.new_notebook(cells=[cell for _, _, cell, _ in steps], metadata=copy.deepcopy(source.metadata))
        folder = {"metadata": {"path": str(NOTEBOOKS_DIR)}}
        client = NotebookClient(walk, kernel_name="python3", timeout=CELL_TIMEOUT,
                                kernel_manager_class=IpcKernelManager, resources=folder)
        try:
            with client.setup_kernel(env=notebook_env()):
                for position, (_, _, cell, _) in enumerate(steps):
                    run.errors.append(run_cell(client, cell, position))
        except Exception as error:  # a timeout, a dead kernel: fail both tests, without a second run
            run.stopped = f"{type(error).__name__}: {_plain(str(error))[-4000:]}"
        _RUNS[path] = run
    return _RUNS[path]


@pytest.mark.parametrize("path", per_notebook(SOURCES))
def test_the_notebook_runs_top_to_bottom(path):
    """What ``pytest --nbval notebooks`` checks of a notebook: stored without outputs (nbval compares only
    cells stored with outputs), and every cell runs without error, in order, in one kernel started in
    notebooks/ (quick profile, strict)."""
    stored = nbformat.read(path, as_version=4)
    with_outputs = [i for i, cell in enumerate(stored.cells)
                    if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)]
    assert not with_outputs, (f"{path.name}: cells {with_outputs} are stored with outputs or execution counts; "
                              "notebooks are kept without them")
    run = executed(path)
    for (kind, label, _, _), error in zip(run.steps, run.errors):
        assert kind not in SOURCE_KINDS or error is None, f"{path.name}, {label} fails: {_describe(error)}"
    assert run.stopped is None, f"{path.name}: the run stopped after {len(run.errors)} cells: {run.stopped}"
    ran = [kind for kind, _, _, _ in run.steps[:len(run.errors)] if kind in SOURCE_KINDS]
    assert len(ran) == sum(cell.cell_type == "code" for cell in stored.cells)  # every code cell, once


def test_the_student_code_is_the_source_code_but_the_exercises_and_their_checks():
    """The walk runs the source's cells where the student notebook has the same code: it must be the same. And
    each stub cell binds only names its solution binds again, so the verify cell may let them differ."""
    for path in WITH_REGIONS:
        source = nbformat.read(path, as_version=4)
        student, edition = student_edition(path)
        assert edition is None, f"{path.name}: the student edition fails: {edition}"
        by_id = {cell.get("id"): cell for cell in source.cells}
        exercises = ms.exercise_cells(student)
        walked = {student.cells[i].get("id") for i in exercises}
        walked |= {student.cells[j].get("id") for i in exercises for j in ms.check_cells_after(student, i)}
        for index in exercises:
            stub = student.cells[index]
            extra = bound_names(stub.source) - bound_names(by_id[stub.get("id")].source)
            assert not extra, (f"{path.name}: student cell {index} (id {stub.get('id')!r}) binds {sorted(extra)}, "
                               "which the solution does not bind again")
        for index, cell in enumerate(student.cells):
            if cell.cell_type != "code" or cell.get("id") in walked or cell.get("id") == BOOTSTRAP_ID:
                continue
            where = f"{path.name}: student cell {index} (id {cell.get('id')!r})"
            assert cell.get("id") in by_id, f"{where} is not in the source"
            assert cell.source == by_id[cell.get("id")].source, f"{where} differs from the source's"


@pytest.mark.parametrize("path", per_notebook(WITH_REGIONS))
def test_the_student_notebook_stops_only_at_its_exercises_and_the_solutions_give_the_book_values(path):
    run = executed(path)
    assert run.edition is None, f"{path.name}: the student edition fails: {run.edition}"
    assert ms.exercise_cells(run.student), f"{path.name}: no exercise cell in the student notebook"
    messages: list[str] = []
    for (kind, label, cell, _), error in zip(run.steps, run.errors):
        where = f"{path.name}, {label}"
        if kind == "exercise":
            messages = ms.exercise_messages(cell.source)
        if kind == "stop" or (kind == "exercise" and RAISES in cell.metadata.get("tags", [])):
            assert error is not None, f"{where}: ran without error; it must stop at a stub of its exercise"
            assert error.get("ename") == "NotImplementedError" and error.get("evalue") in messages, (
                f"{where}: must raise NotImplementedError with one of {messages}, raised {_describe(error)}")
            continue
        assert error is None, f"{where} fails: {_describe(error)}"
        if kind in ("check", "source check"):  # the self-check prints its verdict
            printed = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
            assert "✓" in printed, f"{where}: no verdict printed, only {printed!r}"
    assert run.stopped is None, f"{path.name}: the run stopped after {len(run.errors)} cells: {run.stopped}"
