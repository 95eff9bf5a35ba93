"""How long ``make grade`` takes on a class: 100 generated Lab 1 submissions, graded by
:func:`aecore.grading.cycle.grade` as ``make grade SUBMISSIONS=<folder>`` does.

The class: 40 right submissions (the source notebook's solutions), 40 with one named mistake each (the typical
mistakes of Lab 1's exercises, written as a student would, in turn) and 20 untouched stubs. The run checks that
every right one gets full points, every mistake is named and every stub scores zero, and records the wall time,
the peak memory (of this process and, separately, of the largest grading process: a worker, its kernel or
its re-check), the machine and its load average (other work on it slows grading down) in
``benchmarks/results/grading.json``.

    python -m benchmarks.grading [--students 100] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import nbformat

from aecore.book.edition import student_source  # the student edition's own stubs
from aecore.config import REPO_ROOT
from aecore.grading import markup
from aecore.grading.cycle import grade
from aecore.grading.sandbox import Limits
from benchmarks._results import local_path, provenance

LAB = "01_mnist_autoencoder"
HEADER = "import torch\nfrom torch.nn import functional as F\n\n"

MISTAKES = {
    "count_parameters": ("frozen parameters counted", "def count_parameters(model):\n"
                         "    return sum(p.numel() for p in model.parameters())\n"),
    "bce_per_image": ("the BCE averaged over the pixels instead of summed", "def bce_per_image(logits, x):\n"
                      "    return F.binary_cross_entropy_with_logits(logits, x, reduction='none')"
                      ".flatten(1).mean(1)\n"),
    "noisy_input": ("uniform noise", "def noisy_input(x, factor):\n"
                    "    return (x + factor * torch.rand_like(x)).clamp(0, 1)\n"),
    "l2_penalty": ("the biases (and norm scales) included", "def l2_penalty(model):\n"
                   "    return sum((p ** 2).sum() for p in model.parameters())\n"),
}
"""Lab 1's exercises -> (words of the mistake's name, a student's function that makes it)."""


def source_notebook() -> nbformat.NotebookNode:
    """Lab 1's source notebook with its nbgrader markup."""
    return nbformat.read(REPO_ROOT / "notebooks" / f"{LAB}.ipynb", as_version=4)


def _changed(nb: nbformat.NotebookNode, grade_id: str | None, source: str | None, stub: bool = False
             ) -> nbformat.NotebookNode:
    out = nbformat.from_dict(json.loads(json.dumps(nb)))
    for cell in out.cells:
        if not markup.is_solution(cell):
            continue
        if stub:
            cell.source = (student_source(cell.source)
                           if cell.cell_type == "code" else "YOUR ANSWER HERE")
        elif markup.grade_id(cell) == grade_id and source is not None:
            cell.source = HEADER + source
    return out


def write_class(folder: Path, nb: nbformat.NotebookNode, students: int) -> dict[str, tuple[str, str | None]]:
    """Write ``students`` submissions into ``folder/<student>/01_mnist_autoencoder.ipynb``: 40 % right, 40 % with one
    named mistake (in turn), 20 % stubs. Returns student -> (kind, the exercise with the mistake)."""
    kinds: dict[str, tuple[str, str | None]] = {}
    mistakes = list(MISTAKES.items())
    for i in range(students):
        student = f"student{i:03d}"
        share = i % 5
        if share < 2:
            kinds[student], sub = ("right", None), nb
        elif share < 4:
            exercise, (_, source) = mistakes[i % len(mistakes)]
            kinds[student], sub = ("mistake", exercise), _changed(nb, exercise, source)
        else:
            kinds[student], sub = ("stub", None), _changed(nb, None, None, stub=True)
        (folder / student).mkdir(parents=True)
        nbformat.write(sub, folder / student / f"{LAB}.ipynb")
    return kinds


def check(results: list[dict], kinds: dict[str, tuple[str, str | None]]) -> list[str]:
    """What went wrong: a right submission short of points, a mistake not named, a stub with points."""
    problems = []
    for result in results:
        kind, exercise = kinds[result["student"]]
        for row in result["rows"]:
            if kind == "right" and row["points"] != row["max_points"]:
                problems.append(f"{result['student']} (right) {row['exercise']}: {row['verdict']}")
            if kind == "stub" and row["points"]:
                problems.append(f"{result['student']} (stub) {row['exercise']} got points")
            if kind == "mistake" and row["exercise"] == exercise and (
                    row["points"] or MISTAKES[exercise][0] not in row["verdict"]):
                problems.append(f"{result['student']} ({exercise} mistake): {row['verdict']}")
    return problems


def _peak_children_mib() -> float:
    """The largest peak resident memory of any finished child process (ru_maxrss: KiB on Linux), in MiB."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    """Generate the class, grade it, write the results; exit status 1 if a verdict was wrong."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="aecore-grading-benchmark-"))
    try:
        nb = source_notebook()
        source = tmp / "source" / f"{LAB}.ipynb"
        source.parent.mkdir()
        nbformat.write(nb, source)
        kinds = write_class(tmp / "submissions", nb, args.students)
        load_before = os.getloadavg()
        start = time.perf_counter()
        limits = Limits()
        summary = grade(tmp / "submissions", tmp / "out", [source], workers=args.workers, limits=limits)
        seconds = time.perf_counter() - start
        problems = check(summary.results, kinds)
        counts = {k: sum(1 for v in kinds.values() if v[0] == k) for k in ("right", "mistake", "stub")}
        blob = {
            "caption": f"make grade on {args.students} generated Lab 1 submissions ({counts['right']} right, "
                       f"{counts['mistake']} with a named mistake, {counts['stub']} stubs), "
                       f"{summary.workers} at a time",
            "students": args.students, "kinds": counts, "workers": summary.workers,
            "wall_seconds": round(seconds, 1), "seconds_per_submission": round(seconds / args.students, 2),
            "peak_memory_mib": {"grader": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                                "largest_grading_process": round(_peak_children_mib())},
            "load_average": {"before": [round(x, 1) for x in load_before],
                             "after": [round(x, 1) for x in os.getloadavg()]},
            "limits": {"memory_gib": limits.memory_bytes / 2 ** 30, "cell_seconds": limits.cell_seconds},
            "wrong_verdicts": problems,
            "versions": {"nbgrader": __import__("nbgrader").__version__},
            "provenance": provenance(),
        }
        path = local_path("grading")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(blob, indent=1, ensure_ascii=False) + "\n")
        print(f"{args.students} submissions graded in {seconds:.0f} s ({seconds / args.students:.1f} s each, "
              f"{summary.workers} at a time); {len(problems)} wrong verdicts; written to {path}")
        return 1 if problems else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
