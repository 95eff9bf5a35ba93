"""The exercises' case sets (visible and hidden, computed from the references here, stored in a build) and the
student's kept functions (aecore.exercises.saved) that later labs import from aecore.lessons."""

from __future__ import annotations

import textwrap

import pytest
import torch

from aecore import lessons
from aecore.book.student_package import _same
from aecore.exercises import CHECKS, EXERCISES, ExerciseMistake, cases, saved


def test_the_checkout_computes_its_cases_and_lessons_are_the_references():
    assert not cases.is_stored()
    assert lessons.__all__ == list(EXERCISES)
    assert all(getattr(lessons, name) is e.reference for name, e in EXERCISES.items())
    with pytest.raises(AttributeError, match="no attribute 'no_such_exercise'"):
        lessons.no_such_exercise  # noqa: B018


@pytest.mark.parametrize("name", list(EXERCISES))
def test_the_hidden_cases_are_other_inputs_that_the_reference_passes(name, capsys):
    visible, hidden = cases.case_set(name), cases.case_set(name, "hidden")
    assert len(hidden.cases) == len(visible.cases) and hidden.params == visible.params
    assert not _same([c.args for c in hidden.cases], [c.args for c in visible.cases])
    CHECKS[name](EXERCISES[name].reference, cases="hidden")
    assert capsys.readouterr().out.startswith(f"✓ {name}: matches the reference on {len(hidden.cases)} hidden ")
    CHECKS[name](EXERCISES[name].reference)
    assert capsys.readouterr().out.startswith(f"✓ {name}: matches the reference on {len(visible.cases)} test cases")


@pytest.mark.parametrize("name, mistake", [("bce_per_image", "the BCE averaged over the pixels instead of summed"),
                                           ("kl_divergence", "the KL with the wrong sign"),
                                           ("noisy_input", "uniform noise (torch.rand_like) instead of Gaussian")])
def test_the_hidden_cases_name_the_mistakes_too(name, mistake):
    with pytest.raises(ExerciseMistake, match="looks like " + mistake.replace("(", r"\(").replace(")", r"\)")):
        CHECKS[name](EXERCISES[name].mistakes[mistake].example, cases="hidden")


def test_an_unknown_case_set_is_refused():
    with pytest.raises(ValueError, match=r"cases='secret': use one of \('visible', 'hidden'\)"):
        CHECKS["kl_divergence"](EXERCISES["kl_divergence"].reference, cases="secret")


def test_stored_cases_are_the_computed_ones(tmp_path):
    written = cases.write_stored(tmp_path, ["lab3b"], hidden=True)
    assert [p.name for p in written] == ["lab3b.pt", "lab3b.hidden.pt"]
    for path, which in zip(written, cases.WHICH):
        stored = torch.load(path, weights_only=False)
        assert _same(stored["gaussian_negative_elbo"], cases.compute("gaussian_negative_elbo", which))


STUDENT = '''
import math
import torch
from torch.nn import functional as F
from aecore.lessons import kl_divergence

SCALE = 0.5
NOISE = torch.zeros(1)


def _squared(t):
    return t.pow(2)


def power_normalize(z):
    return z / _squared(z).flatten(1).mean(1).clamp_min(1e-8).sqrt().view(-1, *([1] * (z.ndim - 1)))


def elbo_like(logits, x, mu, logvar):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1) + kl_divergence(mu, logvar)


def uses_a_tensor(z):
    return z + NOISE


def outer(factor):
    def inner(z):
        return z * factor * SCALE * math.pi
    return inner
'''


@pytest.fixture
def student(tmp_path, monkeypatch):
    """A student's functions in a module of their own (as a notebook's cells: source readable, globals of theirs)."""
    (tmp_path / "student_cells.py").write_text(textwrap.dedent(STUDENT), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("AECORE_LESSONS", str(tmp_path / "kept"))
    import student_cells
    return student_cells


def test_a_kept_function_brings_its_imports_and_helpers(student, capsys):
    text = saved.function_source("power_normalize", student.power_normalize)
    assert "def _squared(t):" in text and "def power_normalize(z):" in text
    compile(text, "kept", "exec")
    text = saved.function_source("negative_elbo", student.elbo_like.__globals__["elbo_like"])
    assert "import torch.nn.functional as F" in text and "from aecore.lessons import kl_divergence" in text
    assert text.endswith("\n\nnegative_elbo = elbo_like\n")  # kept under the exercise's name


def test_keep_then_lesson_gives_the_students_function(student, capsys, tmp_path):
    path = saved.keep("power_normalize", student.power_normalize)
    assert path == tmp_path / "kept" / "power_normalize.py"
    assert capsys.readouterr().out == f"  kept for later labs: {path}\n"
    kept = saved.lesson("power_normalize")
    z = torch.randn(3, 2, 2)
    assert torch.equal(kept(z), student.power_normalize(z)) and kept.__module__ == "aecore_kept"
    assert "# power_normalize: your function from Lab 2 (notebook 02_dogs_conv_autoencoder)" in path.read_text(
        encoding="utf-8")
    assert saved.lesson("power_normalize") is kept  # loaded once while the file is unchanged


@pytest.mark.parametrize("fn, why", [(lambda z: z, "is a lambda: write it with def"),
                                     ("outer", "uses variables of an enclosing function"),
                                     ("uses_a_tensor", "uses NOISE, a Tensor of the notebook")])
def test_what_cannot_be_kept_is_said_and_the_check_still_passes(student, fn, why, capsys):
    fn = student.outer(2) if fn == "outer" else getattr(student, fn) if isinstance(fn, str) else fn
    with pytest.raises(saved.CannotKeep, match=why):
        saved.function_source("power_normalize", fn)
    assert saved.keep("power_normalize", fn) is None
    assert capsys.readouterr().out.startswith("  (not kept for later labs: ")


def test_a_missing_function_says_which_exercise_to_finish(student, monkeypatch):
    with pytest.raises(saved.LessonMissing, match=r"^bce_per_image: finish exercise bce_per_image of Lab 1 first "
                                                  r"\(notebook 01_mnist_autoencoder\): when its check passes"):
        saved.lesson("bce_per_image")
    monkeypatch.setenv("AECORE_LESSONS", "off")
    with pytest.raises(saved.LessonMissing, match=r"keeping your functions is off here \(AECORE_LESSONS=off\)"):
        saved.lesson("bce_per_image")
    assert saved.keep("bce_per_image", student.power_normalize) is None


def test_a_broken_kept_file_is_reported(student, tmp_path):
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "kl_divergence.py").write_text("def kl_divergence(mu, logvar:\n", encoding="utf-8")
    with pytest.raises(saved.LessonMissing, match=r"does not load: SyntaxError"):
        saved.lesson("kl_divergence")
