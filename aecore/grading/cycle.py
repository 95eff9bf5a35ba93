"""``make grade``: the whole nbgrader cycle over a folder of submissions, with nothing set up beforehand.

:func:`grade` builds the grading build (the student package with its hidden cases), makes a throwaway nbgrader
course in a temporary folder (:mod:`aecore.grading.course`), runs each lab's setup once to load its data, grades
every submission in a worker process of its own (:mod:`aecore.grading.worker`, a few at a time), and writes
into the output folder:

- ``grades.csv``: student, lab, exercise, points, max_points, verdict (one row per exercise and per question);
- ``feedback/<student>.md`` (every lab) and ``feedback/<student>/<lab>.html`` (nbgrader's feedback page);
- ``answers/<lab>/<observation>.html``: one page per observation question, every student's answer side by side.

A submission can only lose its own points: whatever it does, its worker's result (or, when the worker dies or
runs past its time, a zero with the reason) is all that reaches the report.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .. import config
from . import report
from .course import GradingError, Lab, make_course, warm_up
from .sandbox import Limits, Sandbox, install_script, instructor_folders, library_folders
from .submissions import Submission, collect

NOTEBOOKS = config.REPO_ROOT / "notebooks"


def earlier_labs(notebooks: Iterable[Path]) -> list[str]:
    """The lab modules (``"lab1"``) whose exercises the ``notebooks`` import from :mod:`aecore.lessons` (Lab 3's
    ``from aecore.lessons import bce_per_image`` -> ``["lab1"]``), in book order."""
    import ast

    import nbformat

    from ..exercises import EXERCISES, LAB_MODULES

    names: set[str] = set()
    for path in notebooks:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            try:
                tree = ast.parse(cell.source)
            except SyntaxError:
                continue
            names |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                      and node.module == "aecore.lessons" for alias in node.names}
    labs = {EXERCISES[name].lab for name in names if name in EXERCISES}
    return [lab for lab in LAB_MODULES if lab in labs]


def grading_build(out: Path, released: Sequence[str] = ()) -> Path:
    """The grading build: the student package with its hidden cases and the references of the ``released`` labs
    (the earlier labs whose functions the graded labs import, so that a Lab 3 submission is graded with Lab 1's
    reference ``bce_per_image``, not with a Lab 1 exercise it may have got wrong), written into ``out``; the folder
    to put on ``sys.path`` (it holds ``aecore/``)."""
    from ..book.student_package import write_package  # type: ignore[import-not-found, unused-ignore]

    written = Path(write_package(out, released=released, hidden_cases=True))
    return written if (written / "aecore").is_dir() else written.parent


@dataclass(frozen=True)
class Summary:
    """What a grading run did: the ``results`` per submission, the notebooks ``ignored``, the output files, the
    ``seconds`` it took and the ``workers`` it ran."""
    results: list[dict[str, Any]]
    ignored: list[Path]
    grades: Path
    feedback: Path
    answers: Path
    seconds: float
    workers: int


def _worker_limits(limits: Limits) -> Callable[[], None]:
    def apply() -> None:   # in the worker process, before it starts: its kernels inherit these as their ceiling
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def _run_worker(job: dict[str, Any], limits: Limits) -> dict[str, Any]:
    """Grade one submission in a worker process; a worker that dies or runs past ``limits.submission_seconds``
    gives every exercise zero with the reason."""
    root = Path(job["root"])
    job_path, result_path = root / "job.json", root / "result.json"
    job_path.write_text(json.dumps(job))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "JUPYTER_PATH")}
    env["PYTHONPATH"] = str(config.REPO_ROOT)   # the worker (trusted) imports aecore.grading; its kernels do not
    reason = ""
    try:
        done = subprocess.run([sys.executable, "-m", "aecore.grading", "worker", str(job_path), str(result_path)],
                              env=env, capture_output=True, text=True, timeout=limits.submission_seconds,
                              preexec_fn=_worker_limits(limits), start_new_session=True)
        if done.returncode:
            tail = (done.stderr or done.stdout).strip().splitlines()
            reason = f"grading stopped ({tail[-1] if tail else f'exit status {done.returncode}'})"
    except subprocess.TimeoutExpired:
        reason = f"grading took longer than {limits.submission_seconds} s and was stopped"
    if not reason:
        try:
            return json.loads(result_path.read_text())
        except (OSError, ValueError):
            reason = "grading stopped without a result"
    return {"student": job["student"], "lab": job["lab"], "answers": {}, "feedback": None, "problem": reason,
            "rows": [{"grade_id": t["grade_id"], "exercise": t["exercise"], "points": 0.0,
                      "max_points": t["points"], "verdict": reason} for t in job["tests"]]}


def _publish(staging: Path, out: Path) -> None:
    """Move the finished report from ``staging`` into ``out``, replacing an earlier run's report there."""
    out.mkdir(parents=True, exist_ok=True)
    for entry in staging.iterdir():
        target = out / entry.name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        shutil.move(str(entry), target)


def lab_sources(notebooks: Sequence[Path] | None) -> dict[str, Path]:
    """The source notebooks to grade by lab name (stem): those given, or every notebook of ``notebooks/``."""
    paths = list(notebooks) if notebooks else sorted(NOTEBOOKS.glob("*.ipynb"))
    return {Path(p).stem: Path(p) for p in paths}


