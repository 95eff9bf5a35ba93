"""Lab 2's exercises (notebooks/02_dogs_conv_autoencoder.ipynb): each one block of its reference
implementation, its typical mistakes and its check, registered by :func:`~aecore.exercises.framework.exercise`.

In the notebook: ``from aecore.exercises import lab2 as exercises``, then
``exercises.check_psnr_per_image(psnr_per_image)`` after the cell that writes it. Lab 4 imports
:func:`perturb_codes` from here.

Shapes: images are (N, C, H, W) in [0, 1]; decoder outputs are **logits**; codes are (N, ...) with the
batch first; per-image values are (N,). Random functions draw from torch's global generator.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from pytorch_msssim import ssim
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
)

__all__ = ["mse_ssim_per_image", "check_mse_ssim_per_image", "psnr_per_image", "check_psnr_per_image",
           "code_mean_and_covariance", "check_code_mean_and_covariance", "perturb_codes", "check_perturb_codes",
           "power_normalize", "check_power_normalize", "latent_noise", "check_latent_noise"]


def _per_code(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Per-code values (N,) shaped to broadcast against ``like`` (N, ...)."""
    return values.view(-1, *([1] * (like.ndim - 1)))


def _rms_per_code(z: torch.Tensor) -> torch.Tensor:
    """The root mean square of each code of ``z`` (N, ...), shaped (N, 1, ...) (a building block of the mistakes)."""
    return _per_code(z.pow(2).flatten(1).mean(1).sqrt(), z)


# ----------------------------------------------------------------------------- mse_ssim_per_image

def mse_ssim_per_image(logits: torch.Tensor, x: torch.Tensor, ssim_weight: float) -> torch.Tensor:
    """Per-image loss (N,) of colour images ``x`` (N, 3, H, W) under decoder ``logits``: the squared
    error **averaged** over pixels plus ``ssim_weight * (1 - SSIM)`` (SSIM with data range 1)."""
    image = torch.sigmoid(logits)
    mse = (image - x).pow(2).flatten(1).mean(1)
    return mse + ssim_weight * (1 - ssim(image, x, data_range=1.0, size_average=False))


def _mse_ssim_variant(logits, x, w, *, on_logits=False, plus_ssim=False, mse_sum=False, batch_ssim=False):
    image = logits if on_logits else torch.sigmoid(logits)
    se = (image - x).pow(2).flatten(1)
    s = ssim(image, x, data_range=1.0, size_average=batch_ssim)
    return (se.sum(1) if mse_sum else se.mean(1)) + w * (s if plus_ssim else 1 - s)


def _student_mse_ssim(logits, x, w, *, plus=False, summed=False, logits_only=False, batch=False):
    image = logits if logits_only else torch.sigmoid(logits)
    se = (image - x) ** 2
    mse = se.sum(dim=(1, 2, 3)) if summed else se.mean(dim=(1, 2, 3))
    s = ssim(image, x, data_range=1.0) if batch else ssim(image, x, data_range=1.0, size_average=False)
    return mse + w * (s if plus else 1 - s)


_MSE_SSIM = {
    "SSIM added instead of (1 - SSIM)": Mistake(
        "SSIM is a similarity (1 for identical images): add ssim_weight * (1 - SSIM) to the loss.",
        lambda lg, x, w: _mse_ssim_variant(lg, x, w, plus_ssim=True),
        example=lambda lg, x, w: _student_mse_ssim(lg, x, w, plus=True)),
    "the squared error summed over the pixels instead of averaged": Mistake(
        "Average the squared error over each image's pixels: .flatten(1).mean(1).",
        lambda lg, x, w: _mse_ssim_variant(lg, x, w, mse_sum=True),
        example=lambda lg, x, w: _student_mse_ssim(lg, x, w, summed=True)),
    "computed on the logits instead of sigmoid(logits)": Mistake(
        "The image is torch.sigmoid(logits): compare that with x, in both terms.",
        lambda lg, x, w: _mse_ssim_variant(lg, x, w, on_logits=True),
        example=lambda lg, x, w: _student_mse_ssim(lg, x, w, logits_only=True)),
    "one SSIM for the whole batch (size_average=True)": Mistake(
        "Pass size_average=False to ssim to get one SSIM per image.",
        lambda lg, x, w: _mse_ssim_variant(lg, x, w, batch_ssim=True),
        example=lambda lg, x, w: _student_mse_ssim(lg, x, w, batch=True)),
    ONE_NUMBER: one_number(
        mse_ssim_per_image, example=lambda lg, x, w: _student_mse_ssim(lg, x, w).mean()),
}


