"""The student package (aecore.book.student_package): what students install holds no unreleased solution, its
checks (the same code, on stored cases) still pass every reference and name every mistake, and later labs use the
student's own kept functions, or the released references.

The package is built once into a temporary folder; its code runs in a separate Python whose path is that folder
(not this checkout), so the test sees what a student sees. The references and the mistakes' examples fed to it
come from this checkout's lab modules, loaded there under other names.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from aecore import objectives
from aecore.book import student_package as sp
from aecore.cache.code_identity import function_identity
from aecore.exercises import EXERCISES, LAB_MODULES, MISTAKES
from aecore.exercises.saved import lab_notebook, lab_title

ROOT = Path(__file__).resolve().parents[2]
LABS = list(LAB_MODULES)

pytestmark = pytest.mark.xdist_group("student_package")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The student package with no lab released, and with Lab 1 released."""
    folder = tmp_path_factory.mktemp("student")
    return {"none": sp.write_package(folder / "none"), "lab1": sp.write_package(folder / "lab1", released=["lab1"])}


def _checkout_labs(folder: Path) -> None:
    """This checkout's lab modules as ``checkout_<lab>`` (references and mistakes' examples), for the built
    package's Python: their imports point at the package, and their checks are recorded, not registered."""
    (folder / "checkout_common.py").write_text(textwrap.dedent('''\
        MISTAKES_OF = {}

        def record(mistakes, **spec):
            def register(check):
                MISTAKES_OF[check.__name__.removeprefix("check_")] = mistakes
                return check
            return register
        '''), encoding="utf-8")
    for lab in LABS:
        text = (ROOT / "aecore" / "exercises" / f"{lab}.py").read_text(encoding="utf-8")
        text = re.sub(r"^from \.(framework|cases) import", r"from aecore.exercises.\1 import", text, flags=re.M)
        text = re.sub(r"^from \.\.(\w+) import", r"from aecore.\1 import", text, flags=re.M)
        text = re.sub(r"^from \.(lab\w+) import", r"from checkout_\1 import", text, flags=re.M)
        text = re.sub(r"(\s)from \.\.(\w+) import", r"\1from aecore.\2 import", text)
        text = text.replace("@exercise(", "@record(").replace("from __future__ import annotations\n",
                                                             "from __future__ import annotations\n\n"
                                                             "from checkout_common import record\n", 1)
        (folder / f"checkout_{lab}.py").write_text(text, encoding="utf-8")


SCRIPT = '''
import contextlib, importlib, inspect, io, json, os, sys
import torch
import aecore
from aecore import lessons, models, objectives
from aecore.cache.code_identity import function_identity
from aecore.exercises import CHECKS, EXERCISES, ExerciseMistake
from aecore.exercises.cases import HiddenCasesMissing
from aecore.exercises.saved import LessonMissing

out = {"file": aecore.__file__, "all": list(lessons.__all__), "lessons": {}, "hidden": {}, "references": {},
       "mistakes": {}}
for name in EXERCISES:
    try:
        out["lessons"][name] = "answered by " + getattr(lessons, name).__module__
    except LessonMissing as error:
        out["lessons"][name] = str(error)
os.environ["AECORE_LESSONS"] = "off"
import checkout_common
for lab in LABS:
    importlib.import_module("checkout_" + lab)
for name, exercise in EXERCISES.items():
    reference = getattr(sys.modules["checkout_" + exercise.lab], name)
    try:
        CHECKS[name](reference, cases="hidden")
        out["hidden"][name] = "ran"
    except HiddenCasesMissing as error:
        out["hidden"][name] = str(error)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        CHECKS[name](reference)
    out["references"][name] = printed.getvalue()
    for mistake, m in checkout_common.MISTAKES_OF[name].items():
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                CHECKS[name](m.example)
            out["mistakes"][name + "|" + mistake] = "passed"
        except ExerciseMistake as error:
            out["mistakes"][name + "|" + mistake] = str(error)
if FLOW:
    os.environ["AECORE_LESSONS"] = FLOW
    try:
        from aecore.lessons import bce_per_image
        out["before"] = "answered by " + bce_per_image.__module__
    except LessonMissing as error:
        out["before"] = str(error)
    import student_lab1
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        aecore.exercises.lab1.check_bce_per_image(student_lab1.bce_per_image)
    out["kept_message"] = printed.getvalue()
    from aecore.lessons import bce_per_image
    out["kept_module"], out["kept_source"] = bce_per_image.__module__, inspect.getsource(bce_per_image)
    torch.manual_seed(0)
    model = models.MLPAutoencoder(image_shape=(1, 4, 4), hidden=(8,), latent_dim=2)
    x = torch.rand(3, 1, 4, 4)
    out["objective_uses_it"] = bool(torch.equal(objectives.reconstruction_bce(model, x, None),
                                                student_lab1.bce_per_image(model(x), x)))
    out["objective_identity"] = function_identity(objectives.reconstruction_bce)
    import student_lab3
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        aecore.exercises.lab3.check_negative_elbo(student_lab3.negative_elbo)
    out["lab3_check"] = printed.getvalue()
    out["lab3_bce_module"] = student_lab3.bce_per_image.__module__
print("RESULT " + json.dumps(out))
'''

