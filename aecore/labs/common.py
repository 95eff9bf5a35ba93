"""What several labs share: the MNIST digits and the digit classifier (Labs 1 and 3) and the dog
photos (Labs 2 and 3b).

Every function reads the active profile (:func:`aecore.config.choose`) when it is called. A
value here is part of the model cache keys of every lab that uses it: changing one retrains them.
"""

from __future__ import annotations

from dataclasses import replace

from .. import datasets, objectives
from ..classifier import DigitClassifier
from ..config import choose
from ..datasets import LabelledImages
from ..train import History, TrainConfig, fit_or_load

CLASSIFIER_RUN = "mnist-classifier"
"""The cache name of the digit classifier of Labs 1 and 3."""


def mnist_sets() -> tuple[LabelledImages, LabelledImages]:
    """(train, test) MNIST digits for Labs 1 and 3: 60,000 / 10,000 (full) or 10,000 / 1,000 (quick)."""
    train = datasets.load_mnist("train", download=True, limit=choose(quick=10_000, full=None))
    test = datasets.load_mnist("test", download=True, limit=choose(quick=1000, full=None))
    return train, test


def classifier_config() -> TrainConfig:
    """The digit classifier (the yardstick of Labs 1 and 3), trained with cross-entropy: 3 epochs (full) or 1
    (quick), batch 128."""
    return TrainConfig(epochs=choose(quick=1, full=3), batch_size=128)


def digit_classifier(train_set: LabelledImages, seed: int | None = None) -> tuple[DigitClassifier, History]:
    """The digit classifier of Labs 1 and 3, trained on ``train_set`` (or loaded from the cache): (model, history).
    ``seed`` overrides the config's seed (default: ``AECORE_SEED``).

    It is trained without a validation set, so its cache key depends on the training digits and
    :func:`classifier_config` only: every lab that uses :func:`mnist_sets` shares one model,
    whatever test set it measures with.
    """
    model = DigitClassifier()
    config = classifier_config() if seed is None else replace(classifier_config(), seed=seed)
    history = fit_or_load(CLASSIFIER_RUN, model, train_set, None, config, loss=objectives.cross_entropy)
    return model, history


def dogs_sets() -> tuple[LabelledImages, LabelledImages]:
    """(train, test) dog photos of Labs 2 and 3b, 64x64: the ``AECORE_DOGS`` budget (2,430 / 270 photos by
    default); quick: 256 / 64."""
    train = datasets.load_dogs("train", download=True, limit=choose(quick=256, full=None))
    test = datasets.load_dogs("test", limit=choose(quick=64, full=None))
    return train, test
