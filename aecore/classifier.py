"""A small CNN image classifier: a yardstick for what decoded images look like.

Used to measure latent spaces (how much of a decoded grid looks like a confident
digit), generated samples (does a CVAE draw the digit it was asked for?) and the
benefit of generated training data (wafer maps).
"""

from __future__ import annotations

import torch
from torch import nn

from .models import Model
from .utils import apply_model


class ImageClassifier(Model):
    """Two conv blocks + MLP head for square images (in_channels x image_size x image_size) in [0, 1].

    ``forward`` returns logits (N, classes). Trained with ``loss=aecore.objectives.cross_entropy``.
    ``image_size`` must be divisible by 4 (two 2x2 max-poolings).
    """

    def __init__(self, num_classes: int = 10, width: int = 32, in_channels: int = 1, image_size: int = 28):
        super().__init__()
        if image_size % 4:
            raise ValueError(f"image_size must be divisible by 4, got {image_size}")
        side = image_size // 4
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Dropout(0.25), nn.Linear(2 * width * side * side, 128), nn.ReLU(),
            nn.Dropout(0.25), nn.Linear(128, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images (N, in_channels, image_size, image_size) -> class logits (N, num_classes)."""
        return self.net(x)


class DigitClassifier(ImageClassifier):
    """:class:`ImageClassifier` for 1x28x28 MNIST digits; about 99 % test accuracy after 3 epochs."""

    def __init__(self, num_classes: int = 10, width: int = 32):
        super().__init__(num_classes, width)


def predict_proba(model: nn.Module, images: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
    """Class probabilities (N, classes) on the CPU, computed in eval mode in batches of ``batch_size``
    images (by default :func:`~aecore.utils.inference_batch_size`)."""
    return apply_model(model, lambda x: torch.softmax(model(x), dim=1), images, batch_size=batch_size)  # type: ignore[return-value]  # fn returns one tensor


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of ``images`` whose most probable class equals ``labels`` (0..1)."""
    return float((predict_proba(model, images).argmax(1) == labels.cpu()).float().mean())


def confident_share(probabilities: torch.Tensor, threshold: float = 0.9) -> float:
    """Share of rows whose top class probability is at least ``threshold`` (0..1)."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    return float((probabilities.max(dim=1).values >= threshold).float().mean())
