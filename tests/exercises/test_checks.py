"""aecore.exercises: the reference passes its own check; every named mistake, as a student would write it (its
``example``, next to the mistake in its lab's module), is recognised by name; NotImplementedError passes through;
other wrong answers are described without naming a mistake."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from aecore import exercises, lessons
from aecore.exercises import CHECKS, EXERCISES, MISTAKES, ExerciseMistake
from aecore.exercises.framework import preserved


def _pick(codes, n):
    return codes[torch.randint(len(codes), (n,))]


def _rms(z):
    return z.flatten(1).pow(2).mean(1).sqrt().view(-1, *([1] * (z.ndim - 1)))


def _example(lesson, mistake):
    """The named mistake of ``lesson`` as a student would write it (registered with the mistake)."""
    return EXERCISES[lesson].mistakes[mistake].example


PSNR_255 = "data_range=255 on [0, 1] images (values 48.13 dB too high)"
NOT_CLIPPED = "the noise added after clipping, or no clipping (values outside [0, 1])"



MISTAKE_CASES = [(lesson, mistake) for lesson in lessons.__all__ for mistake in MISTAKES[lesson]]


def _zeros_like_reference(lesson):
    """A wrong function with the right output type and shape: zeros."""
    ref = getattr(lessons, lesson)

    def zeros(*args):
        out = ref(*args)
        if isinstance(out, int):
            return 0
        if isinstance(out, tuple):
            return tuple(torch.zeros_like(t) for t in out)
        return torch.zeros_like(out)
    return zeros


def test_registries_cover_every_lesson():
    assert set(CHECKS) == set(lessons.__all__) == set(MISTAKES)
    assert list(lessons.__all__) == list(EXERCISES) and all(getattr(lessons, name) is EXERCISES[name].reference
                                                             for name in EXERCISES)
    for name, exercise in EXERCISES.items():   # each exercise's check is its lab module's check_<name>
        lab = exercises.LAB_MODULES[exercise.lab]
        assert f"check_{name}" in lab.__all__ and CHECKS[name] is getattr(lab, f"check_{name}")
        assert name in lab.__all__ and getattr(lab, name) is exercise.reference
    assert all(len(names) >= 2 and len(set(names)) == len(names) for names in MISTAKES.values())
    # every named mistake comes with its example as a student would write it
    assert all(callable(m.example) for e in EXERCISES.values() for m in e.mistakes.values())
    assert all(set(EXERCISES[k].mistakes) == set(MISTAKES[k]) for k in MISTAKES)


def test_each_lab_module_holds_the_exercises_its_notebook_checks():
    """The lab of an exercise is the notebook that calls its check: notebooks/<NN>_*.ipynb imports
    ``from aecore.exercises import labN as exercises`` and calls ``exercises.check_<name>`` for each of labN's."""
    notebooks = Path(__file__).resolve().parents[2] / "notebooks"
    called: dict[str, set[str]] = {}
    for path in sorted(notebooks.glob("*.ipynb")):
        source = "\n".join("".join(c["source"]) for c in json.loads(path.read_text(encoding="utf-8"))["cells"])
        for lab in re.findall(r"^from aecore\.exercises import (lab\w+) as exercises$", source, re.M):
            called.setdefault(lab, set()).update(re.findall(r"\bexercises\.check_(\w+)\(", source))
    assert called == {lab: {n for n, e in EXERCISES.items() if e.lab == lab} for lab in exercises.LAB_MODULES}


@pytest.mark.parametrize("lesson", lessons.__all__)
def test_reference_passes_its_check(lesson, capsys):
    CHECKS[lesson](getattr(lessons, lesson))
    out = capsys.readouterr().out
    assert out.startswith(f"✓ {lesson}: matches the reference on ") and out.count("\n") == 1


@pytest.mark.parametrize("lesson, mistake", MISTAKE_CASES, ids=[f"{a}-{b[:40]}" for a, b in MISTAKE_CASES])
def test_each_named_mistake_is_recognised(lesson, mistake, capsys):
    with pytest.raises(ExerciseMistake) as info:
        CHECKS[lesson](_example(lesson, mistake))
    message = str(info.value)
    assert message.startswith(f"{lesson}: ") and mistake in message
    others = [m for m in MISTAKES[lesson] if m != mistake and m not in mistake]
    assert not any(m in message for m in others), message
    assert "✓" not in capsys.readouterr().out


@pytest.mark.parametrize("lesson", lessons.__all__)
def test_not_implemented_passes_through(lesson):
    def unwritten(*args):
        raise NotImplementedError("write it")
    with pytest.raises(NotImplementedError, match="^write it$"):
        CHECKS[lesson](unwritten)


@pytest.mark.parametrize("lesson", lessons.__all__)
def test_unrelated_wrong_answer_is_described_without_naming_a_mistake(lesson):
    with pytest.raises(ExerciseMistake) as info:
        CHECKS[lesson](_zeros_like_reference(lesson))
    message = str(info.value)
    assert message.startswith(f"{lesson}: ") and "differ" in message
    assert not any(m in message for m in MISTAKES[lesson]), message


@pytest.mark.parametrize("lesson", ["bce_per_image", "kl_divergence", "negative_elbo", "psnr_per_image"])
def test_a_single_number_is_a_shape_error(lesson):
    ref = getattr(lessons, lesson)
    with pytest.raises(ExerciseMistake, match=r"has shape \(\), expected \(\d+,\).*one value per image"):
        CHECKS[lesson](lambda *a: ref(*a).max())


def test_other_exceptions_are_reported_and_chained():
    def broken(logits, x):
        raise ValueError("oops")
    with pytest.raises(ExerciseMistake, match=r"raised ValueError: oops on test case 1 of 3") as info:
        exercises.lab1.check_bce_per_image(broken)
    assert isinstance(info.value.__cause__, ValueError)