def grade(submissions: Path, out: Path, notebooks: Sequence[Path] | None = None, *, workers: int | None = None,
          limits: Limits | None = None, build: Callable[[Path, Sequence[str]], Path] = grading_build,
          keep: Path | None = None, log: Callable[[str], None] = print) -> Summary:
    """Grade every submission under ``submissions`` (layouts: :mod:`aecore.grading.submissions`) against the source
    ``notebooks`` (default: ``notebooks/*.ipynb``) and write the report into ``out``. ``workers``: submissions
    graded at once (default: half the CPUs, at least 1); ``build(folder, released)`` writes the grading build with
    the references of the ``released`` labs (:func:`earlier_labs`) and returns the folder to import it from;
    ``keep``: a folder to keep the nbgrader course and the graded notebooks in (else a temporary folder, deleted
    afterwards). Raises GradingError or SubmissionsError before grading anything when the set-up is wrong; a
    submission's own faults only cost its points."""
    start = time.perf_counter()
    limits = limits or Limits()
    sources = lab_sources(notebooks)
    found, ignored = collect(Path(submissions), list(sources))
    if not found:
        raise GradingError(f"no submission of {', '.join(sources)} under {submissions}: the layout is "
                           "<folder>/<student>/<lab>.ipynb")
    graded_labs = sorted({s.lab for s in found})
    workers = workers or max(1, (os.cpu_count() or 2) // 2)
    run = Path(tempfile.mkdtemp(prefix="aecore-grading-")) if keep is None else Path(keep)
    run.mkdir(parents=True, exist_ok=True)
    try:
        log(f"grading {len(found)} submissions of {', '.join(graded_labs)} in {run}, {workers} at a time")
        package = build(run / "build", earlier_labs(sources[name] for name in graded_labs))
        script = install_script(run)
        labs = make_course(run / "course", {name: sources[name] for name in graded_labs}, limits)
        hidden = tuple(instructor_folders()) + (run.resolve(),)
        readable = (*library_folders(), package.resolve(), config.data_root().resolve(), script.parent.resolve())
        warm_caches = {}
        for name, lab in labs.items():
            folder = run / "warmup" / name
            folder.mkdir(parents=True)
            warm_caches[name] = folder / "cache"
            box = Sandbox(script, folder, package, hidden, readable, warm_caches[name], folder.parent / f"{name}.log",
                          limits)
            warm_up(lab, box, run / "warmup" / f"{name}-jupyter", limits)
            log(f"{name}: {len(lab.tests)} graded exercises, {len(lab.questions)} observation questions; setup ran")
        readable = (*readable, *(c.resolve() for c in warm_caches.values()))
        jobs = [_job(s, labs[s.lab], run, package, script, hidden, readable, warm_caches[s.lab], limits) for s in found]
        done: list[int] = []

        def run_one(job: dict[str, Any]) -> dict[str, Any]:
            result = _run_worker(job, limits)
            done.append(1)
            log(f"[{len(done)}/{len(jobs)}] {job['student']} {job['lab']}: "
                f"{sum(r['points'] for r in result['rows']):g} of {sum(r['max_points'] for r in result['rows']):g}")
            return result

        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(run_one, jobs))
        staging = Path(tempfile.mkdtemp(prefix=".grading-", dir=Path(out).parent if Path(out).parent.exists()
                                        else None))
        report.write_csv(staging / "grades.csv", report.rows(results, labs))
        (staging / "feedback").mkdir()
        report.write_feedback(staging / "feedback", results)
        (staging / "answers").mkdir()
        report.write_answers(staging / "answers", results, labs)
        _publish(staging, Path(out))
        shutil.rmtree(staging, ignore_errors=True)
    finally:
        if keep is None:
            shutil.rmtree(run, ignore_errors=True)
    out = Path(out)
    return Summary(results, ignored, out / "grades.csv", out / "feedback", out / "answers",
                   time.perf_counter() - start, workers)


def _job(submission: Submission, lab: Lab, run: Path, package: Path, script: Path, hidden: tuple[Path, ...],
         readable: tuple[Path, ...], warm_cache: Path, limits: Limits) -> dict[str, Any]:
    root = run / "students" / submission.lab / submission.student
    root.mkdir(parents=True)
    return {"student": submission.student, "lab": submission.lab, "submission": str(submission.path.resolve()),
            "root": str(root), "release": str(lab.release), "gradebook": str(run / "course" / "gradebook.db"),
            "package": str(package), "script": str(script), "hidden": [str(p) for p in hidden],
            "readable": [str(p) for p in readable], "warm_cache": str(warm_cache), "limits": asdict(limits),
            "setup": list(lab.setup),
            "tests": [{**asdict(t), "source": lab.test_sources[t.grade_id]} for t in lab.tests]}


def summary_lines(summary: Summary, labs: Mapping[str, int] | None = None) -> list[str]:
    """A few lines for the terminal: how many graded, in how long, where the report is."""
    students = len({r["student"] for r in summary.results})
    problems = sum(1 for r in summary.results if r.get("problem"))
    lines = [f"graded {len(summary.results)} submissions of {students} students in {summary.seconds:.0f} s "
             f"({summary.workers} at a time); {problems} could not be graded (see their verdicts)",
             f"grades: {summary.grades}", f"feedback: {summary.feedback}/<student>.md and <student>/<lab>.html",
             f"answers to grade by hand: {summary.answers}/<lab>/<question>.html"]
    if summary.ignored:
        lines.append(f"left out (no lab in the name): {', '.join(map(str, summary.ignored[:5]))}"
                     + (" ..." if len(summary.ignored) > 5 else ""))
    return lines
