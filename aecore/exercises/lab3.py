"""Lab 3's exercises (notebooks/03_mnist_vae.ipynb): each one block of its reference implementation, its
typical mistakes and its check, registered by :func:`~aecore.exercises.framework.exercise`.

In the notebook: ``from aecore.exercises import lab3 as exercises``, then
``exercises.check_kl_divergence(kl_divergence)`` after the cell that writes it. The lab takes Lab 1's
:func:`~aecore.exercises.lab1.bce_per_image`; Lab 3b imports :func:`kl_divergence` and
:func:`reparameterize` from here.

Shapes: images are (N, C, H, W) in [0, 1]; decoder outputs are **logits**; codes are (N, D) with the batch
first; per-image values are (N,). Random functions draw from torch's global generator.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from ..utils import eval_mode
from .cases import CaseSet
from .framework import (
    ONE_NUMBER,
    ExerciseMistake,
    Mistake,
    call_student,
    check_random,
    check_values,
    compare,
    describe_case,
    exercise,
    one_number,
    report_match,
    share_outside_01,
)
from .lab1 import _bce_none, _student_bce, bce_per_image  # Lab 1's BCE and its mistakes' building blocks

__all__ = ["reparameterize", "check_reparameterize", "kl_divergence", "check_kl_divergence", "negative_elbo",
           "check_negative_elbo", "condition_on_label", "check_condition_on_label", "prior_samples",
           "check_prior_samples", "median_radius_by_class", "check_median_radius_by_class"]


# ----------------------------------------------------------------------------- reparameterize

def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """A differentiable sample z ~ N(mu, exp(logvar)): ``mu + exp(logvar / 2) * eps``, eps ~ N(0, I)."""
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


_REPARAM = {
    "logvar used as σ (mu + logvar * eps)": Mistake(
        "logvar is log(σ²): σ = exp(logvar / 2).",
        lambda mu, lv: mu + lv * torch.randn_like(mu),
        example=lambda mu, lv: mu + lv * torch.randn_like(mu)),
    "the variance exp(logvar) used as σ (the 1/2 is missing)": Mistake(
        "exp(logvar) is the variance σ²; the standard deviation is exp(0.5 * logvar).",
        lambda mu, lv: mu + lv.exp() * torch.randn_like(mu),
        example=lambda mu, lv: mu + lv.exp() * torch.randn_like(lv)),
    "no noise (returns mu)": Mistake(
        "Add noise: mu + exp(0.5 * logvar) * torch.randn_like(mu).",
        lambda mu, lv: mu,
        example=lambda mu, lv: mu),
    "not differentiable (no gradient reaches mu and logvar)": Mistake(
        "Draw eps ~ N(0, I) with torch.randn_like(mu) and compute mu + std * eps with tensor operations "
        "(torch.normal(mu, std) or .detach() cut the gradient).",
        example=lambda mu, lv: torch.normal(mu, (0.5 * lv).exp())),
}


def _reparam_features(out, args, context):
    mu, logvar = args
    eps, low = (out - mu) / (0.5 * logvar).exp(), logvar < 0
    return {"mean of eps": float(eps.mean()), "spread of eps where logvar < 0": float(eps[low].std()),
            "spread of eps where logvar > 0": float(eps[~low].std())}


@exercise(_REPARAM, seed=10, features=_reparam_features,
          inputs=lambda g: [(torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)),
                            (torch.randn(3, 2, 2, 2, generator=g), torch.rand(3, 2, 2, 2, generator=g) * 4 - 3)],
          large=lambda g, inputs: (torch.randn(20000, 4, generator=g), torch.rand(20000, 4, generator=g) * 6 - 3))
def check_reparameterize(fn: Callable, cases: CaseSet) -> None:
    """``fn(mu, logvar) -> mu + exp(logvar / 2) * eps`` (differentiable); prints ✓ or raises ExerciseMistake."""

    def differentiable():
        mu, logvar = (t.clone().requires_grad_(True) for t in cases.cases[0].args)
        z = call_student("reparameterize", fn, (mu, logvar), "on test case 1 with gradients", _REPARAM, copy_args=False)
        grads = torch.autograd.grad(z.sum(), (mu, logvar), allow_unused=True) if z.requires_grad else (None, None)
        if (grads[0] is None or grads[1] is None or not torch.allclose(grads[0], torch.ones_like(mu))
                or not torch.allclose(grads[1], 0.5 * (z - mu).detach(), rtol=1e-4, atol=1e-5)):
            mistake = "not differentiable (no gradient reaches mu and logvar)"
            raise ExerciseMistake(f"reparameterize: looks like {mistake}: the values are right, but dz/dmu should "
                                  f"be 1 and dz/dlogvar should be (z - mu) / 2. {_REPARAM[mistake].fix}")
    check_random("reparameterize", fn, cases, _REPARAM, then=differentiable)


# ----------------------------------------------------------------------------- kl_divergence

def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) of each sample, summed over the latent dimensions: shape (N,), nats."""
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).flatten(1).sum(1)