def test_messages_give_the_numbers():
    with pytest.raises(ExerciseMistake, match="784 times smaller"):
        exercises.lab3.check_negative_elbo(
            _example("negative_elbo", "the BCE averaged over the pixels instead of summed"))
    with pytest.raises(ExerciseMistake, match=r"48\.13 dB too high"):
        exercises.lab2.check_psnr_per_image(_example("psnr_per_image", PSNR_255))
    with pytest.raises(ExerciseMistake, match=r"expected -?\d.*, got 0\b"):
        exercises.lab3.check_kl_divergence(_zeros_like_reference("kl_divergence"))


@pytest.mark.parametrize("lesson, fn", [
    ("bce_per_image", lambda lg, x: F.binary_cross_entropy(torch.sigmoid(lg), x, reduction="none").sum(dim=(1, 2, 3))),
    ("code_mean_and_covariance", lambda c: (c.flatten(1).mean(0), torch.cov(c.flatten(1).T))),
    ("median_radius_by_class", lambda c, y, k: torch.stack([c[y == i].norm(dim=1).quantile(0.5) for i in range(k)])),
    ("count_parameters", lambda m: torch.tensor(sum(p.numel() for p in m.parameters() if p.requires_grad))),
    ("reparameterize", lambda mu, lv: mu + torch.sqrt(lv.exp()) * torch.randn(mu.shape)),
])
def test_equivalent_solutions_pass(lesson, fn, capsys):
    CHECKS[lesson](fn)
    assert capsys.readouterr().out.startswith(f"✓ {lesson}")


# Correct, but drawing the noise in another order than the reference (flip(0)): judged by the distribution.
OTHER_DRAWS = {
    "noisy_input": lambda x, f: (x + f * torch.randn_like(x).flip(0)).clamp(0, 1),
    "perturb_codes": lambda c, s: c + s * _rms(c) * torch.randn_like(c).flip(0),
    "latent_noise": lambda z, v: z / _rms(z).clamp_min(1e-4) + v ** 0.5 * torch.randn_like(z).flip(0),
    "reparameterize": lambda mu, lv: mu + (0.5 * lv).exp() * torch.randn_like(mu).flip(0),
    "prior_samples": lambda m, n: torch.sigmoid(m.decode(torch.randn(n, *m.latent_shape).flip(0))),
    "generate_from_codes": lambda m, c, n, s: lessons.generate_from_codes(m, c.flip(0), n, s),
}


@pytest.mark.parametrize("lesson", OTHER_DRAWS)
def test_other_random_numbers_pass_by_distribution(lesson, capsys):
    CHECKS[lesson](OTHER_DRAWS[lesson])
    assert capsys.readouterr().out.startswith(f"✓ {lesson}: draws other random numbers")


@pytest.mark.parametrize("lesson, mistake, fn", [
    ("noisy_input", NOT_CLIPPED, lambda x, f: x + f * torch.randn_like(x).flip(0)),
    ("noisy_input", "uniform noise (torch.rand_like) instead of Gaussian",
     lambda x, f: (x + f * torch.rand_like(x).flip(0)).clamp(0, 1)),
    ("reparameterize", "logvar used as σ (mu + logvar * eps)", lambda mu, lv: mu + lv * torch.randn_like(mu).flip(0)),
    ("prior_samples", "uniform noise (torch.rand) instead of Gaussian codes",
     lambda m, n: torch.sigmoid(m.decode(torch.rand(n, *m.latent_shape).flip(0)))),
    ("generate_from_codes", "noise not scaled by the codes' rms (absolute noise)",
     lambda m, c, n, s: torch.sigmoid(m.decode((p := _pick(c, n)) + s * torch.randn_like(p).flip(0)))),
])
def test_mistakes_with_other_random_numbers_are_recognised_by_distribution(lesson, mistake, fn):
    with pytest.raises(ExerciseMistake, match="on a large random input") as info:
        CHECKS[lesson](fn)
    assert mistake in str(info.value)


def test_checks_leave_the_random_state_and_the_models_alone():
    torch.manual_seed(123)
    state = torch.get_rng_state()
    modes = []

    def meddling(model, n):
        modes.append(model.training)
        model.eval()
        with torch.no_grad():
            for p in model.parameters():
                p.zero_()
        return torch.zeros(n, *model.image_shape)
    with pytest.raises(ExerciseMistake):
        exercises.lab3.check_prior_samples(meddling)
    assert torch.equal(torch.get_rng_state(), state)
    assert modes[:2] == [True, True]  # the second call got the model back in train mode

    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout())
    before = [p.clone() for p in model.parameters()]
    with preserved([model]):
        model.eval()
        with torch.no_grad():
            model[0].weight.add_(1)
    assert model.training and model[1].training
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


@pytest.mark.parametrize("fn", [
    lambda lg, x: F.binary_cross_entropy(lg, x, reduction="none").sum(dim=(1, 2, 3)),   # raises in torch
    lambda lg, x: F.binary_cross_entropy(lg.clamp(1e-6, 1 - 1e-6), x, reduction="none").flatten(1).sum(1),
])
def test_logits_as_probabilities_is_recognised_raising_or_clamped(fn):
    with pytest.raises(ExerciseMistake, match="the logits used as probabilities"):
        exercises.lab1.check_bce_per_image(fn)


def test_a_check_leaves_the_random_state_unchanged():
    torch.manual_seed(7)
    state = torch.get_rng_state()
    for lesson in ["noisy_input", "reparameterize", "generate_from_codes"]:
        CHECKS[lesson](getattr(lessons, lesson))
        assert torch.equal(torch.get_rng_state(), state), lesson
