"""Lab 4 (``04_wafer_maps``): an autoencoder on wafer maps, generating maps of rare classes.

A value here is part of the cache keys of the lab's models: changing one retrains them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .. import classifier, models
from ..config import choose
from ..config import seed as config_seed
from ..datasets.wafer.synthetic import SYNTHETIC_COUNTS
from ..train import TrainConfig

NOTEBOOK = "04_wafer_maps"
"""The lab's notebook: ``notebooks/<NOTEBOOK>.ipynb`` (its place in the book is its name's sort order)."""
TITLE = "Wafer-map defect patterns"
"""The chapter's title: its notebook's first heading without "Lab N: "."""
TOPIC = ("A convolutional autoencoder on WM-811K wafer maps (or synthetic maps of the same nine defect patterns); "
         "generating maps of one class by adding noise to their codes; topping up the rare classes of a "
         "classifier's training set with them")
"""What the reader builds in it: one sentence for the book's lab table."""

SIZE = 32
"""Maps are resized to SIZE x SIZE pixels, one pixel per die position."""


@dataclass(frozen=True)
class Settings:
    """What Lab 4 (``04_wafer_maps``) runs in one profile (:func:`settings` picks one)."""

    counts: Mapping[str, int]
    """Synthetic training maps per class (imbalanced like WM-811K), used when WM-811K's LSWMD.pkl is absent."""
    held_out_per_class: int
    """Synthetic held-out test maps per class, drawn separately (seed :data:`HELD_OUT_SEED`)."""
    max_per_class: int
    """With the real WM-811K file: at most this many maps per class (a seeded subset)."""
    ae_epochs: int
    """Epochs of the wafer-map autoencoder."""
    classifier_epochs: int
    """Epochs of each classifier (without and with generated maps, at every classifier seed)."""
    classifier_seeds: int
    """How many training seeds the pair of classifiers is trained with (at least 2, for an interval)."""
    batch_size: int
    """Batch size of the autoencoder and the classifiers."""
    target: int
    """A class with fewer training maps is rare and topped up to this many with generated maps."""
    per_scale: int
    """Generated maps per class at each noise scale of task 3's scale table."""


QUICK = Settings(counts={name: max(6, n // 20) for name, n in SYNTHETIC_COUNTS.items()}, held_out_per_class=10,
                 max_per_class=40, ae_epochs=6, classifier_epochs=3, classifier_seeds=2, batch_size=16, target=30,
                 per_scale=20)
FULL = Settings(counts={name: 3 * n // 4 for name, n in SYNTHETIC_COUNTS.items()}, held_out_per_class=300,
                max_per_class=1000, ae_epochs=20, classifier_epochs=6, classifier_seeds=6, batch_size=64,
                target=500, per_scale=100)
"""The full profile's training maps are three quarters of :data:`SYNTHETIC_COUNTS` (what the training part of a
75/25 split of them held before); the held-out maps, 300 per class, pin every class's accuracy down to within
about ±6 points (95 % Wilson interval at 50 % accuracy, ±2.5 at 95 %) on one run, about ±1.5 points on the mean of
the four rare classes. Most of the spread of the rare classes' mean change over the classifier seeds comes from
training, not from the held-out maps: a classifier with generated maps finds between a third and a half of the
held-out Scratch maps depending on its seed. With :func:`classifier_config`'s cosine schedule the rare classes' mean
change has a standard deviation of 0.7 to 2.3 points over six classifier seeds (global seeds 0-5 and 7; 4.3 with the
constant learning rate used before), so six seeds pin that mean change down to within ±0.7 to ±2.4 points (95 %
t interval; benchmarks/results/claims.json)."""

HELD_OUT_SEED = 1
"""Seed of the synthetic held-out maps (the training maps are drawn with seed 0)."""


def settings() -> Settings:
    """The active profile's settings: :data:`QUICK` or :data:`FULL`."""
    return choose(quick=QUICK, full=FULL)


def autoencoder() -> models.ConvAutoencoder:
    """The wafer-map autoencoder: 1x32x32 maps, two stages of 16 and 32 channels, a 4x8x8 code."""
    return models.ConvAutoencoder(image_size=SIZE, in_channels=1, channels=(16, 32), latent_channels=4, blocks=0)


def train_config() -> TrainConfig:
    """The autoencoder's training (with the MSE): Adam, lr 2e-3, weight decay 1e-5, cosine schedule."""
    lab = settings()
    return TrainConfig(epochs=lab.ae_epochs, batch_size=lab.batch_size, lr=2e-3, weight_decay=1e-5,
                       lr_schedule="cosine")


def map_classifier(num_classes: int) -> classifier.ImageClassifier:
    """The classifier of ``num_classes`` defect patterns (width 16, 32x32 maps)."""
    return classifier.ImageClassifier(num_classes=num_classes, width=16, image_size=SIZE)


def classifier_seeds() -> list[int]:
    """The training seeds of the classifier pairs: ``n = settings().classifier_seeds`` consecutive seeds starting at
    ``n * AECORE_SEED`` (0, 1, ... at seed 0), so that runs with different global seeds share none."""
    n = settings().classifier_seeds
    return [n * config_seed() + i for i in range(n)]


def classifier_config(seed: int) -> TrainConfig:
    """The classifiers' training (with cross-entropy) at training seed ``seed``: Adam, lr 2e-3 along a cosine down to 0.

    The cosine schedule has the mean step of a constant lr 1e-3 but ends each run at rest: with a constant lr a
    classifier's last steps could drop a class it had learnt (one run found 82 % of the Random maps, its neighbours
    100 %), noise of training that the comparison with and without generated maps does not need."""
    lab = settings()
    return TrainConfig(epochs=lab.classifier_epochs, batch_size=lab.batch_size, lr=2e-3, lr_schedule="cosine",
                       seed=seed)


AE_RUN = "wafer-ae"
"""Cache name of the autoencoder."""


def classifier_run(seed: int) -> str:
    """Cache name of the classifier trained on the real training maps only, at training seed ``seed``
    (``"wafer-classifier-s0"``)."""
    return f"wafer-classifier-s{seed}"


def augmented_classifier_run(seed: int) -> str:
    """Cache name of the classifier trained with the rare classes topped up by generated maps (drawn with the same
    seed), at training seed ``seed`` (``"wafer-classifier-augmented-s0"``)."""
    return f"wafer-classifier-augmented-s{seed}"


TARGETS: dict = {}
"""The lab's quality targets (none yet)."""
