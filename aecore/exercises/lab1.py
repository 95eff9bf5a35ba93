"""Lab 1's exercises (notebooks/01_mnist_autoencoder.ipynb): each one block of its reference implementation,
its typical mistakes and its check, registered by :func:`~aecore.exercises.framework.exercise`.

In the notebook: ``from aecore.exercises import lab1 as exercises``, then, after the cell that writes
``bce_per_image``, ``exercises.check_bce_per_image(bce_per_image)``: it prints ✓ or raises
:class:`~aecore.exercises.framework.ExerciseMistake` naming the mistake.

Shapes: images are (N, C, H, W) in [0, 1]; decoder outputs are **logits** (the image is
``sigmoid(logits)``); codes are (N, ...) with the batch first; per-image values are (N,).
Random functions draw from torch's global generator (seed it with ``torch.manual_seed``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

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

__all__ = ["count_parameters", "check_count_parameters", "bce_per_image", "check_bce_per_image", "noisy_input",
           "check_noisy_input", "grid_over_codes", "check_grid_over_codes", "l2_penalty", "check_l2_penalty"]


# ----------------------------------------------------------------------------- count_parameters

def count_parameters(model: nn.Module) -> int:
    """Number of trainable numbers of ``model``: weights and biases of every layer (an int)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


_COUNT = {
    "the biases left out": Mistake(
        "Count the biases too: every tensor of model.parameters(), not only the weights.",
        lambda m: [torch.tensor(sum(p.numel() for p in m.parameters() if p.requires_grad and p.ndim > 1)),
                   torch.tensor(sum(p.numel() for n, p in m.named_parameters()
                                    if p.requires_grad and "bias" not in n))],
        example=lambda m: sum(p.numel() for n, p in m.named_parameters() if "bias" not in n)),
    "the number of parameter tensors instead of the numbers in them": Mistake(
        "Add up p.numel() (how many numbers each tensor holds), not 1 per tensor.",
        lambda m: [torch.tensor(sum(1 for p in m.parameters() if p.requires_grad)),
                   torch.tensor(len(list(m.parameters())))],
        example=lambda m: len(list(m.parameters()))),
    "frozen parameters counted (requires_grad=False)": Mistake(
        "Count only the trainable parameters: those with p.requires_grad.",
        lambda m: torch.tensor(sum(p.numel() for p in m.parameters())),
        example=lambda m: sum(p.numel() for p in m.parameters())),
}


def _count_inputs(g):
    from ..models import MLPAutoencoder  # not at import time: aecore.models needs aecore.lessons, made from here
    frozen = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    frozen[0].requires_grad_(False)
    return [(MLPAutoencoder(image_shape=(1, 4, 4), hidden=(8,), latent_dim=2),),
            (nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.Flatten(), nn.Linear(12, 5)),), (frozen,)]


@exercise(_COUNT, inputs=_count_inputs, seed=0, answer=lambda ref, args, seed: torch.tensor(ref(*args)))
def check_count_parameters(fn: Callable, cases: CaseSet) -> None:
    """``fn(model) -> int`` on three small models (one with a frozen layer); prints ✓ or raises ExerciseMistake."""
    for i, case in enumerate(cases.cases, 1):
        args = case.args
        where = describe_case(i, cases, args)
        got = call_student("count_parameters", fn, args, where, _COUNT)
        if isinstance(got, torch.Tensor) and got.numel() == 1 and not got.is_floating_point():
            got = int(got)
        if not isinstance(got, numbers.Integral) or isinstance(got, bool):
            raise ExerciseMistake(f"count_parameters: your result is a {type(got).__name__} ({got!r}); expected a "
                                  f"Python int (a count) {where}.")
        compare("count_parameters", torch.tensor(int(got)), case.expected, _COUNT, case.mistaken, where)
    report_match("count_parameters", cases)


# ----------------------------------------------------------------------------- bce_per_image

