"""Shared recipes: the data sets, networks and training configurations that more than one
notebook or benchmark uses, each defined once (like nanoGPT's config files).

Every function reads the active profile (:func:`aecore.config.choose`) when it is called,
so the same call gives the quick settings under ``AECORE_PROFILE=quick`` and the real lab
settings otherwise. Each ``TrainConfig`` takes its seed from ``AECORE_SEED``. A recipe's
values are part of the model cache keys: changing one retrains the models built from it.

The configs hold the optimisation only; the objectives are functions (:mod:`aecore.objectives`),
which the labs write themselves from :mod:`aecore.lessons`. The ``*_objective`` functions here are
the same objectives for the benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from typing import Mapping

from . import datasets, models, objectives
from .classifier import DigitClassifier
from .config import choose
from .datasets import LabelledImages
from .train import History, Loss, TrainConfig, fit_or_load

# ------------------------------------------------------------------ MNIST (Labs 1 and 3)

DENOISING_NOISE = 0.4          # Lab 1: x + 0.4 * N(0, 1), clipped to [0, 1]
VAE_HIDDEN = (512,)            # Lab 3: chosen by its hyper-parameter study (task 5)
VAE_LR = 3e-3


def mnist_sets() -> tuple[LabelledImages, LabelledImages]:
    """(train, test) MNIST digits for Labs 1 and 3: 60,000 / 10,000 (full) or 10,000 / 1,000 (quick)."""
    train = datasets.load_mnist("train", download=True, limit=choose(quick=10_000, full=None))
    test = datasets.load_mnist("test", download=True, limit=choose(quick=1000, full=None))
    return train, test


def digit_autoencoder(latent_dim: int = 2) -> models.MLPAutoencoder:
    """Lab 1's 784-512-256-``latent_dim`` autoencoder."""
    return models.MLPAutoencoder(hidden=(512, 256), latent_dim=latent_dim)


def lab1_config() -> TrainConfig:
    """Lab 1's training (every model of the lab): Adam, lr 1e-3; 20 epochs of batch 128 (full) or 3 of batch 64
    (quick)."""
    return TrainConfig(epochs=choose(quick=3, full=20), batch_size=choose(quick=64, full=128), lr=1e-3)


def denoising_objective() -> Loss:
    """Lab 1's denoising objective: the summed BCE of the clean digit rebuilt from clipped input noise of
    factor :data:`DENOISING_NOISE`."""
    return partial(objectives.denoising_bce, noise_factor=DENOISING_NOISE)


def digit_classifier_config() -> TrainConfig:
    """The digit classifier (the yardstick of Labs 1 and 3), trained with cross-entropy: 3 epochs (full) or 1
    (quick)."""
    return TrainConfig(epochs=choose(quick=1, full=3), batch_size=128)


def digit_classifier(train_set: LabelledImages, seed: int | None = None) -> tuple[DigitClassifier, History]:
    """The digit classifier of Labs 1 and 3, trained on ``train_set`` (or loaded from the cache): (model, history).
    ``seed`` overrides the config's seed (default: ``AECORE_SEED``).

    It is trained without a validation set, so its cache key depends on the training digits and
    :func:`digit_classifier_config` only: every lab that uses :func:`mnist_sets` shares one model,
    whatever test set it measures with.
    """
    model = DigitClassifier()
    config = digit_classifier_config() if seed is None else replace(digit_classifier_config(), seed=seed)
    history = fit_or_load("mnist-classifier", model, train_set, None, config, loss=objectives.cross_entropy)
    return model, history


@dataclass(frozen=True)
class Lab3Settings:
    """What Lab 3 (``03_mnist_vae``) runs in one profile; the notebook picks one with ``choose``."""

    side_epochs: int
    """Epochs of each of task 1's two VAEs (BCE summed vs averaged over the pixels)."""
    vae2_epochs: int
    """Epochs of task 4's 2-D VAE."""
    n_samples: int
    """How many z ~ N(0, I) task 3 decodes with the VAE and the AE and rates with the classifier."""
    n_per_digit: int
    """How many CVAE samples task 3 draws per digit (the same codes for every digit)."""
    sweep_train: int | None
    """Training digits of task 5's hyper-parameter study (None: all of its 5/6 split)."""
    sweep_val: int | None
    """Validation digits of task 5's study (None: all of its 1/6 split)."""
    sweep_epochs: int
    """Epochs of each of task 5's 18 runs."""


