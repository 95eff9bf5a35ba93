"""Lab 3b's exercise (notebooks/03b_dogs_ae_vs_vae.ipynb): its reference implementation, its typical
mistakes and its check, registered by :func:`~aecore.exercises.framework.exercise`.

In the notebook: ``from aecore.exercises import lab3b as exercises``, then
``exercises.check_gaussian_negative_elbo(gaussian_negative_elbo)``. The lab takes Lab 3's
:func:`~aecore.exercises.lab3.kl_divergence` and :func:`~aecore.exercises.lab3.reparameterize`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .cases import CaseSet
from .framework import ONE_NUMBER, Mistake, check_values, exercise, one_number
from .lab3 import kl_divergence

__all__ = ["gaussian_negative_elbo", "check_gaussian_negative_elbo"]


# ----------------------------------------------------------------------------- gaussian_negative_elbo

def gaussian_negative_elbo(logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                           sigma: float) -> torch.Tensor:
    """The negative ELBO (N,) of photos ``x`` whose pixels are N(sigmoid(logits), sigma**2): the squared
    error summed over pixels over ``2 * sigma**2`` (the constant log(sqrt(2 pi) sigma) per pixel left out),
    plus the KL term. In nats per image."""
    squared_error = (torch.sigmoid(logits) - x).pow(2).flatten(1).sum(1)
    return squared_error / (2 * sigma ** 2) + kl_divergence(mu, logvar)


def _gaussian_elbo_variant(lg, x, mu, lv, sigma, *, denominator=None, mean=False, kl=True, on_logits=False):
    image = lg if on_logits else torch.sigmoid(lg)
    se = (image - x).pow(2).flatten(1)
    se = se.mean(1) if mean else se.sum(1)
    kl_term = kl_divergence(mu, lv) if kl else 0
    return se / (2 * sigma ** 2 if denominator is None else denominator) + kl_term


def _student_kl(mu, lv):
    return -0.5 * (1 + lv - mu ** 2 - lv.exp()).flatten(1).sum(1)


def _student_gauss(lg, x, mu, lv, s, *, den=None, mean=False, kl=True, raw=False):
    se = ((lg if raw else torch.sigmoid(lg)) - x) ** 2
    se = se.flatten(1).mean(1) if mean else se.flatten(1).sum(1)
    return se / (2 * s * s if den is None else den) + (_student_kl(mu, lv) if kl else 0)


_GAUSS = {
    "σ used where σ² was asked (the squared error divided by 2σ)": Mistake(
        "The Gaussian log-likelihood divides the squared error by 2σ²: 2 * sigma ** 2.",
        lambda lg, x, mu, lv, s: _gaussian_elbo_variant(lg, x, mu, lv, s, denominator=2 * s),
        example=lambda lg, x, mu, lv, s: _student_gauss(lg, x, mu, lv, s, den=2 * s)),
    "the squared error divided by σ² instead of 2σ²": Mistake(
        "Divide by 2 * sigma ** 2 (the 2 comes from the Gaussian's exponent).",
        lambda lg, x, mu, lv, s: _gaussian_elbo_variant(lg, x, mu, lv, s, denominator=s ** 2),
        example=lambda lg, x, mu, lv, s: _student_gauss(lg, x, mu, lv, s, den=s ** 2)),
    "the squared error averaged over the pixels instead of summed": Mistake(
        "Sum the squared error over each image's pixels: .flatten(1).sum(1).",
        lambda lg, x, mu, lv, s: _gaussian_elbo_variant(lg, x, mu, lv, s, mean=True),
        note=lambda lg, x, mu, lv, s: f" (your squared error is {x[0].numel()} times smaller)",
        example=lambda lg, x, mu, lv, s: _student_gauss(lg, x, mu, lv, s, mean=True)),
    "the KL term left out": Mistake(
        "The negative ELBO is the reconstruction term plus the KL term.",
        lambda lg, x, mu, lv, s: _gaussian_elbo_variant(lg, x, mu, lv, s, kl=False),
        example=lambda lg, x, mu, lv, s: _student_gauss(lg, x, mu, lv, s, kl=False)),
    "the squared error computed on the logits instead of sigmoid(logits)": Mistake(
        "The mean of each pixel is torch.sigmoid(logits): compare that with x.",
        lambda lg, x, mu, lv, s: _gaussian_elbo_variant(lg, x, mu, lv, s, on_logits=True),
        example=lambda lg, x, mu, lv, s: _student_gauss(lg, x, mu, lv, s, raw=True)),
    ONE_NUMBER: one_number(
        gaussian_negative_elbo, example=lambda lg, x, mu, lv, s: _student_gauss(lg, x, mu, lv, s).sum()),
}


def _gauss_inputs(g):
    return [(torch.randn(3, 3, 4, 4, generator=g), torch.rand(3, 3, 4, 4, generator=g),
             torch.randn(3, 4, generator=g), 0.5 * torch.randn(3, 4, generator=g), 0.1),
            (2 * torch.randn(2, 3, 4, 4, generator=g), torch.rand(2, 3, 4, 4, generator=g),
             torch.randn(2, 2, generator=g), torch.randn(2, 2, generator=g), 0.5)]


@exercise(_GAUSS, inputs=_gauss_inputs, seed=15)
def check_gaussian_negative_elbo(fn: Callable, cases: CaseSet) -> None:
    """``fn(logits, x, mu, logvar, sigma) -> (N,)``; prints ✓ or raises ExerciseMistake."""
    check_values("gaussian_negative_elbo", fn, cases, _GAUSS)
