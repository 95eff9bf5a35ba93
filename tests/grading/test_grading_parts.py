"""The parts of aecore.grading that need no kernel: reading the markup, finding submissions, taking a student's
solution cells into the release notebook, the definitions the clean re-check runs, verdicts and the answers page."""

from __future__ import annotations

import nbformat
import pytest

from aecore.config import REPO_ROOT
from aecore.grading import markup, report, verdicts
from aecore.grading.submissions import SubmissionsError, collect
from aecore.grading.worker import _definitions, patches, submitted_notebook

LAB3 = "03_mnist_vae"


@pytest.fixture(scope="module")
def lab3():
    return nbformat.read(REPO_ROOT / "notebooks" / f"{LAB3}.ipynb", as_version=4)


def test_the_graded_notebook_keeps_only_what_grading_runs(lab3):
    graded = markup.graded_notebook(lab3)
    code = [c for c in graded.cells if c.cell_type == "code"]
    assert all(markup.runs_when_grading(c) for c in code)
    assert not any("fit_or_load(" in c.source for c in code)          # no training cell
    assert sum(markup.is_grading_setup(c) for c in code) == 1
    tests = markup.tests(graded)
    assert [t.exercise for t in tests][:2] == ["kl_divergence", "negative_elbo"]
    assert tests[0].solution == tests[1].solution == "kl_divergence"   # one exercise cell, two checked functions
    questions = markup.questions(graded)
    assert questions and all(q.question.startswith("> **Question.**") for q in questions)


def test_submissions_are_found_in_each_accepted_layout(tmp_path):
    (tmp_path / "a" / "s1").mkdir(parents=True)
    (tmp_path / "a" / "s1" / f"{LAB3} (1).ipynb").write_text("{}")
    (tmp_path / "a" / "s1" / "notes.ipynb").write_text("{}")
    (tmp_path / "b" / "submitted" / "s2" / LAB3).mkdir(parents=True)
    (tmp_path / "b" / "submitted" / "s2" / LAB3 / f"{LAB3}.ipynb").write_text("{}")
    found, ignored = collect(tmp_path / "a", [LAB3, "03b_dogs_ae_vs_vae"])
    assert [(s.student, s.lab) for s in found] == [("s1", LAB3)] and [p.name for p in ignored] == ["notes.ipynb"]
    found, _ = collect(tmp_path / "b", [LAB3])
    assert [(s.student, s.lab) for s in found] == [("s2", LAB3)]


def test_an_unusable_submissions_folder_says_what_to_fix(tmp_path):
    with pytest.raises(SubmissionsError, match="does not exist"):
        collect(tmp_path / "missing", [LAB3])
    (tmp_path / "s 1").mkdir()
    with pytest.raises(SubmissionsError, match="not usable as a student id"):
        collect(tmp_path, [LAB3])
    (tmp_path / "s 1").rmdir()
    (tmp_path / "s1").mkdir()
    (tmp_path / "s1" / f"{LAB3}.ipynb").write_text("{}")
    (tmp_path / "s1" / f"{LAB3} (2).ipynb").write_text("{}")
    with pytest.raises(SubmissionsError, match="two notebooks"):
        collect(tmp_path, [LAB3])


def test_only_the_students_solution_cells_reach_the_autograded_copy(lab3):
    release = markup.graded_notebook(lab3)
    submission = nbformat.from_dict(nbformat.reads(nbformat.writes(lab3), as_version=4))
    for cell in submission.cells:
        if markup.grade_id(cell) == "reparameterize":
            cell.source = "def reparameterize(mu, logvar):\n    return mu\n"
        if markup.is_test(cell) or markup.is_grading_setup(cell):
            cell.source = "import os; os.system('echo the student changed a locked cell')"
    submission.cells = [c for c in submission.cells if markup.grade_id(c) != "prior_samples"]
    graded, missing = submitted_notebook(release, submission)
    assert missing == ["prior_samples"]
    sources = {markup.grade_id(c) or f"setup{i}": c.source for i, c in enumerate(graded.cells)}
    assert sources["reparameterize"] == "def reparameterize(mu, logvar):\n    return mu\n"
    assert not any("os.system" in s for s in sources.values())   # test and setup cells stay the instructor's


def test_the_recheck_runs_definitions_only():
    source = ("import torch\nEPS = 1e-8\nexercises.check_kl = print\ntorch.allclose = lambda *a: True\n"
              "def kl(mu, logvar):\n    return mu\nprint('side effect')\n")
    kept, functions = _definitions(source)
    assert functions == ["kl"] and "EPS = 1e-08" in kept and "def kl" in kept
    assert "allclose" not in kept and "check_kl" not in kept and "print" not in kept
    assert _definitions("def broken(:\n") == ("", [])
    assert patches(source) == ["exercises.check_kl = print", "torch.allclose = lambda *a: True"]


def test_verdicts_name_what_happened():
    assert verdicts.describe_error("ExerciseMistake", "kl: looks like X", "kl", 60, 2 ** 32) == "kl: looks like X"
    assert "still raises NotImplementedError" in verdicts.describe_error("NotImplementedError", "", "kl", 60, 1)
    assert "renamed" in verdicts.describe_error("NameError", "name 'kl' is not defined", "kl", 60, 1)
    assert "60 s" in verdicts.describe_error("CellTimeoutError", "", "kl", 60, 1)
    assert verdicts.severe("MemoryError", "") and not verdicts.severe("ExerciseMistake", "kl: looks like X")


def test_the_answers_page_shows_html_as_text():
    page = report.answers_page(LAB3, "observation-1", "**Question 1.** Why?", 1,
                               {"s1": "The KL *falls*. <script>alert(1)</script>", "s2": ""})
    assert "<em>falls</em>" in page and "<script>" not in page and "&lt;script&gt;" in page
    assert "<em>no answer</em>" in page and "1 of 2 students answered" in page