def lab3_config() -> TrainConfig:
    """Lab 3's training of its main AE, VAE and CVAE (tasks 2 and 3): lr :data:`VAE_LR`, batch 128, 12 epochs
    (full) or 2 (quick)."""
    return TrainConfig(epochs=choose(quick=2, full=12), batch_size=128, lr=VAE_LR)


# --------------------------------------------------------------- Stanford Dogs (Labs 2, 3b)

PLAIN_DOGS_ARCHITECTURE = dict(channels=(32, 64, 128), blocks=0)
"""Lab 2's first design, nearly linear (no activation between the stages); Lab 3b's network."""
DOGS_ARCHITECTURE = dict(PLAIN_DOGS_ARCHITECTURE, stage_activations=True)
"""Lab 2's network: the plain design with batch norm + SiLU after every inner convolution."""


def dogs_sets() -> tuple[LabelledImages, LabelledImages]:
    """(train, test) dog photos, 64x64: the ``AECORE_DOGS`` budget (2,430 / 270 photos by default); quick: 256 / 64."""
    train = datasets.load_dogs("train", download=True, limit=choose(quick=256, full=None))
    test = datasets.load_dogs("test", limit=choose(quick=64, full=None))
    return train, test


def dogs_autoencoder(latent_noise: float | None = 0.0, latent_channels: int = 16,
                     architecture: dict | None = None) -> models.ConvAutoencoder:
    """Lab 2's convolutional autoencoder (8x8x``latent_channels`` code, power-normalised, latent noise sigma**2);
    ``architecture``: the ``ConvAutoencoder`` design, :data:`DOGS_ARCHITECTURE` unless given (Lab 3b:
    :data:`PLAIN_DOGS_ARCHITECTURE`)."""
    return models.ConvAutoencoder(**(DOGS_ARCHITECTURE if architecture is None else architecture),
                                  latent_channels=latent_channels, latent_noise=latent_noise)


@dataclass(frozen=True)
class Lab3bSettings:
    """What Lab 3b (``03b_dogs_ae_vs_vae``) runs in one profile; the notebook picks one with ``choose``."""

    epochs: int
    """Epochs of each of the six dog models (AE and VAE at three code sizes); Lab 2 trains 10."""


DOGS_SSIM_WEIGHT = 0.05
"""Lab 2's objective: the per-pixel MSE + DOGS_SSIM_WEIGHT * (1 - SSIM)."""


def plain_dogs_config(epochs: int | None = None) -> TrainConfig:
    """Lab 2's first recipe (Lab 3b's): Adam with batch 8 and lr 1e-3, cosine schedule, random flips (trained with
    the MSE, :func:`aecore.objectives.reconstruction_mse`); ``epochs`` defaults to 10 (full) or 1 (quick)."""
    return TrainConfig(epochs=choose(quick=1, full=10) if epochs is None else epochs, batch_size=8, lr=1e-3, hflip=True,
                       lr_schedule="cosine")


def dogs_config(epochs: int | None = None) -> TrainConfig:
    """Lab 2's recipe (``benchmarks/lab2_architecture.py`` chose it): :func:`plain_dogs_config` with lr 3e-3
    reached by a linear warm-up over the first 5 % of the steps; trained with :func:`dogs_objective`."""
    return replace(plain_dogs_config(epochs), lr=3e-3, warmup=0.05)


def dogs_objective() -> Loss:
    """Lab 2's objective: MSE + :data:`DOGS_SSIM_WEIGHT` * (1 - SSIM) (:func:`aecore.objectives.mse_ssim`)."""
    return partial(objectives.mse_ssim, ssim_weight=DOGS_SSIM_WEIGHT)


# ------------------------------------------------------------------------ Wafer maps (Lab 4)

@dataclass(frozen=True)
class WaferSettings:
    """What Lab 4 (``04_wafer_maps``) runs in one profile; the notebook picks one with ``choose``."""

    counts: Mapping[str, int]
    """Synthetic maps per class, used when WM-811K's LSWMD.pkl is absent."""
    max_per_class: int
    """With the real WM-811K file: at most this many maps per class (a seeded subset)."""
    ae_epochs: int
    """Epochs of the wafer-map autoencoder."""
    classifier_epochs: int
    """Epochs of each of the two classifiers (without and with generated maps)."""
    batch_size: int
    """Batch size of the autoencoder and the classifiers."""
    target: int
    """A class with fewer training maps is rare and topped up to this many with generated maps."""
    per_scale: int
    """Generated maps per class at each noise scale of task 3's scale table."""
