"""One ``make grade`` run (aecore.grading.cycle.grade) over Lab 1 and Lab 3 submissions: right ones; a Lab 1 half done
(a named mistake, a renamed function, a lost cell, the other exercises left as the edition's stubs and the
observations unanswered); a Lab 1 of hostile code (an endless loop, a 20 GB allocation, a write outside its folder,
a patched torch); a Lab 3 with a named mistake, a patched check and a read of the instructor's notebook beside
stubs; and invalid JSON. Each exercise gets the expected points and verdict, grades.csv lists them all, no
submission changes another's. (Each graded notebook costs about 13 s of CPU, so the verdict kinds share
submissions.)"""

from __future__ import annotations

import csv
import json

import nbformat
import pytest

from aecore.book.edition import student_source  # the student edition's own stubs
from aecore.config import REPO_ROOT
from aecore.grading import markup
from aecore.grading.cycle import grade
from aecore.grading.sandbox import Limits

pytestmark = pytest.mark.xdist_group("grading")

LAB1, LAB3 = "01_mnist_autoencoder", "03_mnist_vae"
BCE = "F.binary_cross_entropy_with_logits(logits, x, reduction='none')"
ELBO = "\ndef negative_elbo(logits, x, mu, logvar):\n    return bce_per_image(logits, x) + kl_divergence(mu, logvar)\n"


def _with(nb: nbformat.NotebookNode, changes: dict[str, str | None]) -> nbformat.NotebookNode:
    """``nb`` with the solution cells of ``changes`` (grade_id -> new source, or None to delete the cell) changed."""
    out = nbformat.from_dict(json.loads(json.dumps(nb)))
    cells = []
    for cell in out.cells:
        gid = markup.grade_id(cell)
        if gid in changes:
            if changes[gid] is None:
                continue
            cell.source = changes[gid]
        cells.append(cell)
    out.cells = cells
    return out


def _stubbed(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The untouched student edition: every exercise's body the stub, every answer empty."""
    changes = {}
    for cell in nb.cells:
        if markup.is_solution(cell):
            changes[markup.grade_id(cell) or ""] = (student_source(cell.source)
                                                    if cell.cell_type == "code" else "YOUR ANSWER HERE")
    return _with(nb, changes)


def _function(name: str, args: str, body: str, top: str = "") -> str:
    return f"import torch\nfrom torch.nn import functional as F\n\ndef {name}({args}):\n{body}\n{top}"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grading")
    lab1_path, lab3_path = (REPO_ROOT / "notebooks" / f"{lab}.ipynb" for lab in (LAB1, LAB3))
    lab1, lab3 = (nbformat.read(p, as_version=4) for p in (lab1_path, lab3_path))
    outside = tmp / "outside.txt"
    leak = (f"    import aecore, os\n"
            f"    if os.environ.get('PYTHONPATH') or str(aecore.__file__).startswith({str(REPO_ROOT)!r}) "
            f"or os.getcwd().startswith({str(REPO_ROOT)!r}):\n        return torch.zeros(1)\n")
    grid = ("    lo, hi = codes.min(0).values, codes.max(0).values\n"
            "    z1 = torch.linspace(float(lo[0]), float(hi[0]), n)\n"
            "    z2 = torch.linspace(float(hi[1]), float(lo[1]), n)\n"
            "    rows, cols = torch.meshgrid(z2, z1, indexing='ij')\n"
            "    return torch.stack([cols.reshape(-1), rows.reshape(-1)], dim=1)\n")
    submissions = {
        ("alice", LAB1): lab1, ("alice", LAB3): lab3,
        # a named mistake, a renamed function and a lost exercise cell; the rest untouched stubs, no answers
        ("bob", LAB1): _with(_stubbed(lab1), {
            "noisy_input": _function("noisy_input", "x, factor",
                                     "    return (x + factor * torch.rand_like(x)).clamp(0, 1)"),
            "bce_per_image": _function("bce", "logits, x", f"    return {BCE}.flatten(1).sum(1)"),
            "l2_penalty": None}),
        ("mallory", LAB1): _with(lab1, {
            "count_parameters": _function("count_parameters", "model", "    while True:\n        pass"),
            "bce_per_image": _function("bce_per_image", "logits, x",
                                       "    return torch.empty(5 * 2**30, dtype=torch.float32)",  # 20 GB
                                       "bce_per_image(None, None)\n"),
            "noisy_input": _function("noisy_input", "x, factor",
                                     "    return (x + factor * torch.randn_like(x)).clamp(0.0, 1.0)",
                                     f"open({str(outside)!r}, 'w').write('pwned')\n"),
            "grid_over_codes": _function("grid_over_codes", "codes, n", leak + grid),
            "l2_penalty": _function("l2_penalty", "model", "    torch.allclose = lambda *a, **k: True\n"
                                    "    return sum((p * 0).sum() for p in model.parameters())"),
        }),
        # a named mistake, a patched check, a read of the instructor's notebook; the rest stubs, no answers
        ("grace", LAB3): _with(_stubbed(lab3), {
            "kl_divergence": _function(
                "kl_divergence", "mu, logvar",
                "    return 0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).flatten(1).sum(1)", ELBO),
            "reparameterize": _function(
                "reparameterize", "mu, logvar", "    return mu",
                "exercises.check_reparameterize = lambda fn, **kw: print('✓ reparameterize')\n"),
            "median_radius_by_class": _function(
                "median_radius_by_class", "codes, labels, num_classes",
                "    radius = codes.norm(dim=1)\n"
                "    return torch.stack([radius[labels == k].median() for k in range(num_classes)])",
                f"print(open({str(REPO_ROOT / 'notebooks' / (LAB3 + '.ipynb'))!r}).read()[:100])\n")}),
    }
    folder = tmp / "submissions"
    for (student, lab), nb in submissions.items():
        (folder / student).mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, folder / student / f"{lab}.ipynb")
    (folder / "ivan").mkdir()
    (folder / "ivan" / f"{LAB1}.ipynb").write_text('{"cells": [ this is not JSON')
    summary = grade(folder, tmp / "out", [lab1_path, lab3_path], workers=2,
                    keep=tmp / "run", log=lambda s: None,
                    limits=Limits(cell_seconds=20, memory_bytes=6 * 2 ** 30, submission_seconds=600))
    with open(summary.grades, newline="", encoding="utf-8") as fh:
        table = {(r["student"], r["lab"], r["exercise"]): r for r in csv.DictReader(fh)}
    return summary, table, outside