def _kl_terms(mu, logvar):
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())


def _kl_logvar_as_sigma(mu, logvar):
    return -0.5 * (1 + torch.log(logvar.pow(2)) - mu.pow(2) - logvar.pow(2)).flatten(1).sum(1)


_LOGVAR_AS_SIGMA_KL = ("logvar is log(σ²): the variance is exp(logvar), so the KL per dimension is "
                       "-0.5 * (1 + logvar - mu**2 - logvar.exp()).")


def _student_kl(mu, lv):
    return -0.5 * (1 + lv - mu ** 2 - lv.exp()).flatten(1).sum(1)


def _student_kl_sigma(mu, lv):
    return -0.5 * (1 + torch.log(lv ** 2) - mu ** 2 - lv ** 2).flatten(1).sum(1)


_KL = {
    "the KL with the wrong sign": Mistake(
        "KL = -0.5 * sum(1 + logvar - mu**2 - exp(logvar)); it is never negative.",
        lambda mu, lv: -kl_divergence(mu, lv),
        example=lambda mu, lv: 0.5 * (1 + lv - mu ** 2 - lv.exp()).flatten(1).sum(1)),
    "the KL summed over the batch (a single number) instead of one value per sample": Mistake(
        "Sum over the latent dimensions of each sample only: .flatten(1).sum(1).",
        lambda mu, lv: [kl_divergence(mu, lv).sum(), kl_divergence(mu, lv).mean()],
        example=lambda mu, lv: -0.5 * torch.sum(1 + lv - mu ** 2 - lv.exp())),
    "the KL averaged over the latent dimensions instead of summed": Mistake(
        "Sum over the latent dimensions: .flatten(1).sum(1).",
        lambda mu, lv: _kl_terms(mu, lv).flatten(1).mean(1),
        example=lambda mu, lv: -0.5 * (1 + lv - mu ** 2 - lv.exp()).flatten(1).mean(1)),
    "the factor 1/2 left out": Mistake(
        "KL = -0.5 * sum(1 + logvar - mu**2 - exp(logvar)): keep the 0.5.",
        lambda mu, lv: 2 * kl_divergence(mu, lv),
        example=lambda mu, lv: -(1 + lv - mu ** 2 - lv.exp()).flatten(1).sum(1)),
    "logvar used as σ (log-variance confused with the standard deviation)": Mistake(
        _LOGVAR_AS_SIGMA_KL, _kl_logvar_as_sigma,
        example=_student_kl_sigma),
}


def _kl_inputs(g):
    return [(torch.randn(4, 3, generator=g), 0.5 * torch.randn(4, 3, generator=g)),
            (torch.randn(3, 2, 2, 2, generator=g), torch.randn(3, 2, 2, 2, generator=g)),
            (torch.randn(5, 1, generator=g), torch.randn(5, 1, generator=g) - 1)]


@exercise(_KL, inputs=_kl_inputs, seed=11)
def check_kl_divergence(fn: Callable, cases: CaseSet) -> None:
    """``fn(mu, logvar) -> (N,)`` KL to N(0, I) per sample; prints ✓ or raises ExerciseMistake."""
    check_values("kl_divergence", fn, cases, _KL)