def bce_per_image(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of images ``x`` (N, ...) in [0, 1] under decoder ``logits`` of the same shape,
    **summed** over each image's pixels: shape (N,), in nats per image."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def _bce_none(logits, x):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none")


def _student_bce(logits, x):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1)


_BCE = {
    "the BCE averaged over the pixels instead of summed": Mistake(
        "Sum over each image's pixels: reduction='none', then .flatten(1).sum(1).",
        lambda logits, x: _bce_none(logits, x).flatten(1).mean(1),
        example=lambda lg, x: _student_bce(lg, x).mean(1)),
    "the default reduction='mean' (one number averaged over every pixel of the batch)": Mistake(
        "Pass reduction='none' to get one value per pixel, then sum each image's pixels: .flatten(1).sum(1).",
        lambda logits, x: F.binary_cross_entropy_with_logits(logits, x),
        example=lambda lg, x: F.binary_cross_entropy_with_logits(lg, x)),
    ONE_NUMBER: one_number(
        bce_per_image, example=lambda lg, x: F.binary_cross_entropy_with_logits(lg, x, reduction="sum")),
    "sigmoid applied before binary_cross_entropy_with_logits (the sigmoid applied twice)": Mistake(
        "binary_cross_entropy_with_logits applies the sigmoid itself: give it the logits as they are "
        "(or use F.binary_cross_entropy on torch.sigmoid(logits)).",
        lambda logits, x: F.binary_cross_entropy_with_logits(torch.sigmoid(logits), x, reduction="none")
        .flatten(1).sum(1),
        example=lambda lg, x: _student_bce(torch.sigmoid(lg), x).sum(1)),
    "the logits used as probabilities": Mistake(
        "The decoder gives logits, not probabilities: use F.binary_cross_entropy_with_logits(logits, x, ...) "
        "(or F.binary_cross_entropy on torch.sigmoid(logits)).",
        lambda logits, x: [F.binary_cross_entropy(logits.clamp(eps, 1 - eps), x, reduction="none").flatten(1).sum(1)
                           for eps in (0.0, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3)],
        raises="should be between 0 and 1",
        example=lambda lg, x: F.binary_cross_entropy(lg.clamp(0, 1), x, reduction="none").sum(dim=(1, 2, 3))),
}


def _bce_inputs(g):
    return [(2 * torch.randn(3, 1, 4, 4, generator=g), torch.rand(3, 1, 4, 4, generator=g)),
            (3 * torch.randn(2, 1, 28, 28, generator=g), (torch.rand(2, 1, 28, 28, generator=g) > 0.7).float()),
            (torch.randn(4, 3, 2, 2, generator=g), torch.rand(4, 3, 2, 2, generator=g))]


@exercise(_BCE, inputs=_bce_inputs, seed=1)
def check_bce_per_image(fn: Callable, cases: CaseSet) -> None:
    """``fn(logits, x) -> (N,)`` on MNIST-sized and small batches; prints ✓ or raises ExerciseMistake."""
    check_values("bce_per_image", fn, cases, _BCE)


# ----------------------------------------------------------------------------- noisy_input

def noisy_input(x: torch.Tensor, factor: float) -> torch.Tensor:
    """``x + factor * N(0, 1)``, then clipped to [0, 1]: the denoiser's input, same shape as ``x``.
    ``factor`` is the standard deviation of the noise (0.4 in Lab 1)."""
    return (x + factor * torch.randn_like(x)).clamp(0.0, 1.0)


_NOISY = {
    "the noise added after clipping, or no clipping (values outside [0, 1])": Mistake(
        "Add the noise first, then clip the sum: (x + noise).clamp(0, 1).",
        lambda x, f: x + f * torch.randn_like(x),
        example=lambda x, f: x.clamp(0, 1) + f * torch.randn_like(x)),
    "factor used as the variance (noise std sqrt(factor))": Mistake(
        "factor is the standard deviation: multiply N(0, 1) noise by factor itself.",
        lambda x, f: (x + math.sqrt(f) * torch.randn_like(x)).clamp(0, 1),
        example=lambda x, f: torch.clamp(x + math.sqrt(f) * torch.randn(x.shape), 0, 1)),
    "uniform noise (torch.rand_like) instead of Gaussian": Mistake(
        "Use Gaussian noise: torch.randn_like(x) (randn, not rand).",
        lambda x, f: (x + f * torch.rand_like(x)).clamp(0, 1),
        example=lambda x, f: (x + f * torch.rand_like(x)).clamp(0, 1)),
}