def _mse_ssim_inputs(g):
    return [(torch.randn(3, 3, 16, 16, generator=g), torch.rand(3, 3, 16, 16, generator=g), 0.5),
            (2 * torch.randn(2, 3, 16, 16, generator=g), torch.rand(2, 3, 16, 16, generator=g), 2.0)]


@exercise(_MSE_SSIM, inputs=_mse_ssim_inputs, seed=4)
def check_mse_ssim_per_image(fn: Callable, cases: CaseSet) -> None:
    """``fn(logits, x, ssim_weight) -> (N,)`` on small colour batches; prints ✓ or raises ExerciseMistake."""
    check_values("mse_ssim_per_image", fn, cases, _MSE_SSIM)


# ----------------------------------------------------------------------------- psnr_per_image

def psnr_per_image(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio of each image of ``x_hat`` against ``x`` (both in [0, 1]), in dB: shape (N,).
    ``10 log10(1 / MSE)`` with the MSE of each image on its own (data range 1)."""
    mse = (x_hat - x).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(1.0 / mse)


def _mse(x_hat, x):
    return (x_hat - x).pow(2).flatten(1).mean(1)


_PSNR = {
    "data_range=255 on [0, 1] images (values 48.13 dB too high)": Mistake(
        "The images are in [0, 1], so the peak value is 1: 10 * log10(1 / MSE).",
        lambda xh, x: 10 * torch.log10(255.0 ** 2 / _mse(xh, x)), note=lambda xh, x: "",
        example=lambda xh, x: 10 * torch.log10(255 ** 2 / _mse(xh, x))),
    "the PSNR of the whole batch's MSE (one number) instead of one per image": Mistake(
        "Average the squared error over each image's own pixels (.flatten(1).mean(1)), then take the PSNR of each.",
        lambda xh, x: 10 * torch.log10(1.0 / (xh - x).pow(2).mean()),
        example=lambda xh, x: 10 * torch.log10(1 / F.mse_loss(xh, x))),
    "20 log10 and 10 log10 mixed up (MSE and RMSE confused)": Mistake(
        "PSNR = 10 log10(1 / MSE) = 20 log10(1 / RMSE): 10 with the mean squared error, 20 with its square root.",
        lambda xh, x: [20 * torch.log10(1.0 / _mse(xh, x)), 10 * torch.log10(1.0 / _mse(xh, x).sqrt())],
        example=lambda xh, x: 20 * torch.log10(1 / _mse(xh, x))),
    "the sign flipped (log10 of the MSE instead of 1 / MSE)": Mistake(
        "PSNR grows as the error shrinks: 10 * log10(1 / MSE), not 10 * log10(MSE).",
        lambda xh, x: 10 * torch.log10(_mse(xh, x)),
        example=lambda xh, x: 10 * torch.log10(_mse(xh, x))),
    ONE_NUMBER: one_number(
        psnr_per_image, example=lambda xh, x: (10 * torch.log10(1 / _mse(xh, x))).mean()),
}


def _psnr_inputs(g):
    x1, x2 = torch.rand(4, 1, 8, 8, generator=g), torch.rand(3, 3, 6, 6, generator=g)
    return [((x1 + 0.05 * torch.randn(x1.shape, generator=g)).clamp(0, 1), x1),
            ((x2 + torch.rand(3, 1, 1, 1, generator=g) * torch.randn(x2.shape, generator=g)).clamp(0, 1), x2)]


@exercise(_PSNR, inputs=_psnr_inputs, seed=5)
def check_psnr_per_image(fn: Callable, cases: CaseSet) -> None:
    """``fn(x_hat, x) -> (N,)`` PSNR in dB on small batches; prints ✓ or raises ExerciseMistake."""
    check_values("psnr_per_image", fn, cases, _PSNR)


# ----------------------------------------------------------------------------- code_mean_and_covariance

def code_mean_and_covariance(codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (D,) and covariance (D, D) of codes (N, ...) flattened to D numbers each (divided by N)."""
    flat = codes.flatten(1)
    mean = flat.mean(0)
    centred = flat - mean
    return mean, centred.T @ centred / len(flat)


_MEAN_COV_MEAN = {
    "the mean over the wrong axis (one mean per code instead of one per dimension)": Mistake(
        "Average over the batch, dimension 0: codes.flatten(1).mean(0) has one value per dimension (D,).",
        lambda c: torch.Size([len(c)]),
        example=lambda c: (c.flatten(1).mean(1), torch.cov(c.flatten(1).T))),
    "the codes not flattened to (N, D)": Mistake(
        "Flatten each code first: codes.flatten(1) is (N, D).",
        lambda c: [c.shape[1:]] if c.ndim > 2 else [],
        example=lambda c: (c.mean(0), torch.cov(c.flatten(1).T))),
}


def _second_moment(c):
    flat = c.flatten(1)
    return [flat.T @ flat / len(flat), flat.T @ flat / (len(flat) - 1)]


_MEAN_COV_COV = {
    "codes not centred (the second moment instead of the covariance)": Mistake(
        "Subtract the mean code first: centred = flat - mean, then centred.T @ centred / N.",
        _second_moment,
        example=lambda c: (c.flatten(1).mean(0), c.flatten(1).T @ c.flatten(1) / len(c))),
    "the covariance over the wrong axis (N x N instead of D x D)": Mistake(
        "The covariance has one row and column per dimension: centred.T @ centred (D x D), "
        "not centred @ centred.T (N x N).",
        lambda c: torch.Size([len(c), len(c)]),
        example=lambda c: (c.flatten(1).mean(0), torch.cov(c.flatten(1)))),
}


def _mean_cov_inputs(g):
    return [(torch.randn(20, 3, generator=g) @ torch.tensor([[2.0, 0.5, 0], [0, 1, 0.3], [0, 0, 0.5]]) + 1.5,),
            (torch.randn(15, 2, 2, 2, generator=g) + torch.arange(8.0).view(2, 2, 2),)]


def _mean_and_both_covariances(ref, args, seed):
    """The reference's mean, and its covariance divided by N and by N - 1 (both accepted)."""
    mean, cov = ref(*args)
    n = len(args[0])
    return mean, [cov, cov * n / (n - 1)]


@exercise({**_MEAN_COV_MEAN, **_MEAN_COV_COV}, inputs=_mean_cov_inputs, seed=6, answer=_mean_and_both_covariances)
def check_code_mean_and_covariance(fn: Callable, cases: CaseSet) -> None:
    """``fn(codes (N, ...)) -> (mean (D,), covariance (D, D))``; dividing by N or N - 1 are both accepted.
    Prints ✓ or raises ExerciseMistake."""
    name = "code_mean_and_covariance"
    mistakes = {**_MEAN_COV_MEAN, **_MEAN_COV_COV}
    for i, case in enumerate(cases.cases, 1):
        where = describe_case(i, cases, case.args)
        got = call_student(name, fn, case.args, where, mistakes)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise ExerciseMistake(f"{name}: your result is a {type(got).__name__}; expected two tensors, "
                                  f"(mean, covariance) {where}. Return them as a tuple: return mean, cov.")
        mean, covariances = case.expected
        of_mean = {k: v for k, v in case.mistaken.items() if k in _MEAN_COV_MEAN}
        of_cov = {k: v for k, v in case.mistaken.items() if k in _MEAN_COV_COV}
        compare(name, got[0], mean, mistakes, of_mean, where, what="your mean")
        compare(name, got[1], covariances, mistakes, of_cov, where, what="your covariance")
    report_match(name, cases)


# ----------------------------------------------------------------------------- perturb_codes

def perturb_codes(codes: torch.Tensor, strength: float) -> torch.Tensor:
    """``z + strength * rms(z) * N(0, I)`` for each code z of ``codes`` (N, ...): zero-mean Gaussian noise
    whose amplitude is ``strength`` times the root mean square of that code's entries. Same shape."""
    rms = codes.pow(2).flatten(1).mean(1).sqrt().view(-1, *([1] * (codes.ndim - 1)))
    return codes + strength * rms * torch.randn_like(codes)


_PERTURB = {
    "noise not scaled to the code's rms (absolute noise)": Mistake(
        "Scale the noise of each code by strength * rms(z), the root mean square of that code's entries.",
        lambda c, s: c + s * torch.randn_like(c),
        example=lambda c, s: c + s * torch.randn_like(c)),
    "one rms for the whole batch instead of one per code": Mistake(
        "Compute the rms of each code on its own: codes.pow(2).flatten(1).mean(1).sqrt(), reshaped to (N, 1, ...).",
        lambda c, s: c + s * c.pow(2).mean().sqrt() * torch.randn_like(c),
        example=lambda c, s: c + s * torch.sqrt(torch.mean(c ** 2)) * torch.randn_like(c)),
    "the mean square used instead of the rms (variance for standard deviation)": Mistake(
        "rms is the square root of the mean square: .mean(1).sqrt().",
        lambda c, s: c + s * _rms_per_code(c).pow(2) * torch.randn_like(c),
        example=lambda c, s: c + s * _per_code(c.flatten(1).pow(2).mean(1), c) * torch.randn_like(c)),
    "each code's standard deviation used instead of its rms": Mistake(
        "rms(z) is sqrt(mean(z**2)) without subtracting the code's mean (z.std() subtracts it).",
        lambda c, s: c + s * _per_code(c.flatten(1).std(1), c) * torch.randn_like(c),
        example=lambda c, s: c + s * _per_code(c.flatten(1).std(1), c) * torch.randn_like(c)),
}


def _scales():
    """(4000, 1): the sizes of the large input's codes, from 0.2 to 5."""
    return torch.linspace(0.2, 5.0, 4000).view(-1, 1)


def _perturb_features(out, args, context):
    codes = args[0]
    relative = (out - codes) / context["rms"]
    half = len(codes) // 2
    return {"mean of noise / rms": float(relative.mean()),
            "spread of noise / rms on the small codes": float(relative[:half].std()),
            "spread of noise / rms on the large codes": float(relative[half:].std())}


@exercise(_PERTURB, seed=7, features=_perturb_features,
          inputs=lambda g: [((torch.randn(4, 3, generator=g) + 1) * torch.tensor([[0.5], [1.0], [2.0], [4.0]]), 0.5),
                            (torch.randn(3, 2, 2, 2, generator=g) + 0.5, 0.3)],
          large=lambda g, inputs: ((torch.randn(4000, 8, generator=g) + 1) * _scales(), 0.3),
          context=lambda args: {"rms": _rms_per_code(args[0])})
def check_perturb_codes(fn: Callable, cases: CaseSet) -> None:
    """``fn(codes, strength) -> codes + strength * rms(code) * N(0, I)``; prints ✓ or raises ExerciseMistake."""
    check_random("perturb_codes", fn, cases, _PERTURB)


# ----------------------------------------------------------------------------- power_normalize

def power_normalize(z: torch.Tensor) -> torch.Tensor:
    """Scale each code of ``z`` (N, ...) to unit power, a mean square of 1 over its own entries. Same shape."""
    power = z.pow(2).flatten(1).mean(1).clamp_min(1e-8)
    return z / power.sqrt().view(-1, *([1] * (z.ndim - 1)))


_POWER = {
    "normalised over the whole batch instead of each code": Mistake(
        "Normalise each code on its own: its mean square over .flatten(1).mean(1), reshaped to (N, 1, ...).",
        lambda z: z / z.pow(2).mean().sqrt(),
        example=lambda z: z / torch.sqrt(torch.mean(z ** 2))),
    "normalised to unit norm (sum of squares 1) instead of unit mean square": Mistake(
        "Unit power means a mean square of 1: divide by the root of the *mean* of the squares, not of their sum.",
        lambda z: z / _per_code(z.flatten(1).norm(dim=1), z),
        example=lambda z: z / _per_code(z.flatten(1).norm(dim=1), z)),
    "divided by the mean square instead of its square root": Mistake(
        "Divide by sqrt(power): the rms, not the mean square.",
        lambda z: z / _per_code(z.pow(2).flatten(1).mean(1), z),
        example=lambda z: z / _per_code(z.flatten(1).pow(2).mean(1), z)),
}


def _power_inputs(g):
    return [(torch.randn(4, 6, generator=g) * torch.tensor([[0.1], [1.0], [3.0], [10.0]]),),
            (torch.randn(3, 2, 3, 3, generator=g) * 2 + 1,)]


@exercise(_POWER, inputs=_power_inputs, seed=8)
def check_power_normalize(fn: Callable, cases: CaseSet) -> None:
    """``fn(z (N, ...)) -> each code scaled to mean square 1``; prints ✓ or raises ExerciseMistake."""
    check_values("power_normalize", fn, cases, _POWER)


# ----------------------------------------------------------------------------- latent_noise

def latent_noise(z: torch.Tensor, variance: float) -> torch.Tensor:
    """Power-normalise each code of ``z`` (N, ...), then add Gaussian noise of **variance** ``variance``
    (sigma**2; the standard deviation is its square root). Same shape."""
    return power_normalize(z) + math.sqrt(variance) * torch.randn_like(z)


_LATENT = {
    "σ used where σ² was asked (noise std = variance)": Mistake(
        "variance is σ²: the noise's standard deviation is math.sqrt(variance).",
        lambda z, v: power_normalize(z) + v * torch.randn_like(z),
        example=lambda z, v: z / _rms_per_code(z) + v * torch.randn_like(z)),
    "noise added before normalising": Mistake(
        "Power-normalise first, then add the noise: power_normalize(z) + noise.",
        lambda z, v: power_normalize(z + math.sqrt(v) * torch.randn_like(z)),
        example=lambda z, v: (y := z + math.sqrt(v) * torch.randn_like(z)) / _rms_per_code(y)),
    "the codes not power-normalised": Mistake(
        "Power-normalise each code before adding the noise (power_normalize(z)).",
        lambda z, v: z + math.sqrt(v) * torch.randn_like(z),
        example=lambda z, v: z + v ** 0.5 * torch.randn_like(z)),
    "normalised over the whole batch instead of each code": Mistake(
        "Normalise each code on its own (power_normalize), not the batch as a whole.",
        lambda z, v: z / z.pow(2).mean().sqrt() + math.sqrt(v) * torch.randn_like(z),
        example=lambda z, v: z / z.pow(2).mean().sqrt() + v ** 0.5 * torch.randn_like(z)),
}


def _latent_features(out, args, context):
    noise, power = out - context["normalised"], out.pow(2).flatten(1).mean(1)
    return {"mean of the noise": float(noise.mean()), "spread of the noise": float(noise.std()),
            "mean power of the codes": float(power.mean()), "spread of the codes' power": float(power.std())}


@exercise(_LATENT, seed=9, features=_latent_features,
          inputs=lambda g: [(torch.randn(4, 6, generator=g) * torch.tensor([[0.1], [1.0], [3.0], [10.0]]), 0.25),
                            (torch.randn(3, 2, 3, 3, generator=g) * 2, 0.1)],
          large=lambda g, inputs: (torch.randn(4000, 8, generator=g) * _scales(), 0.3),
          context=lambda args: {"normalised": power_normalize(args[0])})
def check_latent_noise(fn: Callable, cases: CaseSet) -> None:
    """``fn(z, variance) -> power_normalize(z) + N(0, variance)``; prints ✓ or raises ExerciseMistake."""
    check_random("latent_noise", fn, cases, _LATENT)
