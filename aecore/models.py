"""Autoencoder networks: MLP and convolutional autoencoders, VAEs (MLP and convolutional), conditional VAE.

Conventions shared by every model here:

* inputs are image batches (N, C, H, W) with values in [0, 1];
* decoders return **logits**; ``torch.sigmoid(logits)`` is the reconstructed image in
  [0, 1] (:func:`reconstruct` does this). Logits let BCE be computed stably;
* ``encode``, ``decode`` and ``forward`` exist on every model. Variational models
  return ``(logits, mu, logvar)`` from ``forward`` and ``(mu, logvar)`` from ``encode``;
  conditional models also take the labels ``y`` (int64, shape (N,));
* ``model.hparams`` holds the constructor arguments, so a trained model can be
  identified (and cached) by its configuration.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from .noise import PowerNormalizedLatentNoise
from .utils import apply_in_batches, eval_mode, module_device


def _mlp(sizes: Sequence[int], final_activation: bool = False) -> nn.Sequential:
    """Linear layers with ReLU between them: sizes = (in, hidden..., out)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or final_activation:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _check_flat_input(model: nn.Module, x: torch.Tensor, image_shape: tuple[int, ...]) -> None:
    """Raise ValueError unless ``x`` is a batch shaped (N, *image_shape), the shape the MLP ``model`` was built for."""
    if tuple(x.shape[1:]) != tuple(image_shape):
        raise ValueError(
            f"{type(model).__name__} was built for images shaped {tuple(image_shape)} (image_shape), so it expects "
            f"batches (N, {', '.join(map(str, image_shape))}); got {tuple(x.shape)}. Build it with "
            f"image_shape={tuple(x.shape[1:])}, or resize the images.")


def _check_conv_input(model: nn.Module, x: torch.Tensor, in_channels: int, stages: int) -> None:
    """Raise ValueError unless ``x`` is (N, in_channels, H, W) with H, W multiples of 2**stages (one halving per stage)."""
    factor = 2 ** stages
    if x.ndim != 4 or x.shape[1] != in_channels or x.shape[-2] % factor or x.shape[-1] % factor:
        raise ValueError(
            f"{type(model).__name__} expects batches (N, {in_channels}, H, W) with H and W multiples of "
            f"2**{stages} = {factor} (one halving per stage), got {tuple(x.shape)}; resize or pad the images "
            "(or build the model with matching in_channels/channels).")


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class Autoencoder(nn.Module):
    """Deterministic autoencoder: ``decoder(latent(encoder(x)))``.

    ``latent_noise``: None for a plain code; a variance sigma**2 >= 0 to power-normalise
    each code and add N(0, sigma**2) during training (see
    :class:`aecore.noise.PowerNormalizedLatentNoise`; 0 = normalise only).
    """

    variational = False
    conditional = False

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_noise: float | None = None):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self.latent = nn.Identity() if latent_noise is None else PowerNormalizedLatentNoise(latent_noise)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images (N, C, H, W) in [0, 1] -> codes (N, *latent_shape)."""
        self.check_input(x)
        return self.latent(self.encoder(x))

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ValueError if ``x`` is not an image batch this model can encode (here: any batch)."""

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Codes (N, *latent_shape) -> logits (N, C, H, W)."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images -> reconstruction logits of the same shape."""
        return self.decode(self.encode(x))


