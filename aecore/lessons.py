"""The reference implementations of what the labs ask a student to write.

Each function here is one exercise of the student edition (``make student``): the
solution notebooks write the same function in a visible cell and train with it, and
``tests/test_lessons.py`` checks that each notebook's version equals the one here on random
inputs; :mod:`aecore.checks` runs a student's version against these and names typical
mistakes. They are short on purpose: they are meant to be read.

Shapes: images are (N, C, H, W) in [0, 1]; decoder outputs are **logits** (the image is
``sigmoid(logits)``); codes are (N, ...) with the batch first; per-image values are (N,).
Random functions draw from torch's global generator (seed it with ``torch.manual_seed``).
"""

from __future__ import annotations

import math

import torch
from pytorch_msssim import ssim
from torch import nn
from torch.nn import functional as F

from .utils import eval_mode

__all__ = ["count_parameters", "bce_per_image", "noisy_input", "grid_over_codes", "l2_penalty",
           "mse_ssim_per_image", "psnr_per_image", "code_mean_and_covariance", "perturb_codes",
           "power_normalize", "latent_noise", "reparameterize", "kl_divergence", "negative_elbo",
           "condition_on_label", "prior_samples", "median_radius_by_class", "gaussian_negative_elbo",
           "generate_from_codes"]


# ----------------------------------------------------------------------------- Lab 1

def count_parameters(model: nn.Module) -> int:
    """Number of trainable numbers of ``model``: weights and biases of every layer (an int)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def bce_per_image(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of images ``x`` (N, ...) in [0, 1] under decoder ``logits`` of the same shape,
    **summed** over each image's pixels: shape (N,), in nats per image."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def noisy_input(x: torch.Tensor, factor: float) -> torch.Tensor:
    """``x + factor * N(0, 1)``, then clipped to [0, 1]: the denoiser's input, same shape as ``x``.
    ``factor`` is the standard deviation of the noise (0.4 in Lab 1)."""
    return (x + factor * torch.randn_like(x)).clamp(0.0, 1.0)


def grid_over_codes(codes: torch.Tensor, n: int) -> torch.Tensor:
    """An ``n`` x ``n`` grid of 2-D codes spanning the min..max of each coordinate of ``codes`` (N, 2):
    shape (n*n, 2), row-major with the top row first (largest z2), left to right (growing z1)."""
    lo, hi = codes.min(0).values, codes.max(0).values
    z1 = torch.linspace(float(lo[0]), float(hi[0]), n)
    z2 = torch.linspace(float(hi[1]), float(lo[1]), n)
    rows, cols = torch.meshgrid(z2, z1, indexing="ij")
    return torch.stack([cols.reshape(-1), rows.reshape(-1)], dim=1)


def l2_penalty(model: nn.Module) -> torch.Tensor:
    """Sum of the squared weights of every weight matrix and kernel of ``model`` (parameters with 2 or
    more dimensions; biases and norm scales are left out): a scalar tensor, differentiable."""
    return sum((p.pow(2).sum() for p in model.parameters() if p.ndim > 1), torch.zeros(()))


# ----------------------------------------------------------------------------- Lab 2

def mse_ssim_per_image(logits: torch.Tensor, x: torch.Tensor, ssim_weight: float) -> torch.Tensor:
    """Per-image loss (N,) of colour images ``x`` (N, 3, H, W) under decoder ``logits``: the squared
    error **averaged** over pixels plus ``ssim_weight * (1 - SSIM)`` (SSIM with data range 1)."""
    image = torch.sigmoid(logits)
    mse = (image - x).pow(2).flatten(1).mean(1)
    return mse + ssim_weight * (1 - ssim(image, x, data_range=1.0, size_average=False))


def psnr_per_image(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio of each image of ``x_hat`` against ``x`` (both in [0, 1]), in dB: shape (N,).
    ``10 log10(1 / MSE)`` with the MSE of each image on its own (data range 1)."""
    mse = (x_hat - x).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(1.0 / mse)


