"""Latent-space tools: encode a data set, uniform 2-D grids, Gaussian fits, perturbation, generation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from . import lessons
from .datasets import LabelledImages
from .models import LatentModel, VariationalAutoencoder
from .utils import apply_model


def encode_dataset(model: LatentModel, images: torch.Tensor, labels: torch.Tensor | None = None,
                   batch_size: int | None = None) -> torch.Tensor:
    """Codes of ``images`` (N, C, H, W) in eval mode, on the CPU: shape (N, *latent_shape).

    These are ``model.code``: for a VAE the posterior mean ``mu``. The batches (by default
    :func:`~aecore.utils.inference_batch_size` images) are moved to the model's device; a
    conditional model needs ``labels``.
    """
    return apply_model(model, model.code, images, labels, batch_size=batch_size)  # type: ignore[return-value]  # fn returns one tensor


def encode_posterior(model: VariationalAutoencoder, images: torch.Tensor, labels: torch.Tensor | None = None,
                     batch_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A VAE's posterior ``(mu, logvar)`` of ``images`` (N, C, H, W), each (N, *latent_shape), on the CPU.

    The batches are moved to the model's device; a conditional model needs ``labels``.
    """
    if not isinstance(model, VariationalAutoencoder):
        raise ValueError(f"{type(model).__name__} is not variational: it has no posterior (use encode_dataset)")
    return apply_model(model, model.encode, images, labels, batch_size=batch_size)  # type: ignore[return-value]  # fn returns (mu, logvar)


def kl_per_dimension(model: nn.Module, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over ``images`` of KL(q(z_d | x) || N(0, 1)) for each latent dimension d: shape latent_shape, nats."""
    mu, logvar = encode_posterior(model, images, labels)  # type: ignore[arg-type]  # checked there: a ValueError unless a VAE
    return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).mean(0)


def active_dimensions(model: nn.Module, images: torch.Tensor, labels: torch.Tensor | None = None,
                      threshold: float = 0.1) -> int:
    """Number of a VAE's latent dimensions whose mean KL (:func:`kl_per_dimension`) exceeds ``threshold`` nats.

    The other dimensions sit at the prior: the decoder ignores them ("posterior collapse").
    """
    return int((kl_per_dimension(model, images, labels) > threshold).sum())


def decode_codes(model: LatentModel, codes: torch.Tensor, labels: torch.Tensor | None = None,
                 batch_size: int | None = None) -> torch.Tensor:
    """Images in [0, 1] decoded from ``codes`` (N, *latent_shape) in eval mode, on the CPU, in batches
    of ``batch_size`` codes (by default :func:`~aecore.utils.inference_batch_size`).

    A conditional model needs ``labels`` (one per code)."""
    return apply_model(model, lambda zb, yb: torch.sigmoid(model.decode(zb, yb)), codes, labels,  # type: ignore[return-value]  # fn returns one tensor
                       batch_size=batch_size)


def decode_per_class(model: nn.Module, codes: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode every code once for each class with a conditional model.

    ``codes`` (N, *latent_shape) -> ``(images, asked)``: images in [0, 1] of shape
    (num_classes * N, C, H, W), class by class (the N codes for class 0 first), and the class
    asked for, int64 (num_classes * N,).
    """
    asked = torch.arange(num_classes).repeat_interleave(len(codes))
    return decode_codes(model, codes.repeat(num_classes, *([1] * (codes.ndim - 1))), asked), asked  # type: ignore[arg-type]  # any LatentModel


@dataclass
class Grid2D:
    """A uniform ``n`` x ``n`` grid over a rectangle of a 2-D latent space.

    ``points``: (n*n, 2) codes in row-major order, top row first (largest z2), so that
    decoding them and tiling ``n`` per row gives a picture oriented like a scatter plot.
    ``extent``: (z1_min, z1_max, z2_min, z2_max) of the grid's outermost points.
    """

    points: torch.Tensor
    n: int
    extent: tuple[float, float, float, float]


def uniform_grid(codes: torch.Tensor | None = None, n: int = 20, *, quantile: float = 0.01,
                 extent: tuple[float, float, float, float] | None = None) -> Grid2D:
    """Uniform grid over a 2-D latent region.

    The region is either given as ``extent`` or taken from ``codes`` (N, 2): the
    ``quantile``..``1 - quantile`` range of each coordinate (0 = full min..max), so a few
    outliers do not stretch the grid over empty space.
    """
    if n < 2:
        raise ValueError(f"grid size n must be >= 2, got {n}")
    if extent is None:
        if codes is None or codes.ndim != 2 or codes.shape[1] != 2:
            raise ValueError("uniform_grid needs 2-D codes shaped (N, 2) or an explicit extent")
        if not 0.0 <= quantile < 0.5:
            raise ValueError(f"quantile must be in [0, 0.5), got {quantile}")
        lo = torch.quantile(codes.float(), quantile, dim=0)
        hi = torch.quantile(codes.float(), 1 - quantile, dim=0)
        extent = (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))
    x0, x1, y0, y1 = extent
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"empty grid extent {extent}")
    xs = torch.linspace(x0, x1, n)
    ys = torch.linspace(y1, y0, n)  # top row = largest z2
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return Grid2D(torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1), n, (x0, x1, y0, y1))