# ----------------------------------------------------------------------------- negative_elbo

def negative_elbo(logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """The negative ELBO of each image (N,), in nats: the BCE summed over pixels plus the KL term."""
    return bce_per_image(logits, x) + kl_divergence(mu, logvar)


_ELBO = {
    "the BCE averaged over the pixels instead of summed": Mistake(
        "Sum the BCE over each image's pixels: .flatten(1).sum(1).",
        lambda lg, x, mu, lv: _bce_none(lg, x).flatten(1).mean(1) + kl_divergence(mu, lv),
        note=lambda lg, x, mu, lv: f" (your BCE is {x[0].numel()} times smaller)",
        example=lambda lg, x, mu, lv: _student_bce(lg, x).mean(1) + _student_kl(mu, lv)),
    "the KL with the wrong sign": Mistake(
        "Add the KL (never negative): -0.5 * sum(1 + logvar - mu**2 - exp(logvar)).",
        lambda lg, x, mu, lv: bce_per_image(lg, x) - kl_divergence(mu, lv),
        example=lambda lg, x, mu, lv: _student_bce(lg, x).sum(1) - _student_kl(mu, lv)),
    "the KL summed over the batch (added to every image)": Mistake(
        "Sum the KL over each sample's latent dimensions only, one value per image: .flatten(1).sum(1).",
        lambda lg, x, mu, lv: bce_per_image(lg, x) + kl_divergence(mu, lv).sum(),
        example=lambda lg, x, mu, lv: _student_bce(lg, x).sum(1) + _student_kl(mu, lv).sum()),
    "the KL term left out": Mistake(
        "The negative ELBO is the reconstruction term plus the KL term.",
        lambda lg, x, mu, lv: bce_per_image(lg, x),
        example=lambda lg, x, mu, lv: _student_bce(lg, x).sum(1)),
    "logvar used as σ in the KL": Mistake(
        _LOGVAR_AS_SIGMA_KL, lambda lg, x, mu, lv: bce_per_image(lg, x) + _kl_logvar_as_sigma(mu, lv),
        example=lambda lg, x, mu, lv: _student_bce(lg, x).sum(1) + _student_kl_sigma(mu, lv)),
    ONE_NUMBER: one_number(
        negative_elbo, example=lambda lg, x, mu, lv: (_student_bce(lg, x).sum(1) + _student_kl(mu, lv)).mean()),
}


def _elbo_inputs(g):
    return [(torch.randn(3, 1, 28, 28, generator=g), torch.rand(3, 1, 28, 28, generator=g),
             torch.randn(3, 4, generator=g), 0.5 * torch.randn(3, 4, generator=g)),
            (2 * torch.randn(2, 1, 4, 4, generator=g), (torch.rand(2, 1, 4, 4, generator=g) > 0.5).float(),
             3 * torch.randn(2, 2, generator=g), torch.randn(2, 2, generator=g)),
            (torch.randn(4, 1, 4, 4, generator=g), torch.rand(4, 1, 4, 4, generator=g),
             torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g) - 1)]


@exercise(_ELBO, inputs=_elbo_inputs, seed=12)
def check_negative_elbo(fn: Callable, cases: CaseSet) -> None:
    """``fn(logits, x, mu, logvar) -> (N,)`` BCE summed over pixels plus KL; prints ✓ or raises ExerciseMistake."""
    check_values("negative_elbo", fn, cases, _ELBO)


# ----------------------------------------------------------------------------- condition_on_label