STUDENT_LAB1 = '''
from torch.nn import functional as F


def bce_per_image(logits, x):
    per_pixel = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    return per_pixel.sum(dim=tuple(range(1, x.ndim)))
'''

STUDENT_LAB3 = '''
from aecore.lessons import bce_per_image


def kl_divergence(mu, logvar):
    return (0.5 * (mu ** 2 + logvar.exp() - 1 - logvar)).flatten(1).sum(1)


def negative_elbo(logits, x, mu, logvar):
    return bce_per_image(logits, x) + kl_divergence(mu, logvar)
'''


def _run(package: Path, helpers: Path, flow: Path | None) -> dict:
    """SCRIPT in a Python whose path is the built ``package`` and the ``helpers`` folder (not this checkout)."""
    script = f"LABS = {LABS!r}\nFLOW = {str(flow) if flow else ''!r}\n" + SCRIPT
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AECORE_LESSONS")}
    env.update(PYTHONPATH=f"{package}{os.pathsep}{helpers}", PYTHONDONTWRITEBYTECODE="1",
               AECORE_LESSONS=str(helpers / "nothing-kept"))
    result = subprocess.run([sys.executable, "-c", script], cwd=helpers, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    line = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")][-1]
    return json.loads(line.removeprefix("RESULT "))


@pytest.fixture(scope="module")
def seen(built, tmp_path_factory):
    """What the two packages' Python saw (see SCRIPT)."""
    helpers = tmp_path_factory.mktemp("helpers")
    _checkout_labs(helpers)
    (helpers / "student_lab1.py").write_text(STUDENT_LAB1, encoding="utf-8")
    (helpers / "student_lab3.py").write_text(STUDENT_LAB3, encoding="utf-8")
    return {"none": _run(built["none"], helpers, helpers / "kept"),
            "lab1": _run(built["lab1"], helpers, None)}


def test_the_package_is_an_installable_tree_of_its_own(built, seen):
    tree = built["none"]
    assert (tree / "pyproject.toml").is_file() and '"aecore.exercises.stored" = ["*.pt"]' in \
        (tree / "pyproject.toml").read_text(encoding="utf-8")
    assert json.loads((tree / "build.json").read_text(encoding="utf-8"))["released"] == []
    assert seen["none"]["file"] == str(tree / "aecore" / "__init__.py")  # the package's aecore, not the checkout's
    assert sorted(p.name for p in (tree / "aecore" / "exercises" / "stored").glob("*.pt")) == \
        sorted(f"{lab}.pt" for lab in LABS)  # no hidden cases in what students install
    assert not any((tree / "aecore" / p).exists() for p in sp.INSTRUCTOR_ONLY)


def test_no_unreleased_reference_or_mistake_code_is_in_the_package(built, tmp_path):
    tree = built["none"]
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "aecore")], check=True)  # bytecode too
    assert list(tree.rglob("*.pyc"))
    assert sp.leaks(tree, LABS) == []
    for lab in LABS:
        text = (tree / "aecore" / "exercises" / f"{lab}.py").read_text(encoding="utf-8")
        defined = set(re.findall(r"^def (\w+)\(", text, re.M))
        assert not defined & {n for n, e in EXERCISES.items() if e.lab == lab}, lab
        assert "example=" not in text and "answer=" not in text and "inputs=" not in text, lab
    # the search itself finds what it looks for: each reference in the checkout's own lab modules
    found = " ".join(sp.leaks(ROOT / "aecore" / "exercises", LABS))
    assert all(f": {name} (" in found for name in EXERCISES)
    assert all(f": {lab}: named mistakes (" in found for lab in LABS)


def test_aecore_lessons_gives_no_answer_only_a_clear_error(seen):
    result = seen["none"]
    assert result["all"] == []
    for name, exercise in EXERCISES.items():
        message = result["lessons"][name]
        assert message.startswith(f"{name}: finish exercise {name} of {lab_title(exercise.lab)} first (notebook "
                                  f"{lab_notebook(exercise.lab)})"), message
        assert f"{exercise.lab}.check_{name}({name})" in message