def _noisy_features(out, args, context):
    noise = out - args[0]
    return {"mean": float(out.mean()), "standard deviation": float(out.std()),
            "mean of the noise": float(noise.mean()), "spread of the noise": float(noise.std()),
            "share of values outside [0, 1]": share_outside_01(out), "share of values at 0 or 1":
                float(((out == 0) | (out == 1)).double().mean())}


@exercise(_NOISY, seed=2, features=_noisy_features,
          inputs=lambda g: [(torch.rand(3, 1, 4, 4, generator=g), 0.4), (torch.rand(2, 3, 5, 5, generator=g), 0.1)],
          large=lambda g, inputs: (torch.rand(100, 1, 32, 32, generator=g), 0.3))
def check_noisy_input(fn: Callable, cases: CaseSet) -> None:
    """``fn(x, factor) -> x + factor * N(0, 1) clipped to [0, 1]``; prints ✓ or raises ExerciseMistake."""
    check_random("noisy_input", fn, cases, _NOISY)


# ----------------------------------------------------------------------------- grid_over_codes

def grid_over_codes(codes: torch.Tensor, n: int) -> torch.Tensor:
    """An ``n`` x ``n`` grid of 2-D codes spanning the min..max of each coordinate of ``codes`` (N, 2):
    shape (n*n, 2), row-major with the top row first (largest z2), left to right (growing z1)."""
    lo, hi = codes.min(0).values, codes.max(0).values
    z1 = torch.linspace(float(lo[0]), float(hi[0]), n)
    z2 = torch.linspace(float(hi[1]), float(lo[1]), n)
    rows, cols = torch.meshgrid(z2, z1, indexing="ij")
    return torch.stack([cols.reshape(-1), rows.reshape(-1)], dim=1)


def _grid_variant(codes, n, *, top_first=True, swap=False, column_major=False, arange=False):
    lo, hi = codes.min(0).values, codes.max(0).values
    steps = torch.arange(n) / n if arange else torch.linspace(0, 1, n)
    z1 = lo[0] + (hi[0] - lo[0]) * steps
    z2 = lo[1] + (hi[1] - lo[1]) * steps
    if top_first:
        z2 = z2.flip(0)
    rows, cols = torch.meshgrid(z2, z1, indexing="ij")
    if column_major:
        rows, cols = rows.T, cols.T
    pair = [rows, cols] if swap else [cols, rows]
    return torch.stack([t.reshape(-1) for t in pair], dim=1)


def _student_grid(codes, n, *, ascending=False, swap=False, arange=False, column_major=False):
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


_GRID = {
    "rows ordered bottom-up (smallest z2 first)": Mistake(
        "The top row comes first: let z2 run from its max down to its min (torch.linspace(hi, lo, n)).",
        lambda c, n: _grid_variant(c, n, top_first=False),
        example=lambda c, n: _student_grid(c, n, ascending=True)),
    "the coordinates swapped ((z2, z1) instead of (z1, z2))": Mistake(
        "Each row of the result is one code (z1, z2): z1, which grows left to right, comes first.",
        lambda c, n: _grid_variant(c, n, swap=True),
        example=lambda c, n: _student_grid(c, n, swap=True)),
    "an arange-style grid that misses the max": Mistake(
        "Use torch.linspace(lo, hi, n): it includes both ends.",
        lambda c, n: [_grid_variant(c, n, arange=True), _grid_variant(c, n, arange=True, top_first=False)],
        example=lambda c, n: _student_grid(c, n, arange=True)),
    "column-major order (down each column first)": Mistake(
        "Go row by row: the n points of the top row from left to right, then the next row.",
        lambda c, n: _grid_variant(c, n, column_major=True),
        example=lambda c, n: _student_grid(c, n, column_major=True)),
}


