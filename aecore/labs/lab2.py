"""Lab 2 (``02_dogs_conv_autoencoder``): a convolutional autoencoder on dog photos, noise on its codes.

Its photos are :mod:`aecore.labs.common`'s (shared with Lab 3b). A value here is part of the
cache keys of the lab's models: changing one retrains them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from .. import models, objectives
from ..config import choose
from ..train import Loss, TrainConfig

NOTEBOOK = "02_dogs_conv_autoencoder"
"""The lab's notebook: ``notebooks/<NOTEBOOK>.ipynb`` (its place in the book is its name's sort order)."""
TITLE = "A convolutional autoencoder on dog photos"
"""The chapter's title: its notebook's first heading without "Lab N: "."""
TOPIC = ("Stanford Dogs photos at 64×64×3 compressed to an 8×8×16 code; Gaussian sampling from latent statistics; "
         "latent perturbation; training with noise on power-normalised codes")
"""What the reader builds in it: one sentence for the book's lab table."""

PLAIN_ARCHITECTURE: dict[str, Any] = dict(channels=(32, 64, 128), blocks=0)
"""The lab's first design, nearly linear (no activation between the stages); Lab 3b's network."""
ARCHITECTURE: dict[str, Any] = dict(PLAIN_ARCHITECTURE, stage_activations=True)
"""The lab's network: the plain design with batch norm + SiLU after every inner convolution."""
SSIM_WEIGHT = 0.05
"""The lab's objective: the per-pixel MSE + SSIM_WEIGHT * (1 - SSIM)."""


@dataclass(frozen=True)
class Settings:
    """What Lab 2 (``02_dogs_conv_autoencoder``) runs in one profile (:func:`settings` picks one)."""

    epochs: int
    """Epochs of every model of the lab (and of Lab 3b's recipe unless it gives its own)."""


QUICK = Settings(epochs=1)
FULL = Settings(epochs=10)


def settings() -> Settings:
    """The active profile's settings: :data:`QUICK` or :data:`FULL`."""
    return choose(quick=QUICK, full=FULL)


def autoencoder(latent_noise: float | None = 0.0, latent_channels: int = 16,
                architecture: dict | None = None) -> models.ConvAutoencoder:
    """The lab's convolutional autoencoder (8x8x``latent_channels`` code, power-normalised, latent noise sigma**2);
    ``architecture``: the ``ConvAutoencoder`` design, :data:`ARCHITECTURE` unless given (Lab 3b:
    :data:`PLAIN_ARCHITECTURE`)."""
    return models.ConvAutoencoder(**(ARCHITECTURE if architecture is None else architecture),
                                  latent_channels=latent_channels, latent_noise=latent_noise)


def plain_config(epochs: int | None = None) -> TrainConfig:
    """The lab's first recipe (Lab 3b's): Adam with batch 8 and lr 1e-3, cosine schedule, random flips (trained
    with the MSE, :func:`aecore.objectives.reconstruction_mse`); ``epochs`` defaults to the settings' (10 full,
    1 quick)."""
    return TrainConfig(epochs=settings().epochs if epochs is None else epochs, batch_size=8, lr=1e-3, hflip=True,
                       lr_schedule="cosine")


def train_config(epochs: int | None = None) -> TrainConfig:
    """The lab's recipe (``benchmarks/lab2_architecture.py`` chose it): :func:`plain_config` with lr 3e-3
    reached by a linear warm-up over the first 5 % of the steps; trained with :func:`objective`."""
    return replace(plain_config(epochs), lr=3e-3, warmup=0.05)


def objective() -> Loss:
    """The lab's objective for the benchmarks: MSE + :data:`SSIM_WEIGHT` * (1 - SSIM)
    (:func:`aecore.objectives.mse_ssim`; the chapter writes its own, ``dogs_loss``)."""
    return partial(objectives.mse_ssim, ssim_weight=SSIM_WEIGHT)


def noise_run(variance: float) -> str:
    """Cache name of the network trained with latent noise ``variance`` (sigma**2): ``"dogs-cae-noise0.05"``,
    and ``"dogs-cae-noise0"`` for the baseline."""
    return f"dogs-cae-noise{variance:g}"


TARGETS = {  # quantity -> (label, comparison, target, format)
    "lab2_test_psnr": ("Lab 2: σ² = 0 baseline test PSNR (dB)", ">=", 25.0, ".2f"),
}
"""The lab's quality targets, checked over seeds by ``benchmarks/quality_targets.py``."""