def test_the_package_checks_pass_every_reference_and_name_every_mistake(seen):
    result = seen["none"]
    for name in EXERCISES:
        assert result["references"][name].startswith(f"✓ {name}: "), result["references"][name]
        assert "hidden cases" in result["hidden"][name] and "grading build" in result["hidden"][name]
        for mistake in MISTAKES[name]:
            message = result["mistakes"][f"{name}|{mistake}"]
            assert message.startswith(f"{name}: ") and mistake in message, (name, mistake, message)


def test_a_later_lab_uses_the_students_kept_function_until_the_lab_is_released(seen):
    result = seen["none"]
    assert result["before"].startswith("bce_per_image: finish exercise bce_per_image of Lab 1 first (notebook "
                                       "01_mnist_autoencoder)")
    assert result["kept_message"].startswith("✓ bce_per_image") and "kept for later labs" in result["kept_message"]
    assert result["kept_module"] == "aecore_kept" and "per_pixel.sum(dim=tuple(range(1, x.ndim)))" in \
        result["kept_source"]
    assert result["objective_uses_it"]  # aecore.objectives (Lab 3's AE) trains with the student's BCE
    assert result["objective_identity"] != function_identity(objectives.reconstruction_bce)  # its own cache key
    assert result["lab3_check"].startswith("✓ negative_elbo") and result["lab3_bce_module"] == "aecore_kept"
    released = seen["lab1"]
    assert released["lessons"]["bce_per_image"] == "answered by aecore.exercises.lab1"  # the released reference
    assert released["lessons"]["kl_divergence"].startswith("kl_divergence: finish exercise kl_divergence of Lab 3")
    assert all(released["references"][name].startswith("✓") for name in EXERCISES)


def test_releasing_a_lab_keeps_only_its_solutions(built):
    tree = built["lab1"]
    assert sp.leaks(tree, [lab for lab in LABS if lab != "lab1"]) == []
    assert "bce_per_image" in " ".join(sp.leaks(tree, ["lab1"]))
    assert json.loads((tree / "build.json").read_text(encoding="utf-8"))["released"] == ["lab1"]


def test_stored_cases_that_no_longer_match_the_references_are_found(built, monkeypatch):
    from aecore.exercises import cases

    assert sp.stale(built["none"]) == []
    exercise = EXERCISES["kl_divergence"]
    monkeypatch.setitem(EXERCISES, "kl_divergence", exercise._replace(reference=lambda mu, logvar: -exercise.reference(
        mu, logvar)))
    cases.forget("kl_divergence")
    try:
        assert sp.stale(built["none"]) == ["lab3 visible: kl_divergence"]
    finally:
        cases.forget("kl_divergence")


def test_release_names_and_bad_settings(tmp_path):
    assert sp.resolve_labs(["01_mnist_autoencoder", "Lab 3b", "lab1"]) == ["lab1", "lab3b"]
    with pytest.raises(sp.BuildError, match=r"unknown lab\(s\) \['lab9'\].*lab1, lab2"):
        sp.resolve_labs(["lab9"])
    assert sp.released_setting(ROOT / "_config.yml") == []  # none released by default
    config = tmp_path / "_config.yml"
    config.write_text("aecore:\n  released_solutions: lab1\n", encoding="utf-8")
    with pytest.raises(sp.BuildError, match="must be a list"):
        sp.released_setting(config)
    with pytest.raises(sp.BuildError, match="inside the checkout's aecore"):
        sp.write_package(ROOT / "aecore" / "student")


def test_a_check_that_still_uses_a_removed_reference_stops_the_build():
    text = (ROOT / "aecore" / "exercises" / "lab3b.py").read_text(encoding="utf-8")
    broken = text.replace('check_values("gaussian_negative_elbo", fn, cases, _GAUSS)',
                          'gaussian_negative_elbo(*cases.cases[0].args)\n    check_values("gaussian_negative_elbo", '
                          'fn, cases, _GAUSS)')
    assert broken != text
    with pytest.raises(sp.BuildError, match="lab3b.py still uses gaussian_negative_elbo"):
        sp.strip_labs({"lab3b": broken}, [])


def test_torch_can_read_the_stored_cases(built):
    stored = torch.load(built["none"] / "aecore" / "exercises" / "stored" / "lab1.pt", weights_only=False)
    assert set(stored) == {n for n, e in EXERCISES.items() if e.lab == "lab1"}
