"""The networks: MLP and convolutional autoencoders, VAEs (MLP and convolutional), conditional VAE.

Every network derives from :class:`Model`, which records the constructor's arguments as
``model.hparams`` (so a trained model is identified, cached and rebuilt by its class name
and ``hparams``). What a model is trained to minimise is not part of it: it is the ``loss=``
function given to :func:`aecore.train.train` (see :mod:`aecore.objectives`). The autoencoders share
:class:`LatentModel`'s interface, so no consumer needs to ask which kind it holds:

* inputs are image batches (N, C, H, W) with values in [0, 1]; labels ``y`` are int64 (N,).
  Every method takes ``y``; only conditional models use it (and require it);
* ``encode(x, y)`` gives the code (a VAE: the posterior ``(mu, logvar)``);
  ``code(x, y)`` the deterministic code used for latent analysis (a VAE: ``mu``);
  ``decode(z, y)`` **logits** (``torch.sigmoid(logits)`` is the image; logits let BCE be
  computed stably); ``latent_shape`` is the shape of one code.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from . import lessons
from .noise import PowerNormalizedLatentNoise
from .utils import apply_model, without_added_later

# Every Model subclass by class name, so that a cached model can be rebuilt from its file.
MODEL_CLASSES: dict[str, type[Model]] = {}


def _plain(value: Any) -> Any:
    """A constructor argument as a plain, hashable value: sequences become tuples (recursively)."""
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    raise TypeError(f"hyper-parameter value {value!r} ({type(value).__name__}) is not a number, string, "
                    "None or a sequence of them, so it cannot identify a cached model")


def _capturing_hparams(init):
    """Wrap a Model constructor so that the most derived one stores its bound arguments as ``self.hparams``."""
    signature = inspect.signature(init)

    @functools.wraps(init)
    def wrapper(self, *args, **kwargs):
        init(self, *args, **kwargs)
        if type(self).__init__ is wrapper:  # the outermost constructor's arguments name the model
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            arguments = without_added_later(dict(list(bound.arguments.items())[1:]), type(self).hparams_added_later)
            try:
                self.hparams = {name: _plain(v) for name, v in arguments.items()}
            except TypeError as err:  # e.g. Autoencoder(encoder, decoder): usable, but not cacheable
                self.hparams = None
                self.hparams_problem = str(err)

    return wrapper


class Model(nn.Module):
    """Base of every network here.

    * ``hparams``: the constructor's arguments with defaults filled in (a dict of numbers,
      strings, None and tuples), captured automatically, never written by hand; an argument
      named in ``hparams_added_later`` is left out while it has the value given there (the
      behaviour from before it existed), so models cached before a class gained an option
      keep their cache keys.
    """

    hparams_added_later: dict[str, Any] = {}
    hparams: dict[str, Any] | None  # None when an argument is not plain (then ``hparams_problem`` says which)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        MODEL_CLASSES[cls.__name__] = cls
        if "__init__" in cls.__dict__:
            cls.__init__ = _capturing_hparams(cls.__dict__["__init__"])  # type: ignore[method-assign]


def build_model(class_name: str, hparams: dict[str, Any]) -> Model:
    """A new (untrained) model of the registered class ``class_name`` built from ``hparams``."""
    if class_name not in MODEL_CLASSES:
        raise ValueError(f"unknown model class {class_name!r}; aecore knows {sorted(MODEL_CLASSES)}")
    return MODEL_CLASSES[class_name](**hparams)


class LatentModel(Model):
    """An autoencoder: ``encode``, ``code``, ``decode`` (see the module docstring) and ``latent_shape``."""

    latent_shape: tuple[int, ...]

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None):
        raise NotImplementedError

    def code(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The deterministic code of images ``x`` (N, C, H, W): shape (N, *latent_shape)."""
        return self.encode(x, y)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def reconstruction_logits(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Logits of the deterministic reconstruction ``decode(code(x))``, same shape as ``x``."""
        return self.decode(self.code(x, y), y)


def _mlp(sizes: Sequence[int], final_activation: bool = False) -> nn.Sequential:
    """Linear layers with ReLU between them: sizes = (in, hidden..., out)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or final_activation:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class ModelInputError(ValueError):
    """Input a model cannot take (wrong image size, labels out of range), named by the model's own check: the message
    says what the model was built for and how to fix the input or the model."""


def _check_flat_input(model: nn.Module, x: torch.Tensor, image_shape: tuple[int, ...]) -> None:
    """Raise ModelInputError unless ``x`` is a batch shaped (N, *image_shape), the shape the MLP ``model`` was built
    for."""
    if tuple(x.shape[1:]) != tuple(image_shape):
        raise ModelInputError(
            f"{type(model).__name__} was built for images shaped {tuple(image_shape)} (image_shape), so it expects "
            f"batches (N, {', '.join(map(str, image_shape))}); got {tuple(x.shape)}. Build it with "
            f"image_shape={tuple(x.shape[1:])}, or resize the images.")


def _check_conv_input(model: nn.Module, x: torch.Tensor, in_channels: int, image_size: int) -> None:
    """Raise ModelInputError unless ``x`` is (N, in_channels, image_size, image_size), the images the convolutional
    ``model`` was built for (its ``latent_shape`` follows from ``image_size``)."""
    if x.ndim != 4 or tuple(x.shape[1:]) != (in_channels, image_size, image_size):
        raise ModelInputError(
            f"{type(model).__name__} was built for batches (N, {in_channels}, {image_size}, {image_size}) "
            f"(in_channels={in_channels}, image_size={image_size}), got {tuple(x.shape)}. Resize the images to "
            f"{image_size}x{image_size} pixels, or build the model for them (image_size=..., in_channels=...).")


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (:func:`aecore.lessons.count_parameters`, Lab 1's exercise)."""
    return lessons.count_parameters(model)


class Autoencoder(LatentModel):
    """Deterministic autoencoder: ``decoder(latent(encoder(x)))``.

    ``latent_noise``: None for a plain code; a variance sigma**2 >= 0 to power-normalise
    each code and add N(0, sigma**2) during training (see
    :class:`aecore.noise.PowerNormalizedLatentNoise`; 0 = normalise only).
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_noise: float | None = None):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self.latent = nn.Identity() if latent_noise is None else PowerNormalizedLatentNoise(latent_noise)

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Images (N, C, H, W) in [0, 1] -> codes (N, *latent_shape); ``y`` is not used."""
        self.check_input(x)
        return self.latent(self.encoder(x))

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ValueError if ``x`` is not an image batch this model can encode (here: any batch)."""

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Codes (N, *latent_shape) -> logits (N, C, H, W); ``y`` is not used."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
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
        self.image_shape = image_shape
        self.latent_shape = (latent_dim,)

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ValueError unless ``x`` is shaped (N, *image_shape)."""
        _check_flat_input(self, x, self.image_shape)


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
    64 -> 8), followed by ``blocks`` residual blocks; a 1x1 convolution maps the last stage
    to ``latent_channels``. The decoder mirrors it with nearest upsampling + 3x3
    convolution and ends with a 3x3 convolution to logits.

    ``stage_activations=False``: no activation between the stages, only batch norm + SiLU
    before the 1x1 code convolution and before the output convolution, so the network is
    nearly linear (Lab 2's first design). ``stage_activations=True``: batch norm + SiLU
    after every convolution except the code and output ones (Lab 2's network).
    """

    hparams_added_later = {"stage_activations": False}

    def __init__(self, image_size: int = 64, in_channels: int = 3, channels: Sequence[int] = (32, 64, 128),
                 latent_channels: int = 16, blocks: int = 1, latent_noise: float | None = None,
                 stage_activations: bool = False):
        channels = tuple(channels)
        if image_size % 2 ** len(channels):
            raise ValueError(f"image_size {image_size} must be divisible by 2**{len(channels)} (one halving per stage)")

        def after_conv(c: int) -> list[nn.Module]:
            return [nn.BatchNorm2d(c), nn.SiLU()] if stage_activations else []

        enc: list[nn.Module] = [nn.Conv2d(in_channels, channels[0], 3, padding=1), *after_conv(channels[0])]
        previous = channels[0]
        for c in channels:
            enc += [nn.Conv2d(previous, c, 4, stride=2, padding=1), *after_conv(c)]
            enc += [ResidualBlock(c) for _ in range(blocks)]
            previous = c
        # Without activations after each stage (or with residual blocks, which end in a convolution), the
        # code and output convolutions get their own batch norm + SiLU.
        norm_before_last_convs = blocks > 0 or not stage_activations
        if norm_before_last_convs:
            enc += [nn.BatchNorm2d(previous), nn.SiLU()]
        enc += [nn.Conv2d(previous, latent_channels, 1)]
        dec: list[nn.Module] = [nn.Conv2d(latent_channels, channels[-1], 3, padding=1), *after_conv(channels[-1])]
        previous = channels[-1]
        for c in reversed(channels):
            dec += [ResidualBlock(previous) for _ in range(blocks)]
            dec += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(previous, c, 3, padding=1), *after_conv(c)]
            previous = c
        if norm_before_last_convs:
            dec += [nn.BatchNorm2d(previous), nn.SiLU()]
        dec += [nn.Conv2d(previous, in_channels, 3, padding=1)]
        super().__init__(nn.Sequential(*enc), nn.Sequential(*dec), latent_noise)
        self.in_channels, self.image_size = in_channels, image_size
        side = image_size // 2 ** len(channels)
        self.latent_shape = (latent_channels, side, side)

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ModelInputError unless ``x`` is (N, in_channels, image_size, image_size)."""
        _check_conv_input(self, x, self.in_channels, self.image_size)


class VariationalAutoencoder(LatentModel):
    """Base of the VAEs: a diagonal Gaussian posterior q(z|x) = N(mu, exp(logvar)) (trained with a negative
    ELBO, e.g. :func:`aecore.objectives.negative_elbo`).

    ``encode`` returns ``(mu, logvar)``, ``code`` returns ``mu``; ``forward`` samples z with
    the reparameterisation trick and returns ``(logits, mu, logvar)``.
    """

    def code(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The posterior mean ``mu`` of images ``x``: shape (N, *latent_shape)."""
        return self.encode(x, y)[0]

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """A sample z = mu + exp(logvar / 2) * eps (:func:`aecore.lessons.reparameterize`, looked up when called)."""
        return lessons.reparameterize(mu, logvar)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None):
        """Images -> (logits, mu, logvar)."""
        mu, logvar = self.encode(x, y)
        return self.decode(self.reparameterize(mu, logvar), y), mu, logvar


class VAE(VariationalAutoencoder):
    """MLP variational autoencoder; with ``num_classes`` > 0 its encoder and decoder also see the
    one-hot label y (a conditional VAE, see :class:`ConditionalVAE`)."""

    def __init__(self, image_shape: Sequence[int] = (1, 28, 28), hidden: Sequence[int] = (400,),
                 latent_dim: int = 20, num_classes: int = 0):
        super().__init__()
        image_shape, hidden = tuple(image_shape), tuple(hidden)
        self.image_shape, self.num_classes = image_shape, num_classes
        n_in = math.prod(image_shape)
        self.body = _mlp((n_in + num_classes, *hidden), final_activation=True)
        self.to_mu = nn.Linear(hidden[-1], latent_dim)
        self.to_logvar = nn.Linear(hidden[-1], latent_dim)
        self.decoder = nn.Sequential(_mlp((latent_dim + num_classes, *reversed(hidden), n_in)),
                                     nn.Unflatten(1, image_shape))
        self.latent_shape = (latent_dim,)

    def _with_label(self, h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if not self.num_classes:
            return h
        if y is None:
            raise ValueError("this conditional model needs the labels y")
        self.check_labels(y, len(h))
        return lessons.condition_on_label(h, y, self.num_classes)

    def check_labels(self, y: torch.Tensor, n: int) -> None:
        """Raise ModelInputError unless ``y`` holds ``n`` integer labels in 0..num_classes-1."""
        name = type(self).__name__
        if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool or tuple(y.shape) != (n,):
            raise ModelInputError(f"{name} needs one integer label per image, int64 of shape ({n},); got {y.dtype} "
                                  f"of shape {tuple(y.shape)}")
        lo, hi = (int(v) for v in torch.aminmax(y))
        if lo < 0 or hi >= self.num_classes:
            raise ModelInputError(
                f"{name} was built with num_classes={self.num_classes}, so its labels must lie in "
                f"0..{self.num_classes - 1}, but this batch holds labels from {lo} to {hi}. Build the model with "
                f"num_classes={max(hi + 1, self.num_classes)} (as many as the data set's classes), or map the labels "
                "to 0..num_classes-1.")

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (N, C, H, W) -> (mu, logvar), each (N, latent_dim)."""
        _check_flat_input(self, x, self.image_shape)
        return self.encode_conditioned(self._with_label(x.flatten(1), y))

    def encode_conditioned(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The encoder on its input row as given: flat images (N, pixels), for a conditional model with the
        one-hot label appended (N, pixels + num_classes) -> (mu, logvar), each (N, latent_dim)."""
        h = self.body(h)
        return self.to_mu(h), self.to_logvar(h)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Codes (N, latent_dim) -> logits (N, C, H, W)."""
        return self.decode_conditioned(self._with_label(z, y))

    def decode_conditioned(self, h: torch.Tensor) -> torch.Tensor:
        """The decoder on its input row as given: codes (N, latent_dim), for a conditional model with the
        one-hot label appended (N, latent_dim + num_classes) -> logits (N, C, H, W)."""
        return self.decoder(h)


class ConditionalVAE(VAE):
    """VAE whose encoder and decoder both see the one-hot label y (int64, shape (N,))."""

    def __init__(self, image_shape: Sequence[int] = (1, 28, 28), hidden: Sequence[int] = (400,),
                 latent_dim: int = 20, num_classes: int = 10):
        if num_classes < 2:
            raise ValueError(f"a conditional VAE needs num_classes >= 2, got {num_classes}")
        super().__init__(image_shape, hidden, latent_dim, num_classes)


class ConvVAE(VariationalAutoencoder):
    """Convolutional VAE with the encoder and decoder of :class:`ConvAutoencoder`.

    The encoder is a ``ConvAutoencoder`` encoder with ``2 * latent_channels`` output maps,
    split into ``mu`` and ``logvar`` (each (N, latent_channels, side, side)); the decoder is a
    ``ConvAutoencoder`` decoder for ``latent_channels`` maps. Same arguments as
    ``ConvAutoencoder`` (without ``latent_noise``); ``y`` is not used.
    """

    def __init__(self, image_size: int = 64, in_channels: int = 3, channels: Sequence[int] = (32, 64, 128),
                 latent_channels: int = 16, blocks: int = 1):
        super().__init__()
        if latent_channels < 1:
            raise ValueError(f"latent_channels must be >= 1, got {latent_channels}")
        shared: dict[str, Any] = dict(image_size=image_size, in_channels=in_channels, channels=channels, blocks=blocks)
        self.encoder = ConvAutoencoder(**shared, latent_channels=2 * latent_channels).encoder
        decoder_source = ConvAutoencoder(**shared, latent_channels=latent_channels)
        self.decoder = decoder_source.decoder
        self.in_channels, self.image_size = in_channels, image_size
        self.latent_shape = decoder_source.latent_shape

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (N, C, H, W) -> (mu, logvar), each (N, *latent_shape)."""
        _check_conv_input(self, x, self.in_channels, self.image_size)
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Codes (N, *latent_shape) -> logits (N, C, H, W)."""
        return self.decoder(z)


def reconstruct(model: LatentModel, x: torch.Tensor, y: torch.Tensor | None = None,
                batch_size: int | None = None) -> torch.Tensor:
    """Reconstructed images in [0, 1], same shape as ``x``, on the CPU (computed in eval mode, in batches
    of ``batch_size`` images, by default :func:`~aecore.utils.inference_batch_size`).

    The deterministic code is decoded (a VAE's posterior mean, no sampling). A conditional
    model needs the labels ``y``.
    """
    return apply_model(model, lambda xb, yb: torch.sigmoid(model.reconstruction_logits(xb, yb)), x, y,  # type: ignore[return-value]  # fn returns one tensor
                       batch_size=batch_size)


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