def _row(table, student, lab, exercise):
    row = table[student, lab, exercise]
    return float(row["points"]), row["verdict"]


def test_a_right_submission_gets_every_point(graded):
    _, table, _ = graded
    for lab, exercises in ((LAB1, ["count_parameters", "bce_per_image", "noisy_input", "grid_over_codes",
                                   "l2_penalty"]),
                           (LAB3, ["kl_divergence", "negative_elbo", "reparameterize", "condition_on_label",
                                   "prior_samples", "median_radius_by_class"])):
        for exercise in exercises:
            points, verdict = _row(table, "alice", lab, exercise)
            assert points == 1 and verdict.startswith("✓"), (lab, exercise, verdict)


def test_a_named_mistake_scores_zero_and_is_named(graded):
    _, table, _ = graded
    points, verdict = _row(table, "bob", LAB1, "noisy_input")
    assert points == 0 and "looks like uniform noise (torch.rand_like) instead of Gaussian" in verdict
    points, verdict = _row(table, "grace", LAB3, "kl_divergence")
    assert points == 0 and "opposite sign" in verdict


def test_a_stub_scores_zero_with_not_done(graded):
    _, table, _ = graded
    stubs = {("bob", LAB1, "count_parameters"), ("bob", LAB1, "grid_over_codes"),
             ("grace", LAB3, "condition_on_label"), ("grace", LAB3, "prior_samples")}
    for student, lab, exercise in stubs:
        points, verdict = _row(table, student, lab, exercise)
        assert points == 0 and "NotImplementedError" in verdict, (student, lab, exercise, verdict)
    questions = [row for (student, lab, exercise), row in table.items()
                 if (student, lab) in (("bob", LAB1), ("grace", LAB3)) and exercise.startswith("observation")]
    assert len(questions) == 11 and all(row["verdict"] == "no answer" for row in questions)


def test_hostile_code_scores_zero_for_its_part_only(graded):
    _, table, outside = graded
    points, verdict = _row(table, "mallory", LAB1, "count_parameters")
    assert points == 0 and "time limit of 20 s" in verdict
    points, verdict = _row(table, "mallory", LAB1, "bce_per_image")
    assert points == 0 and "ran out of memory" in verdict
    points, verdict = _row(table, "mallory", LAB1, "noisy_input")
    assert points == 0 and "write outside its folder" in verdict and not outside.exists()
    points, verdict = _row(table, "mallory", LAB1, "grid_over_codes")
    assert points == 1, verdict   # its code saw neither PYTHONPATH, nor the checkout's aecore, nor the checkout
    points, verdict = _row(table, "mallory", LAB1, "l2_penalty")
    assert points == 0 and "tampered" in verdict


def test_a_patched_check_is_caught_by_the_clean_recheck(graded):
    _, table, _ = graded
    points, verdict = _row(table, "grace", LAB3, "reparameterize")
    assert points == 0 and verdict.startswith("the check was tampered with (the exercise cell runs "
                                              "`exercises.check_reparameterize")
    points, verdict = _row(table, "grace", LAB3, "median_radius_by_class")
    assert points == 0 and "read the grader's files" in verdict


def test_broken_notebooks_and_lost_cells_get_a_clear_verdict(graded):
    _, table, _ = graded
    points, verdict = _row(table, "ivan", LAB1, "bce_per_image")
    assert points == 0 and "invalid JSON" in verdict
    points, verdict = _row(table, "bob", LAB1, "bce_per_image")
    assert points == 0 and "not defined" in verdict and "renamed" in verdict
    points, verdict = _row(table, "bob", LAB1, "l2_penalty")
    assert points == 0 and "missing" in verdict


def test_the_report_lists_everyone_with_feedback_and_answer_pages(graded):
    summary, table, _ = graded
    students = {s for s, _, _ in table}
    assert students == {"alice", "bob", "mallory", "grace", "ivan"}
    for student in students:
        text = (summary.feedback / f"{student}.md").read_text()
        assert text.startswith(f"# Feedback for {student}")
    assert (summary.feedback / "alice" / f"{LAB3}.html").is_file()
    page = (summary.answers / LAB3 / "observation-1.html").read_text()
    question = next(c.source for c in nbformat.read(REPO_ROOT / "notebooks" / f"{LAB3}.ipynb", as_version=4).cells
                    if c.get("id") == "cell-06-question")
    assert "alice" in page and "grace" in page and "**Question.**" in question
    assert question.split("**Question.**")[1].split("?")[0].strip() in page
    assert "<em>no answer</em>" in page   # grace's