class MLPAutoencoder(Autoencoder):
    """Fully connected autoencoder, e.g. 784-512-256-2 for MNIST.

    ``hidden`` are the encoder's hidden widths (the decoder mirrors them);
    ``latent_dim`` is the bottleneck size (2 by default, for plotting the codes).
    """

    def __init__(self, image_shape: Sequence[int] = (1, 28, 28), hidden: Sequence[int] = (512, 256),
                 latent_dim: int = 2, latent_noise: float | None = None):
        image_shape, hidden = tuple(image_shape), tuple(hidden)
        n_in = math.prod(image_shape)
        encoder = nn.Sequential(nn.Flatten(), _mlp((n_in, *hidden, latent_dim)))
        decoder = nn.Sequential(_mlp((latent_dim, *reversed(hidden), n_in)), nn.Unflatten(1, image_shape))
        super().__init__(encoder, decoder, latent_noise)
        self.hparams = dict(image_shape=image_shape, hidden=hidden, latent_dim=latent_dim, latent_noise=latent_noise)
        self.latent_shape = (latent_dim,)

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ValueError unless ``x`` is shaped (N, *image_shape)."""
        _check_flat_input(self, x, self.hparams["image_shape"])


class ResidualBlock(nn.Module):
    """Pre-activation residual block: x + conv(act(norm(conv(act(norm(x))))))."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(channels), nn.SiLU(), nn.Conv2d(channels, channels, 3, padding=1),
            nn.BatchNorm2d(channels), nn.SiLU(), nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ConvAutoencoder(Autoencoder):
    """Convolutional autoencoder for square RGB images (64x64x3 -> 8x8x16 code by default).

    Each entry of ``channels`` is one stage that halves the resolution (3 stages:
    64 -> 8), followed by ``blocks`` residual blocks; batch norm, SiLU and a 1x1
    convolution map to ``latent_channels``. The decoder mirrors it with nearest upsampling
    + convolution and ends with batch norm, SiLU and a 3x3 convolution to logits.
    With ``blocks=0`` there is no activation between the stages: the network is linear
    apart from the SiLU before the code and the one before the output (Lab 2 uses it so).
    """

    def __init__(self, image_size: int = 64, in_channels: int = 3, channels: Sequence[int] = (32, 64, 128),
                 latent_channels: int = 16, blocks: int = 1, latent_noise: float | None = None):
        channels = tuple(channels)
        if image_size % 2 ** len(channels):
            raise ValueError(f"image_size {image_size} must be divisible by 2**{len(channels)} (one halving per stage)")
        enc: list[nn.Module] = [nn.Conv2d(in_channels, channels[0], 3, padding=1)]
        previous = channels[0]
        for c in channels:
            enc += [nn.Conv2d(previous, c, 4, stride=2, padding=1)] + [ResidualBlock(c) for _ in range(blocks)]
            previous = c
        enc += [nn.BatchNorm2d(previous), nn.SiLU(), nn.Conv2d(previous, latent_channels, 1)]
        dec: list[nn.Module] = [nn.Conv2d(latent_channels, channels[-1], 3, padding=1)]
        previous = channels[-1]
        for c in reversed(channels):
            dec += [ResidualBlock(previous) for _ in range(blocks)]
            dec += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(previous, c, 3, padding=1)]
            previous = c
        dec += [nn.BatchNorm2d(previous), nn.SiLU(), nn.Conv2d(previous, in_channels, 3, padding=1)]
        super().__init__(nn.Sequential(*enc), nn.Sequential(*dec), latent_noise)
        self.hparams = dict(image_size=image_size, in_channels=in_channels, channels=channels,
                            latent_channels=latent_channels, blocks=blocks, latent_noise=latent_noise)
        side = image_size // 2 ** len(channels)
        self.latent_shape = (latent_channels, side, side)

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ValueError unless ``x`` is (N, in_channels, H, W) with H and W multiples of 2**stages."""
        _check_conv_input(self, x, self.hparams["in_channels"], len(self.hparams["channels"]))


class VAE(nn.Module):
    """MLP variational autoencoder with a diagonal Gaussian posterior q(z|x) = N(mu, exp(logvar)).

    ``forward`` samples z with the reparameterisation trick and returns
    ``(logits, mu, logvar)``; ``encode`` returns ``(mu, logvar)``.
    """

    variational = True
    conditional = False

    def __init__(self, image_shape: Sequence[int] = (1, 28, 28), hidden: Sequence[int] = (400,),
                 latent_dim: int = 20, num_classes: int = 0):
        super().__init__()
        image_shape, hidden = tuple(image_shape), tuple(hidden)
        self.num_classes = num_classes
        n_in = math.prod(image_shape)
        self.body = _mlp((n_in + num_classes, *hidden), final_activation=True)
        self.to_mu = nn.Linear(hidden[-1], latent_dim)
        self.to_logvar = nn.Linear(hidden[-1], latent_dim)
        self.decoder = nn.Sequential(_mlp((latent_dim + num_classes, *reversed(hidden), n_in)),
                                     nn.Unflatten(1, image_shape))
        self.hparams = dict(image_shape=image_shape, hidden=hidden, latent_dim=latent_dim)
        self.latent_shape = (latent_dim,)

    def _with_label(self, h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if not self.num_classes:
            return h
        if y is None:
            raise ValueError("this conditional model needs the labels y")
        return torch.cat([h, F.one_hot(y, self.num_classes).to(h.dtype)], dim=1)

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (N, C, H, W) -> (mu, logvar), each (N, latent_dim)."""
        _check_flat_input(self, x, self.hparams["image_shape"])
        h = self.body(self._with_label(x.flatten(1), y))
        return self.to_mu(h), self.to_logvar(h)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Codes (N, latent_dim) -> logits (N, C, H, W)."""
        return self.decoder(self._with_label(z, y))

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """z = mu + exp(logvar / 2) * eps with eps ~ N(0, I)."""
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None):
        """Images -> (logits, mu, logvar)."""
        mu, logvar = self.encode(x, y)
        return self.decode(self.reparameterize(mu, logvar), y), mu, logvar


class ConditionalVAE(VAE):
    """VAE whose encoder and decoder both see the one-hot label y (int64, shape (N,))."""

    conditional = True

    def __init__(self, image_shape: Sequence[int] = (1, 28, 28), hidden: Sequence[int] = (400,),
                 latent_dim: int = 20, num_classes: int = 10):
        if num_classes < 2:
            raise ValueError(f"a conditional VAE needs num_classes >= 2, got {num_classes}")
        super().__init__(image_shape, hidden, latent_dim, num_classes)
        self.hparams["num_classes"] = num_classes


class ConvVAE(nn.Module):
    """Convolutional VAE with the encoder and decoder of :class:`ConvAutoencoder`.

    The encoder is a ``ConvAutoencoder`` encoder with ``2 * latent_channels`` output maps,
    split into ``mu`` and ``logvar`` (each (N, latent_channels, side, side)); the decoder is a
    ``ConvAutoencoder`` decoder for ``latent_channels`` maps. ``forward`` samples z with
    the reparameterisation trick and returns ``(logits, mu, logvar)``; ``encode`` returns
    ``(mu, logvar)``. Same arguments as ``ConvAutoencoder`` (without ``latent_noise``).
    """

    variational = True
    conditional = False

    def __init__(self, image_size: int = 64, in_channels: int = 3, channels: Sequence[int] = (32, 64, 128),
                 latent_channels: int = 16, blocks: int = 1):
        super().__init__()
        if latent_channels < 1:
            raise ValueError(f"latent_channels must be >= 1, got {latent_channels}")
        shared = dict(image_size=image_size, in_channels=in_channels, channels=channels, blocks=blocks)
        self.encoder = ConvAutoencoder(**shared, latent_channels=2 * latent_channels).encoder
        decoder_source = ConvAutoencoder(**shared, latent_channels=latent_channels)
        self.decoder = decoder_source.decoder
        self.hparams = dict(image_size=image_size, in_channels=in_channels, channels=tuple(channels),
                            latent_channels=latent_channels, blocks=blocks)
        self.latent_shape = decoder_source.latent_shape

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (N, C, H, W) -> (mu, logvar), each (N, *latent_shape)."""
        _check_conv_input(self, x, self.hparams["in_channels"], len(self.hparams["channels"]))
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Codes (N, *latent_shape) -> logits (N, C, H, W)."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor):
        """Images -> (logits, mu, logvar)."""
        mu, logvar = self.encode(x)
        return self.decode(VAE.reparameterize(mu, logvar)), mu, logvar


