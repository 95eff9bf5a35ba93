"""aecore.checks: the reference passes its own check; every named mistake, written here as a student would
write it, is recognised by name; NotImplementedError passes through; other wrong answers are described
without naming a mistake."""

from __future__ import annotations

import math

import pytest
import torch
from pytorch_msssim import ssim
from torch import nn
from torch.nn import functional as F

from aecore import checks, lessons
from aecore.checks import CHECKS, MISTAKES, ExerciseMistake


def _pc(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Per-code values (N,) shaped to broadcast against codes (N, ...)."""
    return values.view(-1, *([1] * (like.ndim - 1)))


def _bce(logits, x):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1)


def _kl(mu, lv):
    return -0.5 * (1 + lv - mu ** 2 - lv.exp()).flatten(1).sum(1)


def _kl_sigma(mu, lv):
    return -0.5 * (1 + torch.log(lv ** 2) - mu ** 2 - lv ** 2).flatten(1).sum(1)


def _grid(codes, n, *, ascending=False, swap=False, arange=False, column_major=False):
    lo, hi = codes.min(0).values, codes.max(0).values
    if arange:
        z1 = lo[0] + (hi[0] - lo[0]) * torch.arange(n) / n
        z2 = (lo[1] + (hi[1] - lo[1]) * torch.arange(n) / n).flip(0)
    else:
        z1 = torch.linspace(float(lo[0]), float(hi[0]), n)
        z2 = torch.linspace(float(lo[1]), float(hi[1]), n)
        z2 = z2 if ascending else z2.flip(0)
    if column_major:
        return torch.tensor([[float(a), float(b)] for a in z1 for b in z2])
    points = [[float(b), float(a)] if swap else [float(a), float(b)] for b in z2 for a in z1]
    return torch.tensor(points)


def _mse_ssim(logits, x, w, *, plus=False, summed=False, logits_only=False, batch=False):
    image = logits if logits_only else torch.sigmoid(logits)
    se = (image - x) ** 2
    mse = se.sum(dim=(1, 2, 3)) if summed else se.mean(dim=(1, 2, 3))
    s = ssim(image, x, data_range=1.0) if batch else ssim(image, x, data_range=1.0, size_average=False)
    return mse + w * (s if plus else 1 - s)


def _mse(xh, x):
    return ((xh - x) ** 2).flatten(1).mean(1)


def _gauss(lg, x, mu, lv, s, *, den=None, mean=False, kl=True, raw=False):
    se = ((lg if raw else torch.sigmoid(lg)) - x) ** 2
    se = se.flatten(1).mean(1) if mean else se.flatten(1).sum(1)
    return se / (2 * s * s if den is None else den) + (_kl(mu, lv) if kl else 0)


def _median_radius(codes, labels, k, *, stat="median", squared=False):
    r = (codes ** 2).sum(1) if squared else torch.sqrt((codes ** 2).sum(1))
    return torch.stack([getattr(r[labels == c], stat)() for c in range(k)])


def _pick(codes, n):
    return codes[torch.randint(len(codes), (n,))]


def _rms(z):
    return _pc(z.flatten(1).pow(2).mean(1).sqrt(), z)


PSNR_255 = "data_range=255 on [0, 1] images (values 48.13 dB too high)"
NOT_CLIPPED = "the noise added after clipping, or no clipping (values outside [0, 1])"

# Each named mistake, written the way a student would write it.
WRONG = {
    "count_parameters": {
        "the biases left out": lambda m: sum(p.numel() for n, p in m.named_parameters() if "bias" not in n),
        "the number of parameter tensors instead of the numbers in them": lambda m: len(list(m.parameters())),
        "frozen parameters counted (requires_grad=False)": lambda m: sum(p.numel() for p in m.parameters()),
    },
    "bce_per_image": {
        "the BCE averaged over the pixels instead of summed": lambda lg, x: _bce(lg, x).mean(1),
        "the default reduction='mean' (one number averaged over every pixel of the batch)":
            lambda lg, x: F.binary_cross_entropy_with_logits(lg, x),
        checks._ONE_NUMBER: lambda lg, x: F.binary_cross_entropy_with_logits(lg, x, reduction="sum"),
        "sigmoid applied before binary_cross_entropy_with_logits (the sigmoid applied twice)":
            lambda lg, x: _bce(torch.sigmoid(lg), x).sum(1),
        "the logits used as probabilities":
            lambda lg, x: F.binary_cross_entropy(lg.clamp(0, 1), x, reduction="none").sum(dim=(1, 2, 3)),
    },
    "noisy_input": {
        NOT_CLIPPED: lambda x, f: x.clamp(0, 1) + f * torch.randn_like(x),
        "factor used as the variance (noise std sqrt(factor))":
            lambda x, f: torch.clamp(x + math.sqrt(f) * torch.randn(x.shape), 0, 1),
        "uniform noise (torch.rand_like) instead of Gaussian": lambda x, f: (x + f * torch.rand_like(x)).clamp(0, 1),
    },
    "grid_over_codes": {
        "rows ordered bottom-up (smallest z2 first)": lambda c, n: _grid(c, n, ascending=True),
        "the coordinates swapped ((z2, z1) instead of (z1, z2))": lambda c, n: _grid(c, n, swap=True),
        "an arange-style grid that misses the max": lambda c, n: _grid(c, n, arange=True),
        "column-major order (down each column first)": lambda c, n: _grid(c, n, column_major=True),
    },
    "l2_penalty": {
        "the biases (and norm scales) included": lambda m: sum((p ** 2).sum() for p in m.parameters()),
        "the norms instead of the squared norms": lambda m: sum(torch.norm(p) for p in m.parameters() if p.dim() > 1),
        "the squares averaged instead of summed": lambda m: sum((p ** 2).mean() for p in m.parameters() if p.dim() > 1),
        "the result detached from the graph (not differentiable)":
            lambda m: sum((p ** 2).sum() for p in m.parameters() if p.dim() > 1).item(),
    },
    "mse_ssim_per_image": {
        "SSIM added instead of (1 - SSIM)": lambda lg, x, w: _mse_ssim(lg, x, w, plus=True),
        "the squared error summed over the pixels instead of averaged":
            lambda lg, x, w: _mse_ssim(lg, x, w, summed=True),
        "computed on the logits instead of sigmoid(logits)": lambda lg, x, w: _mse_ssim(lg, x, w, logits_only=True),
        "one SSIM for the whole batch (size_average=True)": lambda lg, x, w: _mse_ssim(lg, x, w, batch=True),
        checks._ONE_NUMBER: lambda lg, x, w: _mse_ssim(lg, x, w).mean(),
    },
    "psnr_per_image": {
        PSNR_255: lambda xh, x: 10 * torch.log10(255 ** 2 / _mse(xh, x)),
        "the PSNR of the whole batch's MSE (one number) instead of one per image":
            lambda xh, x: 10 * torch.log10(1 / F.mse_loss(xh, x)),
        "20 log10 and 10 log10 mixed up (MSE and RMSE confused)": lambda xh, x: 20 * torch.log10(1 / _mse(xh, x)),
        "the sign flipped (log10 of the MSE instead of 1 / MSE)": lambda xh, x: 10 * torch.log10(_mse(xh, x)),
        checks._ONE_NUMBER: lambda xh, x: (10 * torch.log10(1 / _mse(xh, x))).mean(),
    },
    "code_mean_and_covariance": {
        "the mean over the wrong axis (one mean per code instead of one per dimension)":
            lambda c: (c.flatten(1).mean(1), torch.cov(c.flatten(1).T)),
        "the codes not flattened to (N, D)": lambda c: (c.mean(0), torch.cov(c.flatten(1).T)),
        "codes not centred (the second moment instead of the covariance)":
            lambda c: (c.flatten(1).mean(0), c.flatten(1).T @ c.flatten(1) / len(c)),
        "the covariance over the wrong axis (N x N instead of D x D)":
            lambda c: (c.flatten(1).mean(0), torch.cov(c.flatten(1))),
    },
    "perturb_codes": {
        "noise not scaled to the code's rms (absolute noise)": lambda c, s: c + s * torch.randn_like(c),
        "one rms for the whole batch instead of one per code":
            lambda c, s: c + s * torch.sqrt(torch.mean(c ** 2)) * torch.randn_like(c),
        "the mean square used instead of the rms (variance for standard deviation)":
            lambda c, s: c + s * _pc(c.flatten(1).pow(2).mean(1), c) * torch.randn_like(c),
        "each code's standard deviation used instead of its rms":
            lambda c, s: c + s * _pc(c.flatten(1).std(1), c) * torch.randn_like(c),
    },
    "power_normalize": {
        "normalised over the whole batch instead of each code": lambda z: z / torch.sqrt(torch.mean(z ** 2)),
        "normalised to unit norm (sum of squares 1) instead of unit mean square":
            lambda z: z / _pc(z.flatten(1).norm(dim=1), z),
        "divided by the mean square instead of its square root": lambda z: z / _pc(z.flatten(1).pow(2).mean(1), z),
    },
    "latent_noise": {
        "σ used where σ² was asked (noise std = variance)":
            lambda z, v: z / _rms(z) + v * torch.randn_like(z),
        "noise added before normalising": lambda z, v: (y := z + math.sqrt(v) * torch.randn_like(z)) / _rms(y),
        "the codes not power-normalised": lambda z, v: z + v ** 0.5 * torch.randn_like(z),
        "normalised over the whole batch instead of each code":
            lambda z, v: z / z.pow(2).mean().sqrt() + v ** 0.5 * torch.randn_like(z),
    },
    "reparameterize": {
        "logvar used as σ (mu + logvar * eps)": lambda mu, lv: mu + lv * torch.randn_like(mu),
        "the variance exp(logvar) used as σ (the 1/2 is missing)": lambda mu, lv: mu + lv.exp() * torch.randn_like(lv),
        "no noise (returns mu)": lambda mu, lv: mu,
        "not differentiable (no gradient reaches mu and logvar)": lambda mu, lv: torch.normal(mu, (0.5 * lv).exp()),
    },
    "kl_divergence": {
        "the KL with the wrong sign": lambda mu, lv: 0.5 * (1 + lv - mu ** 2 - lv.exp()).flatten(1).sum(1),
        "the KL summed over the batch (a single number) instead of one value per sample":
            lambda mu, lv: -0.5 * torch.sum(1 + lv - mu ** 2 - lv.exp()),
        "the KL averaged over the latent dimensions instead of summed":
            lambda mu, lv: -0.5 * (1 + lv - mu ** 2 - lv.exp()).flatten(1).mean(1),
        "the factor 1/2 left out": lambda mu, lv: -(1 + lv - mu ** 2 - lv.exp()).flatten(1).sum(1),
        "logvar used as σ (log-variance confused with the standard deviation)": _kl_sigma,
    },
    "negative_elbo": {
        "the BCE averaged over the pixels instead of summed": lambda lg, x, mu, lv: _bce(lg, x).mean(1) + _kl(mu, lv),
        "the KL with the wrong sign": lambda lg, x, mu, lv: _bce(lg, x).sum(1) - _kl(mu, lv),
        "the KL summed over the batch (added to every image)":
            lambda lg, x, mu, lv: _bce(lg, x).sum(1) + _kl(mu, lv).sum(),
        "the KL term left out": lambda lg, x, mu, lv: _bce(lg, x).sum(1),
        "logvar used as σ in the KL": lambda lg, x, mu, lv: _bce(lg, x).sum(1) + _kl_sigma(mu, lv),
        checks._ONE_NUMBER: lambda lg, x, mu, lv: (_bce(lg, x).sum(1) + _kl(mu, lv)).mean(),
    },
    "condition_on_label": {
        "the raw label appended instead of its one-hot code": lambda h, y, k: torch.cat([h, y.unsqueeze(1).float()], 1),
        "the one-hot code put before h instead of after it":
            lambda h, y, k: torch.cat([F.one_hot(y, k).to(h.dtype), h], dim=1),
        "the result not in h's dtype": lambda h, y, k: torch.cat([h.float(), F.one_hot(y, k).float()], dim=1),
        "F.one_hot called without num_classes (its width then depends on the batch)":
            lambda h, y, k: torch.cat([h, F.one_hot(y).to(h.dtype)], dim=1),
    },
    "prior_samples": {
        "logits returned instead of images (no sigmoid)": lambda m, n: m.decode(torch.randn(n, *m.latent_shape)),
        "uniform noise (torch.rand) instead of Gaussian codes":
            lambda m, n: torch.sigmoid(m.decode(torch.rand(n, *m.latent_shape))),
    },
    "median_radius_by_class": {
        "the mean radius instead of the median": lambda c, y, k: _median_radius(c, y, k, stat="mean"),
        "the squared distance (no square root)": lambda c, y, k: _median_radius(c, y, k, squared=True),
        "the median over all the codes instead of each class's": lambda c, y, k: c.norm(dim=1).median().repeat(k),
        "the distance from the codes' mean instead of the origin":
            lambda c, y, k: _median_radius(c - c.mean(0), y, k),
    },
    "gaussian_negative_elbo": {
        "σ used where σ² was asked (the squared error divided by 2σ)":
            lambda lg, x, mu, lv, s: _gauss(lg, x, mu, lv, s, den=2 * s),
        "the squared error divided by σ² instead of 2σ²":
            lambda lg, x, mu, lv, s: _gauss(lg, x, mu, lv, s, den=s ** 2),
        "the squared error averaged over the pixels instead of summed":
            lambda lg, x, mu, lv, s: _gauss(lg, x, mu, lv, s, mean=True),
        "the KL term left out": lambda lg, x, mu, lv, s: _gauss(lg, x, mu, lv, s, kl=False),
        "the squared error computed on the logits instead of sigmoid(logits)":
            lambda lg, x, mu, lv, s: _gauss(lg, x, mu, lv, s, raw=True),
        checks._ONE_NUMBER: lambda lg, x, mu, lv, s: _gauss(lg, x, mu, lv, s).sum(),
    },
    "generate_from_codes": {
        "noise not scaled by the codes' rms (absolute noise)":
            lambda m, c, n, s: torch.sigmoid(m.decode((p := _pick(c, n)) + s * torch.randn_like(p))),
        "logits returned instead of images (no sigmoid)":
            lambda m, c, n, s: m.decode(lessons.perturb_codes(_pick(c, n), s)),
        "the codes decoded without perturbing them": lambda m, c, n, s: torch.sigmoid(m.decode(_pick(c, n))),
    },
}

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
    assert all(f"check_{name}" in checks.__all__ and CHECKS[name] is getattr(checks, f"check_{name}")
               for name in CHECKS)
    assert all(len(names) >= 2 and len(set(names)) == len(names) for names in MISTAKES.values())
    assert set(WRONG) == set(MISTAKES) and all(set(WRONG[k]) == set(MISTAKES[k]) for k in MISTAKES)


@pytest.mark.parametrize("lesson", lessons.__all__)
def test_reference_passes_its_check(lesson, capsys):
    CHECKS[lesson](getattr(lessons, lesson))
    out = capsys.readouterr().out
    assert out.startswith(f"✓ {lesson}: matches the reference on ") and out.count("\n") == 1


@pytest.mark.parametrize("lesson, mistake", MISTAKE_CASES, ids=[f"{a}-{b[:40]}" for a, b in MISTAKE_CASES])
def test_each_named_mistake_is_recognised(lesson, mistake, capsys):
    with pytest.raises(ExerciseMistake) as info:
        CHECKS[lesson](WRONG[lesson][mistake])
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
        checks.check_bce_per_image(broken)
    assert isinstance(info.value.__cause__, ValueError)


def test_messages_give_the_numbers():
    with pytest.raises(ExerciseMistake, match="784 times smaller"):
        checks.check_negative_elbo(WRONG["negative_elbo"]["the BCE averaged over the pixels instead of summed"])
    with pytest.raises(ExerciseMistake, match=r"48\.13 dB too high"):
        checks.check_psnr_per_image(WRONG["psnr_per_image"][PSNR_255])
    with pytest.raises(ExerciseMistake, match=r"expected -?\d.*, got 0\b"):
        checks.check_kl_divergence(_zeros_like_reference("kl_divergence"))


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
        checks.check_prior_samples(meddling)
    assert torch.equal(torch.get_rng_state(), state)
    assert modes[:2] == [True, True]  # the second call got the model back in train mode

    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout())
    before = [p.clone() for p in model.parameters()]
    with checks._preserved([model]):
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
        checks.check_bce_per_image(fn)


def test_a_check_leaves_the_random_state_unchanged():
    torch.manual_seed(7)
    state = torch.get_rng_state()
    for lesson in ["noisy_input", "reparameterize", "generate_from_codes"]:
        CHECKS[lesson](getattr(lessons, lesson))
        assert torch.equal(torch.get_rng_state(), state), lesson
