"""Lab 3b (``03b_dogs_ae_vs_vae``): autoencoder versus VAE on dog photos, at three code sizes.

Its photos are :mod:`aecore.labs.common`'s and its networks and recipe Lab 2's first
(:data:`aecore.labs.lab2.PLAIN_ARCHITECTURE`, :func:`aecore.labs.lab2.plain_config`). A value here is
part of the cache keys of the lab's models: changing one retrains them. The VAE's objective
(``vae_loss``) is written by the chapter itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import models
from ..config import choose
from ..train import TrainConfig
from . import lab2

NOTEBOOK = "03b_dogs_ae_vs_vae"
"""The lab's notebook: ``notebooks/<NOTEBOOK>.ipynb`` (its place in the book is its name's sort order)."""
TITLE = "Autoencoder versus VAE on dog photos"
"""The chapter's title: its notebook's first heading without "Lab N: "."""
TOPIC = ("Lab 3 continued: AE versus VAE on dog photos, the same encoder and decoder at three latent sizes "
         "(a Gaussian-likelihood ELBO), noise on the codes, samples of the prior")
"""What the reader builds in it: one sentence for the book's lab table."""

LATENT_CHANNELS = {"c4": 4, "c16": 16, "c64": 64}
"""Codes of 4, 16 or 64 maps of 8x8, by row id."""
SIGMA = 0.1
"""The VAE's fixed pixel noise (its Gaussian likelihood's standard deviation)."""


@dataclass(frozen=True)
class Settings:
    """What Lab 3b (``03b_dogs_ae_vs_vae``) runs in one profile (:func:`settings` picks one)."""

    epochs: int
    """Epochs of each of the six dog models (AE and VAE at three code sizes); Lab 2 trains 10."""


QUICK = Settings(epochs=1)
FULL = Settings(epochs=5)


def settings() -> Settings:
    """The active profile's settings: :data:`QUICK` or :data:`FULL`."""
    return choose(quick=QUICK, full=FULL)


def train_config() -> TrainConfig:
    """Lab 2's first recipe (:func:`aecore.labs.lab2.plain_config`) with the settings' epochs, for both kinds."""
    return lab2.plain_config(epochs=settings().epochs)


def autoencoder(latent_channels: int) -> models.ConvAutoencoder:
    """The AE: Lab 2's plain design with an 8x8x``latent_channels`` code, no latent noise."""
    return lab2.autoencoder(latent_noise=0.0, latent_channels=latent_channels,
                            architecture=lab2.PLAIN_ARCHITECTURE)


def vae(latent_channels: int) -> models.ConvVAE:
    """The VAE: the same encoder and decoder, an 8x8x``latent_channels`` code."""
    return models.ConvVAE(**lab2.PLAIN_ARCHITECTURE, latent_channels=latent_channels)


def run_name(kind: str, latent_channels: int) -> str:
    """Cache name of one model, ``kind`` ``"AE"`` or ``"VAE"``: ``"dogs-vae-c16"``."""
    return f"dogs-{kind.lower()}-c{latent_channels}"


TARGETS: dict = {}
"""The lab's quality targets (none yet)."""