def code_statistics(codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (D,) and maximum-likelihood covariance (D, D) of codes (N, ...) flattened to D numbers, float64.

    The covariance divides by N; its rank is at most N - 1, so with N <= D it is singular.
    """
    if codes.ndim < 2 or len(codes) < 2:
        raise ValueError(f"need at least 2 codes shaped (N, ...), got {tuple(codes.shape)}")
    x = codes.detach().cpu().flatten(1).double()  # on the CPU: Apple MPS has no float64
    mean = x.mean(0)
    centred = x - mean
    return mean, centred.T @ centred / len(x)


class GaussianFit:
    """Multivariate Gaussian fitted to codes, for sampling new codes.

    ``covariance``: ``"full"`` (sample covariance, shrunk towards a scaled identity),
    or ``"diagonal"`` (per-dimension variances only). ``shrinkage``: ``"auto"`` picks
    the Ledoit-Wolf amount (needed when there are fewer samples than dimensions: the
    sample covariance is then singular); a float in [0, 1] sets it; 0 = none.
    ``ridge`` adds ``ridge * I`` on top (a second, simpler way to make it invertible).
    """

    def __init__(self, codes: torch.Tensor, covariance: str = "full", shrinkage: float | str = "auto",
                 ridge: float = 0.0):
        if covariance not in ("full", "diagonal"):
            raise ValueError(f"covariance must be 'full' or 'diagonal', got {covariance!r}")
        if ridge < 0:
            raise ValueError(f"ridge must be >= 0, got {ridge}")
        self.code_shape = tuple(codes.shape[1:])
        self.mean, sample = code_statistics(codes)
        d = len(self.mean)
        self.covariance_kind = covariance
        if covariance == "diagonal":
            self.shrinkage = 0.0
            cov = torch.diag(torch.diagonal(sample))
        else:
            if shrinkage == "auto":
                shrinkage = ledoit_wolf_shrinkage(codes.detach().cpu().flatten(1).double() - self.mean)
            if not 0.0 <= float(shrinkage) <= 1.0:
                raise ValueError(f"shrinkage must be 'auto' or in [0, 1], got {shrinkage}")
            self.shrinkage = float(shrinkage)
            target = torch.trace(sample) / d
            cov = (1 - self.shrinkage) * sample + self.shrinkage * target * torch.eye(d, dtype=sample.dtype)
        self.covariance = cov + ridge * torch.eye(d, dtype=cov.dtype)
        self._scale = torch.linalg.cholesky(self.covariance + 1e-10 * torch.eye(d, dtype=cov.dtype))

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` new codes shaped (n, *code_shape), float32."""
        eps = torch.randn((n, len(self.mean)), generator=generator, dtype=torch.float64)
        return (self.mean + eps @ self._scale.T).float().view(n, *self.code_shape)


def ledoit_wolf_shrinkage(centred: torch.Tensor) -> float:
    """Ledoit-Wolf optimal shrinkage in [0, 1] for centred samples (N, D) towards mu * I."""
    n, d = centred.shape
    sample = centred.T @ centred / n
    mu = torch.trace(sample) / d
    delta = ((sample - mu * torch.eye(d, dtype=sample.dtype)) ** 2).sum() / d
    x2 = centred.pow(2)
    beta = ((x2.T @ x2) / n - sample.pow(2)).sum() / (d * n)
    if delta <= 0:
        return 0.0
    return float(torch.clamp(beta, max=delta) / delta)


def perturb(codes: torch.Tensor, strength: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Add zero-mean Gaussian noise scaled to each code: ``z + strength * rms(z) * N(0, I)``.

    ``rms(z)`` is the root mean square of that code's entries, so ``strength`` is a
    noise-to-signal amplitude ratio (0.1 = noise with a tenth of the code's RMS).
    """
    if strength < 0:
        raise ValueError(f"strength must be >= 0, got {strength}")
    # Lab 2's exercise (lessons.perturb_codes: the student's own function in a student build) draws its noise
    # from torch's global generator on the CPU; ``generator``'s state stands in for it and moves on with it.
    if generator is None:
        return lessons.perturb_codes(codes.cpu(), strength).to(codes.device)
    with torch.random.fork_rng(devices=[]):
        torch.set_rng_state(generator.get_state())
        perturbed = lessons.perturb_codes(codes.cpu(), strength)
        generator.set_state(torch.get_rng_state())
    return perturbed.to(codes.device)


def nearest_distances(queries: torch.Tensor, reference: torch.Tensor, exclude_self: bool = False) -> torch.Tensor:
    """Euclidean distance from each query (N, ...) to its nearest reference code (M, ...): shape (N,).

    With ``exclude_self`` (queries are the reference set) a code's zero distance to itself is ignored.
    """
    d = torch.cdist(queries.flatten(1).float(), reference.flatten(1).float())
    if exclude_self:
        d.fill_diagonal_(float("inf"))
    return d.min(dim=1).values


def interpolate(start: torch.Tensor, end: torch.Tensor, steps: int) -> torch.Tensor:
    """``steps`` codes evenly spaced on the straight line from ``start`` to ``end`` (both ends included)."""
    if steps < 2:
        raise ValueError(f"steps must be >= 2, got {steps}")
    if start.shape != end.shape:
        raise ValueError(f"start and end codes differ in shape: {tuple(start.shape)} vs {tuple(end.shape)}")
    t = torch.linspace(0, 1, steps).view(-1, *([1] * start.ndim))
    return (1 - t) * start + t * end


def knn_label_agreement(codes: torch.Tensor, labels: torch.Tensor, k: int = 10, batch_size: int = 2000) -> float:
    """Leave-one-out k-nearest-neighbour accuracy of ``labels`` in code space (0..1).

    A scale-free measure of how well the classes are separated in the latent space:
    the share of codes whose k nearest other codes vote for their own label.
    """
    if not 1 <= k < len(codes):
        raise ValueError(f"k must be between 1 and {len(codes) - 1}, got {k}")
    flat = codes.flatten(1).float()
    num_classes = int(labels.max()) + 1
    correct = 0
    for start in range(0, len(flat), batch_size):
        d = torch.cdist(flat[start:start + batch_size], flat)
        rows = torch.arange(d.shape[0])
        d[rows, rows + start] = float("inf")  # leave the code itself out
        neighbours = labels[d.topk(k, largest=False).indices]
        votes = torch.nn.functional.one_hot(neighbours, num_classes).sum(1)
        correct += int((votes.argmax(1) == labels[start:start + batch_size]).sum())
    return correct / len(flat)


def class_spread_ratio(codes: torch.Tensor, labels: torch.Tensor) -> float:
    """How tight the classes are relative to the whole layout (scale-free, >= 0).

    Mean over classes of the RMS distance of its codes to the class centroid, divided
    by the RMS distance of all codes to the overall centroid. Small = compact, well
    separated clusters; near 1 = classes as spread out as the whole cloud.
    """
    flat = codes.flatten(1).float()
    overall = (flat - flat.mean(0)).pow(2).sum(1).mean().sqrt()
    within = [(flat[labels == k] - flat[labels == k].mean(0)).pow(2).sum(1).mean().sqrt()
              for k in torch.unique(labels)]
    return float(torch.stack(within).mean() / overall)


def layout_metrics(codes: torch.Tensor, labels: torch.Tensor, k: int = 10) -> dict[str, float]:
    """Numbers that describe a labelled latent layout (codes (N, D), labels (N,)).

    ``rms_radius``: RMS distance of the codes from the origin (the layout's scale);
    ``knn_agreement``: :func:`knn_label_agreement` in % (class separation, scale-free);
    ``class_spread``: :func:`class_spread_ratio` (cluster tightness, scale-free).
    """
    return {
        "rms_radius": float(codes.flatten(1).pow(2).sum(1).mean().sqrt()),
        "knn_agreement": 100 * knn_label_agreement(codes, labels, k=k),
        "class_spread": class_spread_ratio(codes, labels),
    }


def generate_near(model: nn.Module, images: torch.Tensor | None, n: int, strength: float,
                  generator: torch.Generator | None = None, *, codes: torch.Tensor | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """New images near ``images``: encode, pick ``n`` codes at random, :func:`perturb` them, decode.

    Returns ``(generated, source)``: the decoded images in [0, 1] (n, C, H, W) and the
    index into ``images`` of each one's source. With ``strength=0`` the result is the
    plain reconstruction of the picked sources; the same ``generator`` seed picks the
    same sources and the same noise direction at every strength. ``codes``: the codes of
    ``images`` (:func:`encode_dataset`) if already at hand; then ``images`` may be None.
    """
    if codes is None and images is None:
        raise ValueError("give the source images or their codes")
    n_sources = len(codes if codes is not None else images)  # type: ignore[arg-type]  # one of them is given (checked above)
    if n < 0 or n_sources == 0:
        raise ValueError(f"need n >= 0 and at least one source image, got n={n} and {n_sources} images")
    if codes is None:
        codes = encode_dataset(model, images)  # type: ignore[arg-type]  # a LatentModel; images given (checked above)
    source = torch.randint(len(codes), (n,), generator=generator)
    return decode_codes(model, perturb(codes[source], strength, generator)), source  # type: ignore[arg-type]  # any LatentModel


def augment_rare_classes(model: nn.Module, data: LabelledImages, target: int, strength: float, *, seed: int = 0,
                         postprocess: Callable[[torch.Tensor], torch.Tensor] | None = None) -> LabelledImages:
    """``data`` plus generated images that top every class with fewer than ``target`` items up to ``target``.

    Each class's new images come from :func:`generate_near` on that class's own images
    (noise ``strength`` relative to each code's RMS), optionally passed through
    ``postprocess`` (e.g. :func:`aecore.datasets.wafer.snap_levels`). They are appended after the
    original items; classes with ``target`` or more items are left as they are.
    """
    if target < 1:
        raise ValueError(f"target must be positive, got {target}")
    generator = torch.Generator().manual_seed(seed)
    images, labels = [data.images], [data.labels]
    for label in torch.unique(data.labels).tolist():
        members = data.images[data.labels == label]
        missing = target - len(members)
        if missing > 0:
            generated, _ = generate_near(model, members, missing, strength, generator)
            images.append(postprocess(generated) if postprocess else generated)
            labels.append(torch.full((missing,), label, dtype=data.labels.dtype))
    return LabelledImages(torch.cat(images), torch.cat(labels), data.classes)


def round_trip_error(model: nn.Module, codes: torch.Tensor, decoded: torch.Tensor | None = None) -> torch.Tensor:
    """Relative change of each code (N, ...) after decoding and re-encoding it: shape (N,).

    ``||encode(decode(z)) - z|| / ||z||``. Codes of real images are close to fixed points of
    this round trip; a code off the region the autoencoder was trained on usually is not,
    because its decoded image is not one the encoder maps back there. ``decoded``: the images
    ``decode_codes(model, codes)`` if already at hand (saves decoding them again).
    """
    if decoded is None:
        decoded = decode_codes(model, codes)  # type: ignore[arg-type]  # any LatentModel
    again = encode_dataset(model, decoded)  # type: ignore[arg-type]  # any LatentModel
    return (again - codes).flatten(1).norm(dim=1) / codes.flatten(1).norm(dim=1).clamp_min(1e-12)