def code_mean_and_covariance(codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (D,) and covariance (D, D) of codes (N, ...) flattened to D numbers each (divided by N)."""
    flat = codes.flatten(1)
    mean = flat.mean(0)
    centred = flat - mean
    return mean, centred.T @ centred / len(flat)


def perturb_codes(codes: torch.Tensor, strength: float) -> torch.Tensor:
    """``z + strength * rms(z) * N(0, I)`` for each code z of ``codes`` (N, ...): zero-mean Gaussian noise
    whose amplitude is ``strength`` times the root mean square of that code's entries. Same shape."""
    rms = codes.pow(2).flatten(1).mean(1).sqrt().view(-1, *([1] * (codes.ndim - 1)))
    return codes + strength * rms * torch.randn_like(codes)


def power_normalize(z: torch.Tensor) -> torch.Tensor:
    """Scale each code of ``z`` (N, ...) to unit power, a mean square of 1 over its own entries. Same shape."""
    power = z.pow(2).flatten(1).mean(1).clamp_min(1e-8)
    return z / power.sqrt().view(-1, *([1] * (z.ndim - 1)))


def latent_noise(z: torch.Tensor, variance: float) -> torch.Tensor:
    """Power-normalise each code of ``z`` (N, ...), then add Gaussian noise of **variance** ``variance``
    (sigma**2; the standard deviation is its square root). Same shape."""
    return power_normalize(z) + math.sqrt(variance) * torch.randn_like(z)


# ----------------------------------------------------------------------------- Lab 3

def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """A differentiable sample z ~ N(mu, exp(logvar)): ``mu + exp(logvar / 2) * eps``, eps ~ N(0, I)."""
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) of each sample, summed over the latent dimensions: shape (N,), nats."""
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).flatten(1).sum(1)


def negative_elbo(logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """The negative ELBO of each image (N,), in nats: the BCE summed over pixels plus the KL term."""
    return bce_per_image(logits, x) + kl_divergence(mu, logvar)


def condition_on_label(h: torch.Tensor, y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Append the one-hot label to each row of ``h`` (N, D): shape (N, D + num_classes), ``h``'s dtype.
    ``y``: int64 labels (N,) in 0..num_classes-1. The CVAE's encoder input and its decoder input."""
    return torch.cat([h, F.one_hot(y, num_classes).to(h.dtype)], dim=1)


def prior_samples(model: nn.Module, n: int) -> torch.Tensor:
    """``n`` images (n, C, H, W) in [0, 1], on the CPU, decoded (in eval mode) from codes z ~ N(0, I) of
    ``model.latent_shape``, drawn on the CPU."""
    z = torch.randn(n, *model.latent_shape).to(next(model.parameters()).device)
    with torch.no_grad():
        with eval_mode(model):
            return torch.sigmoid(model.decode(z)).cpu()


def median_radius_by_class(codes: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """The median distance from the origin (the prior's centre) of the codes (N, D) of each class 0..num_classes-1:
    shape (num_classes,)."""
    radius = codes.norm(dim=1)
    return torch.stack([radius[labels == k].median() for k in range(num_classes)])


# ----------------------------------------------------------------------------- Lab 3b

def gaussian_negative_elbo(logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                           sigma: float) -> torch.Tensor:
    """The negative ELBO (N,) of photos ``x`` whose pixels are N(sigmoid(logits), sigma**2): the squared
    error summed over pixels over ``2 * sigma**2`` (the constant log(sqrt(2 pi) sigma) per pixel left out),
    plus the KL term. In nats per image."""
    squared_error = (torch.sigmoid(logits) - x).pow(2).flatten(1).sum(1)
    return squared_error / (2 * sigma ** 2) + kl_divergence(mu, logvar)


# ----------------------------------------------------------------------------- Lab 4

def generate_from_codes(model: nn.Module, class_codes: torch.Tensor, n: int, scale: float) -> torch.Tensor:
    """``n`` new images (n, C, H, W) in [0, 1] like those of one class: pick ``n`` of the class's codes
    ``class_codes`` (M, ...) at random (with replacement), :func:`perturb_codes` them by ``scale``, decode."""
    picked = class_codes[torch.randint(len(class_codes), (n,))]
    with torch.no_grad():
        codes = perturb_codes(picked, scale).to(next(model.parameters()).device)
        with eval_mode(model):
            return torch.sigmoid(model.decode(codes)).cpu()
