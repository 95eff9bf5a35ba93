"""Lab 1 (``01_mnist_autoencoder``): an MLP autoencoder on MNIST, denoising, L2 regularisation.

Its digits and digit classifier are :mod:`aecore.labs.common`'s (shared with Lab 3). A value
here is part of the cache keys of the lab's models: changing one retrains them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from .. import models, objectives
from ..config import choose
from ..train import Loss, TrainConfig

NOTEBOOK = "01_mnist_autoencoder"
"""The lab's notebook: ``notebooks/<NOTEBOOK>.ipynb`` (its place in the book is its name's sort order)."""
TITLE = "An MNIST autoencoder"
"""The chapter's title: its notebook's first heading without "Lab N: "."""
TOPIC = ("A deep MLP autoencoder with a 2-D bottleneck trained with binary cross-entropy; denoising (noise factor "
         "0.4); decoding a uniform grid over the latent plane; L2 regularisation")
"""What the reader builds in it: one sentence for the book's lab table."""

LR = 1e-3
"""Adam's learning rate for every model of the lab."""
DENOISING_NOISE = 0.4
"""Task 3's input noise: x + 0.4 * N(0, 1), clipped to [0, 1]."""


@dataclass(frozen=True)
class Settings:
    """What Lab 1 (``01_mnist_autoencoder``) runs in one profile (:func:`settings` picks one)."""

    epochs: int
    """Epochs of every model of the lab."""
    batch_size: int
    """Batch size of every model of the lab."""


QUICK = Settings(epochs=3, batch_size=64)
FULL = Settings(epochs=20, batch_size=128)


def settings() -> Settings:
    """The active profile's settings: :data:`QUICK` or :data:`FULL`."""
    return choose(quick=QUICK, full=FULL)


def train_config() -> TrainConfig:
    """The training of every model of the lab (their objectives differ): Adam with lr :data:`LR`, 20 epochs of
    batch 128 (full) or 3 of batch 64 (quick)."""
    lab = settings()
    return TrainConfig(epochs=lab.epochs, batch_size=lab.batch_size, lr=LR)


def autoencoder(latent_dim: int = 2) -> models.MLPAutoencoder:
    """The lab's 784-512-256-``latent_dim`` autoencoder."""
    return models.MLPAutoencoder(hidden=(512, 256), latent_dim=latent_dim)


def denoising_objective() -> Loss:
    """The denoising objective of the benchmarks: the summed BCE of the clean digit rebuilt from clipped input
    noise of factor :data:`DENOISING_NOISE` (the chapter writes its own, ``denoising_loss``)."""
    return partial(objectives.denoising_bce, noise_factor=DENOISING_NOISE)


def ae_run(latent_dim: int) -> str:
    """Cache name of the BCE autoencoder with a ``latent_dim`` code: ``"mnist-ae-2d"``."""
    return f"mnist-ae-{latent_dim}d"


def dae_run(latent_dim: int) -> str:
    """Cache name of the denoiser with a ``latent_dim`` code: ``"mnist-dae-32d"``."""
    return f"mnist-dae-{latent_dim}d"


def l2_run(kind: str, strength: float) -> str:
    """Cache name of task 4's 2-D autoencoder with L2 of ``kind`` ``"weight_decay"`` or ``"l2_penalty"`` at
    ``strength``: ``"mnist-ae-2d-weight_decay0.001"``."""
    return f"{ae_run(2)}-{kind}{strength:g}"


MSE_RUN = "mnist-ae-2d-mse"
"""Cache name of the 2-D autoencoder trained with the MSE (task 5)."""

TARGETS = {  # quantity -> (label, comparison, target, format)
    "lab1_test_bce": ("Lab 1: 2-D AE test BCE (nats/img)", "<=", 132.0, ".1f"),
    "lab1_psnr_den2": ("Lab 1: 2-D denoiser test PSNR (dB)", ">=", 14.5, ".2f"),
    "lab1_psnr_den32": ("Lab 1: 32-D denoiser test PSNR (dB)", ">=", 20.0, ".2f"),
}
"""The lab's quality targets, checked over seeds by ``benchmarks/quality_targets.py``."""