def condition_on_label(h: torch.Tensor, y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Append the one-hot label to each row of ``h`` (N, D): shape (N, D + num_classes), ``h``'s dtype.
    ``y``: int64 labels (N,) in 0..num_classes-1. The CVAE's encoder input and its decoder input."""
    return torch.cat([h, F.one_hot(y, num_classes).to(h.dtype)], dim=1)


_CONDITION = {
    "the raw label appended instead of its one-hot code": Mistake(
        "Append F.one_hot(y, num_classes) (num_classes columns), not y itself.",
        lambda h, y, k: [torch.cat([h, y[:, None].to(h.dtype)], 1), torch.Size([len(h), h.shape[1] + 1])],
        example=lambda h, y, k: torch.cat([h, y.unsqueeze(1).float()], 1)),
    "the one-hot code put before h instead of after it": Mistake(
        "The model expects the label after the features: torch.cat([h, one_hot], dim=1).",
        lambda h, y, k: torch.cat([F.one_hot(y, k).to(h.dtype), h], 1),
        example=lambda h, y, k: torch.cat([F.one_hot(y, k).to(h.dtype), h], dim=1)),
    "the result not in h's dtype": Mistake(
        "Convert the one-hot code to h's dtype (.to(h.dtype)) and keep h as it is.",
        lambda h, y, k: [condition_on_label(h, y, k).to(t)
                         for t in (torch.float32, torch.float64, torch.int64) if t != h.dtype],
        example=lambda h, y, k: torch.cat([h.float(), F.one_hot(y, k).float()], dim=1)),
    "F.one_hot called without num_classes (its width then depends on the batch)": Mistake(
        "Pass num_classes: F.one_hot(y, num_classes), so that every batch gets num_classes columns.",
        lambda h, y, k: [torch.cat([h, F.one_hot(y).to(h.dtype)], 1), torch.cat([F.one_hot(y).to(h.dtype), h], 1)],
        example=lambda h, y, k: torch.cat([h, F.one_hot(y).to(h.dtype)], dim=1)),
}


def _condition_inputs(g):
    return [(torch.randn(4, 3, generator=g), torch.tensor([0, 2, 1, 2]), 3),
            (torch.randn(5, 2, generator=g, dtype=torch.float64), torch.tensor([4, 0, 1, 1, 2]), 6),
            (torch.randn(3, 5, generator=g), torch.tensor([9, 0, 3]), 10)]


@exercise(_CONDITION, inputs=_condition_inputs, seed=13)
def check_condition_on_label(fn: Callable, cases: CaseSet) -> None:
    """``fn(h (N, D), y (N,), num_classes) -> (N, D + num_classes)`` in h's dtype; prints ✓ or raises."""
    check_values("condition_on_label", fn, cases, _CONDITION)


# ----------------------------------------------------------------------------- prior_samples

def prior_samples(model: nn.Module, n: int) -> torch.Tensor:
    """``n`` images (n, C, H, W) in [0, 1], on the CPU, decoded (in eval mode) from codes z ~ N(0, I) of
    ``model.latent_shape``, drawn on the CPU."""
    z = torch.randn(n, *model.latent_shape).to(next(model.parameters()).device)  # type: ignore[misc]  # a tuple of ints
    with torch.no_grad():
        with eval_mode(model):
            return torch.sigmoid(model.decode(z)).cpu()  # type: ignore[operator]  # nn.Module: a LatentModel here


_PRIOR = {
    "logits returned instead of images (no sigmoid)": Mistake(
        "decode gives logits: the images are torch.sigmoid(model.decode(z)).",
        lambda m, n: m.decode(torch.randn(n, *m.latent_shape)),
        example=lambda m, n: m.decode(torch.randn(n, *m.latent_shape))),
    "uniform noise (torch.rand) instead of Gaussian codes": Mistake(
        "The prior is N(0, I): draw the codes with torch.randn, not torch.rand.",
        lambda m, n: torch.sigmoid(m.decode(torch.rand(n, *m.latent_shape))),
        example=lambda m, n: torch.sigmoid(m.decode(torch.rand(n, *m.latent_shape)))),
}


def _prior_inputs(g):
    from ..models import VAE  # not at import time: aecore.models needs aecore.lessons, made from here
    model = VAE(image_shape=(1, 4, 4), hidden=(8,), latent_dim=3)
    return [(model, 5), (model, 2)]


def _prior_features(out, args, context):
    z = context["codes"]
    return {"mean of the codes": float(z.mean()), "spread of the codes": float(z.std()),
            "share of values outside [0, 1]": share_outside_01(out), "mean value": float(out.mean()),
            "spread of the values": float(out.std())}


@exercise(_PRIOR, seed=14, features=_prior_features, records_codes=True, inputs=_prior_inputs,
          large=lambda g, inputs: (inputs[0][0], 20000))
def check_prior_samples(fn: Callable, cases: CaseSet) -> None:
    """``fn(model, n) -> (n, C, H, W)`` images decoded from z ~ N(0, I), on a tiny VAE; prints ✓ or raises."""
    check_random("prior_samples", fn, cases, _PRIOR)


# ----------------------------------------------------------------------------- median_radius_by_class

def median_radius_by_class(codes: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """The median distance from the origin (the prior's centre) of the codes (N, D) of each class 0..num_classes-1:
    shape (num_classes,)."""
    radius = codes.norm(dim=1)
    return torch.stack([radius[labels == k].median() for k in range(num_classes)])


def _radius_variant(codes, labels, k, *, stat=torch.median, squared=False, pooled=False, centre=None):
    if centre == "batch":
        codes = codes - codes.mean(0)
    elif centre == "class":
        codes = codes - torch.stack([codes[labels == c].mean(0) for c in range(k)])[labels]
    radius = codes.pow(2).sum(1) if squared else codes.norm(dim=1)
    return torch.stack([stat(radius if pooled else radius[labels == c]) for c in range(k)])


def _student_median_radius(codes, labels, k, *, stat="median", squared=False):
    r = (codes ** 2).sum(1) if squared else torch.sqrt((codes ** 2).sum(1))
    return torch.stack([getattr(r[labels == c], stat)() for c in range(k)])


_RADIUS = {
    "the mean radius instead of the median": Mistake(
        "Take the median of each class's radii (.median()), not the mean, which a few far-out codes pull up.",
        lambda c, y, k: _radius_variant(c, y, k, stat=torch.mean),
        example=lambda c, y, k: _student_median_radius(c, y, k, stat="mean")),
    "the squared distance (no square root)": Mistake(
        "The radius is the Euclidean norm of each code: codes.norm(dim=1) (the root of the sum of squares).",
        lambda c, y, k: _radius_variant(c, y, k, squared=True),
        example=lambda c, y, k: _student_median_radius(c, y, k, squared=True)),
    "the median over all the codes instead of each class's": Mistake(
        "Select each class's codes first: radius[labels == k].median(), for k in range(num_classes).",
        lambda c, y, k: [_radius_variant(c, y, k, pooled=True), c.norm(dim=1).median()],
        example=lambda c, y, k: c.norm(dim=1).median().repeat(k)),
    "the distance from the codes' mean instead of the origin": Mistake(
        "Measure from the origin, the prior's centre: codes.norm(dim=1), without subtracting a mean first.",
        lambda c, y, k: [_radius_variant(c, y, k, centre="batch"), _radius_variant(c, y, k, centre="class")],
        example=lambda c, y, k: _student_median_radius(c - c.mean(0), y, k)),
}


def _radius_inputs(g):
    y1, y2 = torch.arange(30) % 3, torch.randint(4, (41,), generator=g)
    y2[:4] = torch.arange(4)
    return [(torch.randn(30, 2, generator=g) * (1 + y1[:, None]), y1, 3),
            (torch.randn(41, 3, generator=g) * 0.5 + y2[:, None] * 0.3, y2, 4)]


@exercise(_RADIUS, inputs=_radius_inputs, seed=17,
          answer=lambda ref, args, seed: [ref(*args), _radius_variant(*args, stat=lambda r: r.quantile(0.5))])
def check_median_radius_by_class(fn: Callable, cases: CaseSet) -> None:
    """``fn(codes (N, D), labels (N,), num_classes) -> (num_classes,)`` median norms; the lower middle value
    (torch's median) and the average of the two middle values are both accepted. Prints ✓ or raises."""
    name = "median_radius_by_class"
    for i, case in enumerate(cases.cases, 1):
        where = describe_case(i, cases, case.args)
        got = call_student(name, fn, case.args, where, _RADIUS)
        compare(name, got, case.expected, _RADIUS, case.mistaken, where)
    report_match(name, cases)
