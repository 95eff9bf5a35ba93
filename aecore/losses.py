"""Per-image loss terms shared by the models' ``training_losses`` and the chapters.

Every function returns one value per image, shape (N,), in nats (or per-pixel squared
error for ``"mse"``), so that a mean over the batch is a per-image loss.
"""

from __future__ import annotations

import torch
from pytorch_msssim import ssim
from torch.nn import functional as F


def reconstruction_loss(logits: torch.Tensor, target: torch.Tensor, kind: str, sigma: float = 0.1) -> torch.Tensor:
    """Per-image reconstruction loss, shape (N,): ``"bce"`` summed over pixels, ``"mse"`` averaged,
    ``"gaussian"`` = squared error summed over pixels / (2 sigma**2).

    ``logits`` are decoder outputs (the image is ``sigmoid(logits)``); ``target`` images lie in [0, 1].
    """
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(logits, target, reduction="none").flatten(1).sum(1)
    if kind in ("mse", "gaussian"):
        squared_error = (torch.sigmoid(logits) - target).pow(2).flatten(1)
        return squared_error.mean(1) if kind == "mse" else squared_error.sum(1) / (2 * sigma ** 2)
    raise ValueError(f"unknown reconstruction loss {kind!r}; use 'bce', 'mse' or 'gaussian'")


def image_losses(logits: torch.Tensor, target: torch.Tensor, kind: str, ssim_weight: float = 0.0
                 ) -> dict[str, torch.Tensor]:
    """Per-image losses of an autoencoder's ``logits`` against ``target`` (each shape (N,)):
    ``loss`` = :func:`reconstruction_loss` ``kind``; with ``ssim_weight`` > 0 (``"mse"`` only)
    ``loss`` = MSE + ``ssim_weight`` * (1 - SSIM), and its parts ``mse`` and ``ssim`` too."""
    recon = reconstruction_loss(logits, target, kind)
    if ssim_weight <= 0:
        return {"loss": recon}
    if kind != "mse":
        raise ValueError(f"an SSIM term goes with the 'mse' loss only, not {kind!r}")
    # pytorch_msssim directly: aecore.metrics.ssim checks its inputs with a host sync, too slow for every step
    similarity = ssim(torch.sigmoid(logits).float(), target.float(), data_range=1.0, size_average=False)
    return {"loss": recon + ssim_weight * (1 - similarity), "mse": recon, "ssim": similarity}


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per sample, shape (N,), in nats (summed over all latent dimensions)."""
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).flatten(1).sum(dim=1)


def classification_losses(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """Cross-entropy of class ``logits`` (N, classes) against int64 ``labels`` (N,) as ``loss`` (nats),
    and ``acc`` (1.0 where the most probable class is right, else 0.0); each shape (N,)."""
    return {"loss": F.cross_entropy(logits, labels, reduction="none"), "acc": (logits.argmax(1) == labels).float()}
