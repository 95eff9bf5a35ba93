"""Grading one submission, in a process of its own (``python -m aecore.grading worker JOB.json RESULT.json``).

Steps: read the submitted notebook; build the notebook nbgrader autogrades from the assignment's release
version, with the student's own solution cells put in (matched by ``grade_id``), so only the grading-setup,
solution and test cells run; run nbgrader's ``autograde`` in the submission's own course folder, its kernel in
the sandbox (:mod:`aecore.grading.sandbox_main`); re-run each passed check on the solution cells' definitions
in a fresh sandboxed process (the clean re-check); zero what misbehaved or was tampered with; run nbgrader's
``generate_feedback``; write the result (one row per graded cell, the answers) as JSON.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import nbformat

from . import markup, verdicts
from .course import COURSE_ID, tools_on_path
from .sandbox import KERNEL_NAME, Limits, Sandbox, mirror_cache


def patches(source: str) -> list[str]:
    """The top-level statements of a cell's code that change an attribute or an item of something else
    (``exercises.check_kl_divergence = ...``, ``setattr(torch, ...)``), as written: what a patched check looks like."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    found = []
    for node in tree.body:
        targets = (node.targets if isinstance(node, ast.Assign) else [node.target]
                   if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
        calls = [n for n in ast.walk(node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                 and n.func.id in ("setattr", "delattr")]
        if any(isinstance(t, (ast.Attribute, ast.Subscript)) for t in targets) or calls:
            found.append(ast.unparse(node).splitlines()[0][:120])
    return found


def _definitions(source: str) -> tuple[str, list[str]]:
    """The definitions of a solution cell's code (imports, functions, classes and assignments to plain names; every
    other top-level statement dropped) and the names of the functions it defines. A cell that does not parse
    gives "" (its test fails in the notebook already)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return "", []
    kept: list[ast.stmt] = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            kept.append(node)
        elif isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
            kept.append(node)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            kept.append(node)
    functions = [n.name for n in kept if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    return ast.unparse(ast.Module(body=kept, type_ignores=[])), functions


def submitted_notebook(release: nbformat.NotebookNode, submission: nbformat.NotebookNode
                       ) -> tuple[nbformat.NotebookNode, list[str]]:
    """The notebook to autograde: ``release`` (the assignment as handed out: grading-setup, exercise stubs, test
    cells, questions and answer prompts) with each solution cell's source taken from ``submission``'s cell of the
    same ``grade_id`` (or, where the student's copy lost its metadata, of the same cell id). Returns it and the
    grade_ids of the solution cells the submission lacks (they keep the stub)."""
    by_grade_id: dict[str, Any] = {}
    by_cell_id: dict[str, Any] = {}
    for cell in submission.get("cells", []):
        if not isinstance(cell, dict):
            continue
        gid = markup.grade_id(cell)
        if gid and gid not in by_grade_id:
            by_grade_id[gid] = cell
        if cell.get("id"):
            by_cell_id.setdefault(str(cell.get("id")), cell)
    out = nbformat.from_dict(json.loads(json.dumps(release)))
    missing = []
    for cell in out.cells:
        if not markup.is_solution(cell):
            continue
        gid = markup.grade_id(cell) or ""
        theirs = by_grade_id.get(gid) or by_cell_id.get(str(cell.get("id")))
        if theirs is None or theirs.get("cell_type") != cell.cell_type:
            missing.append(gid)
            continue
        source = theirs.get("source", "")
        cell.source = "".join(source) if isinstance(source, list) else str(source)
    return out, missing


def _read(path: Path) -> tuple[nbformat.NotebookNode | None, str]:
    """The submitted notebook, or None and why it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        return None, f"the file cannot be read as text ({err})"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        return None, f"not a notebook: invalid JSON at line {err.lineno}, column {err.colno} ({err.msg})"
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        return None, "not a notebook: the JSON has no list of cells"
    try:
        return nbformat.from_dict(data), ""
    except Exception as err:
        return None, f"not a notebook ({err})"


def _autograde_preprocessors() -> list[type]:
    """nbgrader's autograde steps, with its ``Execute`` replaced by one whose kernel connects over Unix sockets
    (:mod:`aecore.book.kernels`: a kernel on TCP ports can die at start when another process takes a port, and
    the submission would be graded as a dead kernel)."""
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import Execute

    from ..book.kernels import IpcKernelManager

    class IpcExecute(Execute):
        """nbgrader's Execute (configured as ``Execute``) over Unix sockets."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("kernel_manager_class", IpcKernelManager)
            super().__init__(*args, **kwargs)

    steps = list(Autograde.class_traits()["autograde_preprocessors"].default())
    return [IpcExecute if step is Execute else step for step in steps]


def _api(root: Path, limits: Limits) -> Any:
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    tools_on_path()
    cfg = Config()
    cfg.Autograde.autograde_preprocessors = _autograde_preprocessors()
    cfg.CourseDirectory.root = str(root)
    cfg.CourseDirectory.course_id = COURSE_ID
    cfg.Execute.kernel_name = KERNEL_NAME
    cfg.Execute.timeout = limits.cell_seconds
    cfg.Execute.startup_timeout = max(120, limits.cell_seconds)
    cfg.Autograde.create_student = True
    return NbGraderAPI(coursedir=CourseDirectory(config=cfg), config=cfg)


def _violations(log: Path) -> list[dict[str, Any]]:
    found = []
    if log.exists():
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                found.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return found


def _confirm(job: dict[str, Any], sandbox: Sandbox, graded: nbformat.NotebookNode, passed: list[str],
             limits: Limits) -> dict[str, dict[str, str]]:
    """Re-run the checks of ``passed`` tests on the definitions of the solution cells in a fresh sandboxed process;
    the outcome per test grade_id ("passed", "failed" or "tampered", with a detail)."""
    definitions, functions = [], []
    for cell in graded.cells:
        if cell.cell_type == "code" and markup.is_solution(cell):
            source, names = _definitions(cell.source)
            definitions.append({"grade_id": markup.grade_id(cell), "source": source})
            functions += names
    tests = [t for t in job["tests"] if t["grade_id"] in passed]
    folder = Path(job["root"]) / "confirm"
    folder.mkdir(exist_ok=True)
    cache = folder / ".aecore-cache"
    mirror_cache(Path(job["warm_cache"]), cache)
    confirm_box = dataclasses.replace(sandbox, folder=folder, cache=cache,
                                      log=Path(job["root"]) / "confirm-violations.log", limits=limits)
    config_path, result = Path(job["root"]) / "confirm.json", Path(job["root"]) / "confirm-result.json"
    config_path.write_text(json.dumps(confirm_box.config(setup=job["setup"], definitions=definitions, tests=tests,
                                                         functions=functions, result=str(result))))
    try:
        run = subprocess.run(confirm_box.command(config_path, "confirm"), capture_output=True, text=True,
                             timeout=limits.cell_seconds * (len(tests) + 2) + 120)
        detail = (run.stderr or run.stdout).strip().splitlines()[-1:] if run.returncode else []
    except subprocess.TimeoutExpired:
        detail = ["the clean re-check did not finish in time"]
    try:
        outcome = json.loads(result.read_text())["tests"]
    except (OSError, ValueError, KeyError):
        reason = detail[0] if detail else "it wrote no result"
        outcome = {t["grade_id"]: {"status": "failed", "detail": f"the clean re-check stopped: {reason}"}
                   for t in tests}
    for violation in _violations(confirm_box.log):
        gid = violation.get("cell")
        for test in tests:
            if gid in (test["grade_id"], test["solution"]):
                outcome[test["grade_id"]] = {"status": "blocked",
                                             "detail": f"tried to {violation['what']}: {violation['detail']}"}
    return outcome


def grade(job: dict[str, Any]) -> dict[str, Any]:
    """Grade the submission ``job`` describes (see :mod:`aecore.grading.cycle`); return its result: ``rows`` (one
    per graded cell: grade_id, exercise, points, max_points, verdict), ``answers`` (answer grade_id -> markdown),
    ``feedback`` (the nbgrader feedback file, or None), ``problem`` (what stopped its grading, or "")."""
    limits = Limits(**job["limits"])
    root, student, lab = Path(job["root"]), job["student"], job["lab"]
    tests = [markup.Test(t["grade_id"], t["exercise"], t["points"], t["solution"]) for t in job["tests"]]
    result: dict[str, Any] = {"student": student, "lab": lab, "rows": [], "answers": {}, "feedback": None,
                              "problem": ""}

    def zero_all(verdict: str) -> dict[str, Any]:
        result["rows"] = [{"grade_id": t.grade_id, "exercise": t.exercise, "points": 0.0, "max_points": t.points,
                           "verdict": verdict} for t in tests]
        result["problem"] = verdict
        return result

    submission, problem = _read(Path(job["submission"]))
    if submission is None:
        return zero_all(problem)
    release = nbformat.read(job["release"], as_version=4)
    graded, missing = submitted_notebook(release, submission)
    prompts = {markup.grade_id(c): c.source.strip() for c in release.cells if markup.is_answer(c)}
    result["answers"] = {gid: ("" if gid in missing or c.source.strip() == prompts.get(gid) else c.source)
                         for c in graded.cells if markup.is_answer(c) for gid in [markup.grade_id(c)]}
    target = root / "submitted" / student / lab / f"{lab}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(graded, target)
    shutil.copyfile(job["gradebook"], root / "gradebook.db")

    folder = root / "sandbox"
    folder.mkdir(exist_ok=True)
    cache = folder / ".aecore-cache"
    mirror_cache(Path(job["warm_cache"]), cache)
    sandbox = Sandbox(Path(job["script"]), folder, Path(job["package"]), tuple(map(Path, job["hidden"])),
                      tuple(map(Path, job["readable"])), cache, root / "violations.log", limits)
    sandbox.write_kernel_spec(root / "jupyter")
    os.environ["JUPYTER_PATH"] = str(root / "jupyter")
    api = _api(root, limits)
    outcome = api.autograde(lab, student)
    autograded_path = root / "autograded" / student / lab / f"{lab}.ipynb"
    if not outcome.get("success") or not autograded_path.exists():
        log = (outcome.get("error") or outcome.get("log") or "").strip().splitlines()
        return zero_all("grading stopped: " + (log[-1] if log else "nbgrader's autograde failed"))
    autograded = nbformat.read(autograded_path, as_version=4)

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", COURSE_ID) as gb:
        scores = {g.name: (g.auto_score, g.max_score) for g in gb.find_submission_notebook(lab, lab, student).grades}

    cells = {markup.grade_id(c): c for c in autograded.cells if markup.grade_id(c)}
    by_count = {c.get("execution_count"): c for c in autograded.cells if c.cell_type == "code"}
    blocked: dict[str, str] = {}
    for violation in _violations(sandbox.log):
        cell = by_count.get(violation.get("cell"))
        if cell is not None and not markup.grade_id(cell):
            continue   # a grading-setup cell (the instructor's code; the warm-up run found it clean)
        gid = markup.grade_id(cell) if cell is not None else None
        for test in tests:   # outside any known cell (a thread, say): every exercise
            if gid is None or gid in (test.grade_id, test.solution):
                blocked.setdefault(test.grade_id, f"blocked: tried to {violation['what']} ({violation['detail']})")

    passed = [t.grade_id for t in tests if scores.get(t.grade_id, (0, 0))[0] and
              scores[t.grade_id][0] >= scores[t.grade_id][1] and t.grade_id not in blocked]
    confirmed = _confirm(job, sandbox, graded, passed, limits) if passed else {}

    rows = []
    for test in tests:
        auto, maximum = scores.get(test.grade_id, (0.0, test.points))
        points = float(auto or 0.0)
        cell = cells.get(test.grade_id)
        solution_cell = cells.get(test.solution) if test.solution else None
        solution_error = verdicts.cell_error(solution_cell) if solution_cell is not None else None
        error = verdicts.cell_error(cell) if cell is not None else None
        if test.grade_id in blocked:
            points, verdict = 0.0, blocked[test.grade_id]
        elif test.solution in missing:
            points, verdict = 0.0, f"the exercise cell {test.solution} is missing from the submission"
        elif solution_error and verdicts.severe(*solution_error):
            points = 0.0
            verdict = verdicts.describe_error(*solution_error, test.exercise, limits.cell_seconds, limits.memory_bytes)
        elif error:
            points = 0.0
            verdict = verdicts.describe_error(*error, test.exercise, limits.cell_seconds, limits.memory_bytes)
        elif test.grade_id in passed:
            check = confirmed.get(test.grade_id, {"status": "failed", "detail": "no result"})
            if check["status"] == "passed":
                verdict = verdicts.passed_line(cell) or verdicts.PASSED
            elif check["status"] == "blocked":
                points, verdict = 0.0, f"blocked: {check['detail']}"
            elif check["status"] == "tampered":
                points, verdict = 0.0, f"{verdicts.TAMPERED} ({check['detail']})"
            elif solution_cell is not None and patches(solution_cell.source):
                points = 0.0
                verdict = (f"{verdicts.TAMPERED} (the exercise cell runs `{patches(solution_cell.source)[0]}`; "
                           f"run on its definitions alone: {check['detail']})")
            else:
                points = 0.0
                verdict = (f"{verdicts.TAMPERED}, or the function needs code outside its definitions: the check "
                           f"passed in the notebook but not when run again on the exercise cell's definitions "
                           f"alone ({check['detail']})")
        else:
            verdict = "no points (the check printed no error)"
        rows.append({"grade_id": test.grade_id, "exercise": test.exercise, "points": points,
                     "max_points": float(maximum or test.points), "verdict": verdict})
    result["rows"] = rows
    _record(root, lab, student, rows, autograded, autograded_path)
    feedback = api.generate_feedback(lab, student)
    html = root / "feedback" / student / lab / f"{lab}.html"
    result["feedback"] = str(html) if feedback.get("success") and html.exists() else None
    return result


def _record(root: Path, lab: str, student: str, rows: list[dict[str, Any]], autograded: nbformat.NotebookNode,
            path: Path) -> None:
    """Put the final points in the submission's gradebook and each overruled verdict under its test cell, so that
    nbgrader's feedback shows them."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", COURSE_ID) as gb:
        for row in rows:
            grade = gb.find_grade(row["grade_id"], lab, lab, student)
            if (grade.auto_score or 0.0) != row["points"]:
                grade.auto_score = row["points"]
                cell = next(c for c in autograded.cells if markup.grade_id(c) == row["grade_id"])
                cell.outputs.append(nbformat.v4.new_output(
                    "stream", name="stderr", text=f"Grader: {row['points']:g} of {row['max_points']:g} points: "
                                                  f"{row['verdict']}\n"))
        gb.db.commit()
    nbformat.write(autograded, path)


def main(argv: list[str]) -> int:
    """``argv``: [JOB.json, RESULT.json]; grade the job, write the result."""
    job = json.loads(Path(argv[0]).read_text())
    result = grade(job)
    Path(argv[1]).write_text(json.dumps(result, indent=1, ensure_ascii=False))
    return 0