def _grid_inputs(g):
    return [(torch.randn(50, 2, generator=g) * torch.tensor([3.0, 0.5]) + 1, 3),
            (torch.randn(30, 2, generator=g), 4), (torch.rand(20, 2, generator=g) * 10 - 2, 5)]


@exercise(_GRID, inputs=_grid_inputs, seed=3)
def check_grid_over_codes(fn: Callable, cases: CaseSet) -> None:
    """``fn(codes (N, 2), n) -> (n*n, 2)`` grid, top row first; prints ✓ or raises ExerciseMistake."""
    check_values("grid_over_codes", fn, cases, _GRID)


# ----------------------------------------------------------------------------- l2_penalty

def l2_penalty(model: nn.Module) -> torch.Tensor:
    """Sum of the squared weights of every weight matrix and kernel of ``model`` (parameters with 2 or
    more dimensions; biases and norm scales are left out): a scalar tensor, differentiable."""
    return sum((p.pow(2).sum() for p in model.parameters() if p.ndim > 1), torch.zeros(()))


_L2 = {
    "the biases (and norm scales) included": Mistake(
        "Only weight matrices and kernels: parameters with p.ndim > 1 (biases and norm scales are 1-D).",
        lambda m: sum(p.pow(2).sum() for p in m.parameters()),
        example=lambda m: sum((p ** 2).sum() for p in m.parameters())),
    "the norms instead of the squared norms": Mistake(
        "Square the weights and add the squares: p.pow(2).sum(), not p.norm().",
        lambda m: [sum(p.norm() for p in m.parameters() if p.ndim > 1),
                   torch.sqrt(sum(p.pow(2).sum() for p in m.parameters() if p.ndim > 1))],
        example=lambda m: sum(torch.norm(p) for p in m.parameters() if p.dim() > 1)),
    "the squares averaged instead of summed": Mistake(
        "Sum the squares: p.pow(2).sum(), not .mean().",
        lambda m: [sum(p.pow(2).mean() for p in m.parameters() if p.ndim > 1),
                   torch.cat([p.pow(2).flatten() for p in m.parameters() if p.ndim > 1]).mean()],
        example=lambda m: sum((p ** 2).mean() for p in m.parameters() if p.dim() > 1)),
    "the result detached from the graph (not differentiable)": Mistake(
        "Return the tensor itself (no .item(), float(), .detach() or torch.tensor(...)) so that the gradient of "
        "the penalty reaches the weights.",
        example=lambda m: sum((p ** 2).sum() for p in m.parameters() if p.dim() > 1).item()),
}


def _l2_inputs(g):
    from ..models import MLPAutoencoder  # not at import time: aecore.models needs aecore.lessons, made from here
    cases = [(MLPAutoencoder(image_shape=(1, 4, 4), hidden=(8,), latent_dim=2),),
             (nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.Flatten(), nn.Linear(12, 5)),)]
    with torch.no_grad():  # norm scales other than 1, so leaving them in shows
        cases[1][0][1].weight.uniform_(0.5, 2.0)  # type: ignore[index]
    return cases


@exercise(_L2, inputs=_l2_inputs, seed=3)
def check_l2_penalty(fn: Callable, cases: CaseSet) -> None:
    """``fn(model) -> scalar tensor`` (differentiable) on two small models; prints ✓ or raises ExerciseMistake."""

    def differentiable(results):
        if not all(isinstance(r, torch.Tensor) and r.requires_grad for r in results):
            mistake = "the result detached from the graph (not differentiable)"
            raise ExerciseMistake(f"l2_penalty: looks like {mistake}: the values are right, but no gradient can "
                                  f"flow back to the weights. {_L2[mistake].fix}")
    check_values("l2_penalty", fn, cases, _L2, then=differentiable)
