"""Lab 3 (``03_mnist_vae``): variational and conditional autoencoders on MNIST.

Its digits and digit classifier are :mod:`aecore.labs.common`'s (Lab 1's, so the cached
classifier is reused). A value here is part of the cache keys of the lab's models: changing one
retrains them. The objectives (``vae_loss``, ``cvae_loss``) are written by the chapter itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import models
from ..config import choose
from ..train import TrainConfig

NOTEBOOK = "03_mnist_vae"
"""The lab's notebook: ``notebooks/<NOTEBOOK>.ipynb`` (its place in the book is its name's sort order)."""
TITLE = "Variational and conditional autoencoders on MNIST"
"""The chapter's title: its notebook's first heading without "Lab N: "."""
TOPIC = ("VAE and conditional VAE on MNIST: the ELBO and why the BCE is summed, sampling measured with a digit "
         "classifier, a 2-D latent space, a hyper-parameter sweep")
"""What the reader builds in it: one sentence for the book's lab table."""

LATENT = 10
"""Latent size of the AE, VAE and CVAE of tasks 1, 2, 3 and 5."""
HIDDEN, LR = (400,), 1e-3
"""The standard 784-400-… VAE: tasks 1 and 4."""
CHOSEN_HIDDEN, CHOSEN_LR = (512,), 3e-3
"""Chosen by the hyper-parameter study of task 5: the networks and training of tasks 2 and 3."""
BATCH_SIZE = 128
"""Batch size of every model of the lab."""
SWEEP_HIDDEN, SWEEP_LR = (256, 512), (3e-4, 1e-3, 3e-3)
"""Task 5's grid: hidden widths and learning rates."""


@dataclass(frozen=True)
class Settings:
    """What Lab 3 (``03_mnist_vae``) runs in one profile (:func:`settings` picks one)."""

    side_epochs: int
    """Epochs of each of task 1's two VAEs (BCE summed vs averaged over the pixels)."""
    main_epochs: int
    """Epochs of tasks 2 and 3's AE, VAEs and CVAE."""
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


QUICK = Settings(side_epochs=1, main_epochs=2, vae2_epochs=2, n_samples=200, n_per_digit=20, sweep_train=2000,
                 sweep_val=500, sweep_epochs=1)
FULL = Settings(side_epochs=5, main_epochs=12, vae2_epochs=15, n_samples=1000, n_per_digit=100, sweep_train=None,
                sweep_val=None, sweep_epochs=2)


def settings() -> Settings:
    """The active profile's settings: :data:`QUICK` or :data:`FULL`."""
    return choose(quick=QUICK, full=FULL)


def side_config() -> TrainConfig:
    """Task 1's training of its two VAEs: lr :data:`LR`, batch 128, ``side_epochs``."""
    return TrainConfig(epochs=settings().side_epochs, batch_size=BATCH_SIZE, lr=LR)


def train_config() -> TrainConfig:
    """The training of the main AE, VAEs and CVAE (tasks 2 and 3): lr :data:`CHOSEN_LR`, batch 128,
    ``main_epochs`` (12 full, 2 quick)."""
    return TrainConfig(epochs=settings().main_epochs, batch_size=BATCH_SIZE, lr=CHOSEN_LR)


def vae2_config() -> TrainConfig:
    """Task 4's training of its 2-D VAE: lr :data:`LR`, batch 128, ``vae2_epochs``."""
    return TrainConfig(epochs=settings().vae2_epochs, batch_size=BATCH_SIZE, lr=LR)


def sweep_config(lr: float) -> TrainConfig:
    """Task 5's training of one run of the study at learning rate ``lr``: batch 128, ``sweep_epochs``."""
    return TrainConfig(epochs=settings().sweep_epochs, batch_size=BATCH_SIZE, lr=lr)


def side_vae(latent_dim: int = LATENT) -> models.VAE:
    """Task 1's (and, 2-D, task 4's) standard VAE: 784-400-``latent_dim``."""
    return models.VAE(hidden=HIDDEN, latent_dim=latent_dim)


def autoencoder(latent_dim: int = LATENT) -> models.MLPAutoencoder:
    """Task 2's plain autoencoder: 784-512-``latent_dim`` (:data:`CHOSEN_HIDDEN`)."""
    return models.MLPAutoencoder(hidden=CHOSEN_HIDDEN, latent_dim=latent_dim)


def vae(latent_dim: int = LATENT) -> models.VAE:
    """Task 2's VAE: 784-512-``latent_dim`` (:data:`CHOSEN_HIDDEN`)."""
    return models.VAE(hidden=CHOSEN_HIDDEN, latent_dim=latent_dim)


def cvae(latent_dim: int = LATENT) -> models.ConditionalVAE:
    """Task 2's conditional VAE: 784+10-512-``latent_dim`` (:data:`CHOSEN_HIDDEN`)."""
    return models.ConditionalVAE(hidden=CHOSEN_HIDDEN, latent_dim=latent_dim)


def side_run(reduction: str) -> str:
    """Cache name of task 1's VAE whose BCE is reduced by ``reduction`` (``"sum"`` or ``"mean"``):
    ``"mnist-vae-10d-sum"``."""
    return f"mnist-vae-{LATENT}d-{reduction}"


def main_run(kind: str, latent_dim: int = LATENT) -> str:
    """Cache name of a model of tasks 2 and 3, ``kind`` ``"ae"``, ``"vae"`` or ``"cvae"``:
    ``"mnist-vae-20d-h512"``."""
    return f"mnist-{kind}-{latent_dim}d-h{CHOSEN_HIDDEN[0]}"


VAE2_RUN = "mnist-vae-2d"
"""Cache name of task 4's 2-D VAE."""


def sweep_run(kind: str, hidden: int, lr: float) -> str:
    """Cache name of one run of task 5's study, ``kind`` ``"AE"``, ``"VAE"`` or ``"CVAE"``:
    ``"mnist-sweep-vae-h512-lr0.003"``."""
    return f"mnist-sweep-{kind.lower()}-h{hidden}-lr{lr:g}"


TARGETS = {  # quantity -> (label, comparison, target, format)
    "lab3_vae20_nelbo": ("Lab 3: 20-D VAE test −ELBO (nats/img)", "<=", 106.0, ".1f"),
    "lab3_cvae_share": ("Lab 3: CVAE samples read as the digit asked for (%)", ">=", 90.0, ".1f"),
    "lab3_classifier_accuracy": ("Lab 3: digit classifier test accuracy (%)", ">=", 98.0, ".2f"),
}
"""The lab's quality targets, checked over seeds by ``benchmarks/quality_targets.py``."""
