"""Lab 4 (``04_wafer_maps``): an autoencoder on wafer maps, generating maps of rare classes.

A value here is part of the cache keys of the lab's models: changing one retrains them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .. import classifier, models
from ..config import choose
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


QUICK = Settings(counts={name: max(6, n // 20) for name, n in SYNTHETIC_COUNTS.items()}, max_per_class=40,
                 ae_epochs=6, classifier_epochs=3, batch_size=16, target=30, per_scale=20)
FULL = Settings(counts=SYNTHETIC_COUNTS, max_per_class=1000, ae_epochs=20, classifier_epochs=15,
                batch_size=64, target=500, per_scale=100)


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


def classifier_config() -> TrainConfig:
    """The two classifiers' training (with cross-entropy): Adam, lr 1e-3."""
    lab = settings()
    return TrainConfig(epochs=lab.classifier_epochs, batch_size=lab.batch_size, lr=1e-3)


AE_RUN = "wafer-ae"
"""Cache name of the autoencoder."""
CLASSIFIER_RUN = "wafer-classifier"
"""Cache name of the classifier trained on the real training maps only."""
AUGMENTED_CLASSIFIER_RUN = "wafer-classifier-augmented"
"""Cache name of the classifier trained with the rare classes topped up by generated maps."""

TARGETS: dict = {}
"""The lab's quality targets (none yet)."""