def reconstruct(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None,
                batch_size: int = 1000) -> torch.Tensor:
    """Reconstructed images in [0, 1], same shape as ``x``, on the CPU (computed in eval mode, in batches).

    For a VAE the posterior mean is decoded (no sampling), so the result is deterministic.
    """
    conditional = getattr(model, "conditional", False)
    variational = getattr(model, "variational", False)

    def run(xb: torch.Tensor, yb: torch.Tensor | None) -> torch.Tensor:
        args = (yb,) if conditional else ()
        if variational:
            mu, _ = model.encode(xb, *args)
            return torch.sigmoid(model.decode(mu, *args))
        return torch.sigmoid(model(xb))

    with eval_mode(model):
        return apply_in_batches(run, x, y if conditional else None, device=module_device(model), batch_size=batch_size)


@contextmanager
def latent_noise_at_eval(model: nn.Module, seed: int | None = 0) -> Iterator[nn.Module]:
    """Context manager: keep adding the training latent noise in eval mode (e.g. to measure PSNR
    "with noise on"), then switch it off again. ``seed`` re-seeds torch's global generator so the
    noise, and so the result, is reproducible (None leaves the generator alone).

    Raises ValueError for a model without :class:`PowerNormalizedLatentNoise`.
    """
    layers = [m for m in model.modules() if isinstance(m, PowerNormalizedLatentNoise)]
    if not layers:
        raise ValueError(f"{type(model).__name__} has no latent noise layer; build it with latent_noise=<variance>")
    previous = [layer.noise_at_eval for layer in layers]
    if seed is not None:
        torch.manual_seed(seed)
    for layer in layers:
        layer.set_noise_at_eval(True)
    try:
        yield model
    finally:
        for layer, on in zip(layers, previous):
            layer.set_noise_at_eval(on)
