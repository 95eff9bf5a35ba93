"""Noise: additive Gaussian input noise, and a layer that adds latent noise after power normalisation."""

from __future__ import annotations

import math

import torch
from torch import nn

from . import lessons
from .utils import check_number


def add_input_noise(x: torch.Tensor, factor: float, *, clip: bool = True,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """Return ``x + factor * N(0, 1)`` (same shape as ``x``), clipped to [0, 1] if ``clip``.

    ``factor`` is the standard deviation of the added noise (0.4 in the denoising lab).
    ``generator`` (a CPU generator) makes the noise reproducible on any device.
    """
    check_number("noise factor", factor, minimum=0)
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device) if generator is not None \
        else torch.randn_like(x)
    noisy = x + factor * noise
    return noisy.clamp(0.0, 1.0) if clip else noisy


def power_normalize(z: torch.Tensor) -> torch.Tensor:
    """Each code of ``z`` (N, ...) scaled to a mean square of 1 (:func:`aecore.lessons.power_normalize`, looked up
    when called)."""
    return lessons.power_normalize(z)


def snr_db(variance: float) -> float:
    """Signal-to-noise ratio in dB of unit-power codes with added noise of this variance."""
    return math.inf if variance == 0 else 10.0 * math.log10(1.0 / variance)


class PowerNormalizedLatentNoise(nn.Module):
    """Power-normalise each code to unit mean square, then add N(0, variance).

    ``variance`` is sigma**2 (the noise *variance*; the standard deviation is its square
    root). Noise is added in training mode; in eval mode only if ``noise_at_eval`` is
    True (switch it with :meth:`set_noise_at_eval`). Normalisation always happens.
    """

    def __init__(self, variance: float = 0.0, noise_at_eval: bool = False):
        super().__init__()
        check_number("latent noise variance", variance, minimum=0)
        self.variance = float(variance)
        self.noise_at_eval = noise_at_eval

    @property
    def std(self) -> float:
        """Standard deviation sigma = sqrt(variance)."""
        return math.sqrt(self.variance)

    def set_noise_at_eval(self, on: bool) -> None:
        """Choose whether noise is also added in eval mode."""
        self.noise_at_eval = on

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.variance > 0 and (self.training or self.noise_at_eval):
            return lessons.latent_noise(z, self.variance)
        return lessons.power_normalize(z)

    def extra_repr(self) -> str:
        return f"variance={self.variance}, snr_db={snr_db(self.variance):.1f}, noise_at_eval={self.noise_at_eval}"
