"""Image-quality metrics with an explicit data range: PSNR and SSIM (plus total variation, a detail measure).

Both take batches shaped (N, C, H, W) whose values lie in [0, data_range]; both raise a
``ValueError`` on mismatched shapes, empty batches, NaN/inf or out-of-range values rather
than return a misleading number. A classic mistake, computing PSNR of [0, 1] images with
a data range of 255 (which adds 48 dB), cannot be told apart from dark 8-bit images, so
it only gives a ``UserWarning``.
"""

from __future__ import annotations

import math
import warnings

import torch
from pytorch_msssim import ssim as _ssim

_TOLERANCE = 1e-4


def _check_pair(x: torch.Tensor, y: torch.Tensor, data_range: float) -> None:
    """Raise ValueError for mismatched, non-batch or empty inputs, NaN/inf values, a bad ``data_range`` or values
    outside [0, data_range]; warn when ``data_range`` > 1 although both inputs lie in [0, 1]."""
    if x.shape != y.shape:
        raise ValueError(f"shape mismatch: {tuple(x.shape)} vs {tuple(y.shape)}")
    if x.ndim != 4:
        raise ValueError(f"expected a batch shaped (N, C, H, W), got {tuple(x.shape)}")
    if x.numel() == 0:
        raise ValueError(f"empty batch {tuple(x.shape)}: pass at least one image with at least one pixel")
    if not (math.isfinite(data_range) and data_range > 0):
        raise ValueError(f"data_range must be a positive finite number, got {data_range}")
    highest = 0.0
    for name, t in (("first", x), ("second", y)):
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} input has {int((~torch.isfinite(t)).sum())} NaN or infinite values; "
                             "the metric would be NaN. Find where they come from (e.g. a diverged model).")
        lo, hi = (float(v) for v in torch.aminmax(t.detach()))
        if lo < -_TOLERANCE or hi > data_range + _TOLERANCE:
            raise ValueError(
                f"{name} input has values in [{lo:.4g}, {hi:.4g}], outside the declared range "
                f"[0, {data_range}]; clip the images or pass the right data_range."
            )
        highest = max(highest, hi)
    if data_range > 1 and highest <= 1:
        warnings.warn(
            f"data_range={data_range}, but both inputs lie in [0, 1]: they are probably [0, 1] images, so PSNR "
            f"comes out {20 * math.log10(data_range):.1f} dB too high (and SSIM too close to 1). "
            "Pass data_range=1.0.", stacklevel=3)


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Per-image PSNR in dB, shape (N,): 10 * log10(data_range**2 / MSE_i).

    Identical images give ``inf``. Inputs may live on any device (computed in float64 on the CPU,
    since Apple MPS has no float64).
    """
    _check_pair(x, y, data_range)
    mse = (x.detach().cpu().double() - y.detach().cpu().double()).pow(2).flatten(1).mean(dim=1)
    return (10.0 * torch.log10(data_range**2 / mse)).float()


def mean_psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> float:
    """Mean over the set of the per-image PSNR in dB (a Python float)."""
    return float(psnr(x, y, data_range).mean())


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Per-image SSIM, shape (N,), Gaussian window 11 / sigma 1.5 (``pytorch_msssim``).

    Images must be at least 11 pixels on each side.
    """
    _check_pair(x, y, data_range)
    if min(x.shape[-2:]) < 11:
        raise ValueError(f"SSIM needs images of at least 11x11 pixels, got {tuple(x.shape[-2:])}")
    return _ssim(x.float(), y.float(), data_range=data_range, size_average=False)


def mean_ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> float:
    """Mean SSIM over the set (a Python float)."""
    return float(ssim(x, y, data_range).mean())


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Per-image mean absolute difference between neighbouring pixels, shape (N,).

    Averaged over channels and over all horizontal and vertical neighbour pairs of a batch
    (N, C, H, W): a measure of fine detail and speckle. A flat image gives 0; in the
    units of the pixel values (for [0, 1] images, at most 1).
    """
    if x.ndim != 4 or min(x.shape[-2:]) < 2:
        raise ValueError(f"expected a batch shaped (N, C, H, W) with H, W >= 2, got {tuple(x.shape)}")
    x = x.detach().cpu().float()
    vertical = (x[..., 1:, :] - x[..., :-1, :]).abs().flatten(1)
    horizontal = (x[..., :, 1:] - x[..., :, :-1]).abs().flatten(1)
    return torch.cat([vertical, horizontal], dim=1).mean(dim=1)
