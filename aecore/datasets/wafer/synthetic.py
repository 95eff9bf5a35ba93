"""Synthetic wafer maps: a seeded generator of the nine WM-811K failure patterns.

For readers without ``LSWMD.pkl`` (see :mod:`aecore.datasets.wafer.wm811k`): :func:`synthetic_wafer_maps`
returns maps in the same form as :func:`~aecore.datasets.wafer.wm811k.load_wafer_maps`, each drawn on its
own die grid by :func:`synthetic_wafer_map` and resized with the same
:func:`~aecore.datasets.wafer.maps.maps_to_images`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from ..images import LabelledImages
from .maps import WAFER_CLASSES, WM811K_COUNTS, maps_to_images

#: Default class counts of :func:`synthetic_wafer_maps`: WM-811K's defect classes divided by 5,
#: and the defect-free ``none`` class cut from 29,486 to 2,500 so it does not drown the rest.
SYNTHETIC_COUNTS = {**{name: count // 5 for name, count in WM811K_COUNTS.items()}, "none": 2500}


def synthetic_wafer_maps(counts: int | Mapping[str, int] | None = None, *, size: int = 32, seed: int = 0,
                         encoding: str = "levels", resample: str = "nearest") -> LabelledImages:
    """Synthetic wafer maps of the nine WM-811K patterns, as :func:`aecore.datasets.wafer.load_wafer_maps` returns them.

    ``counts``: maps per class, as one number for every class or a ``{class: count}``
    dict (classes left out get none); default :data:`SYNTHETIC_COUNTS`, imbalanced like
    WM-811K (``Near-full``, ``Donut``, ``Random`` and ``Scratch`` are rare). The result is
    fully determined by ``counts`` and ``seed``; maps are shuffled, labels follow
    :data:`WAFER_CLASSES`.

    Each map is drawn on its own die grid (:func:`synthetic_wafer_map`) and resized
    like a real map (:func:`aecore.datasets.wafer.maps_to_images`).
    """
    if counts is None:
        counts = SYNTHETIC_COUNTS
    if isinstance(counts, int):
        counts = {name: counts for name in WAFER_CLASSES}
    unknown = set(counts) - set(WAFER_CLASSES)
    if unknown:
        raise ValueError(f"unknown wafer classes {sorted(unknown)}; choose from {WAFER_CLASSES}")
    if any(n < 0 for n in counts.values()):
        raise ValueError(f"counts must be >= 0, got {dict(counts)}")
    labels = np.array([k for k, name in enumerate(WAFER_CLASSES) for _ in range(counts.get(name, 0))], dtype=np.int64)
    rng = np.random.default_rng(seed)
    labels = labels[rng.permutation(len(labels))]
    maps = [synthetic_wafer_map(WAFER_CLASSES[label], rng, size) for label in labels]
    images = maps_to_images(maps, size, encoding=encoding, resample=resample) if maps else \
        torch.empty((0, 1 if encoding == "levels" else 3, size, size))
    return LabelledImages(images, torch.from_numpy(labels), WAFER_CLASSES)


def synthetic_wafer_map(pattern: str, rng: np.random.Generator, size: int = 32) -> np.ndarray:
    """One synthetic wafer map in the LSWMD encoding: a 2-D uint8 array of 0 (off), 1 (pass), 2 (fail).

    The die grid has a random number of rows and columns (0.8 to 1.5 times ``size``;
    dies need not be square), and the wafer is the ellipse inscribed in it, i.e. a
    circle in physical units. Every die on the wafer fails with a background probability
    of 0 to 6 %; the pattern then marks a region whose dies fail with probability 0.6
    to 0.95. In coordinates where the wafer is the unit disc (r = distance from the
    centre):

    * ``Center``: a blob of radius 0.18-0.40 near the centre, with a wavy outline;
    * ``Donut``: a ring around the centre, inner radius 0.25-0.45, width 0.15-0.30;
    * ``Edge-Loc``: a blob of radius 0.25-0.45 centred at r = 0.80-0.95 (on the rim), at a random angle;
    * ``Edge-Ring``: the outermost band of the wafer, 0.07-0.18 wide;
    * ``Loc``: an elliptical blob (radius 0.12-0.25) centred at r = 0.15-0.6;
    * ``Near-full``: 75-97 % of all dies fail;
    * ``Random``: 20-45 % of all dies fail, uniformly scattered;
    * ``Scratch``: a slightly curved line 0.5-1.3 long and 1.5 dies wide (fail probability 0.8-1),
      its middle within r < 0.6;
    * ``none``: the background fails only.
    """
    if pattern not in WAFER_CLASSES:
        raise ValueError(f"unknown wafer pattern {pattern!r}; choose from {WAFER_CLASSES}")
    rows, cols = (int(v) for v in rng.integers(round(0.8 * size), round(1.5 * size) + 1, size=2))
    y = (np.arange(rows) + 0.5) / rows * 2 - 1
    x = (np.arange(cols) + 0.5) / cols * 2 - 1
    yy, xx = np.meshgrid(y, x, indexing="ij")
    r = np.hypot(xx, yy)
    on_wafer = r <= 1.0
    die = 2.0 / max(rows, cols)  # one die step in wafer units (the larger count: the smaller die)

    fail_p = np.full((rows, cols), rng.uniform(0.0, 0.06))
    dense = rng.uniform(0.6, 0.95)
    if pattern == "Center":
        cx, cy = rng.normal(0, 0.08, size=2)
        angle = np.arctan2(yy - cy, xx - cx)
        radius = rng.uniform(0.18, 0.40) * (1 + 0.15 * np.sin(rng.integers(2, 5) * angle + rng.uniform(0, 2 * np.pi)))
        region = np.hypot(xx - cx, yy - cy) < radius
    elif pattern == "Donut":
        inner = rng.uniform(0.25, 0.45)
        cx, cy = rng.normal(0, 0.05, size=2)
        d = np.hypot(xx - cx, yy - cy)
        region = (d > inner) & (d < min(inner + rng.uniform(0.15, 0.30), 0.9))
    elif pattern == "Edge-Loc":
        theta, rho = rng.uniform(0, 2 * np.pi), rng.uniform(0.8, 0.95)
        region = np.hypot(xx - rho * np.cos(theta), yy - rho * np.sin(theta)) < rng.uniform(0.25, 0.45)
    elif pattern == "Edge-Ring":
        region = r > 1 - max(rng.uniform(0.07, 0.18), 1.2 * die)
    elif pattern == "Loc":
        rho, theta = rng.uniform(0.15, 0.6), rng.uniform(0, 2 * np.pi)
        cx, cy = rho * np.cos(theta), rho * np.sin(theta)
        radius, stretch, tilt = rng.uniform(0.12, 0.25), rng.uniform(1.0, 1.8), rng.uniform(0, np.pi)
        u = (xx - cx) * np.cos(tilt) + (yy - cy) * np.sin(tilt)
        v = -(xx - cx) * np.sin(tilt) + (yy - cy) * np.cos(tilt)
        region = (u / stretch) ** 2 + (v * stretch) ** 2 < radius ** 2
    elif pattern == "Near-full":
        region, dense = on_wafer, rng.uniform(0.75, 0.97)
    elif pattern == "Random":
        region, dense = on_wafer, rng.uniform(0.20, 0.45)
    elif pattern == "Scratch":
        region, dense = _scratch_region(xx, yy, rng, half_width=0.75 * die), rng.uniform(0.8, 1.0)
    else:  # "none"
        region = np.zeros_like(on_wafer)
    fail_p = np.where(region, dense, fail_p)
    fails = rng.random((rows, cols)) < fail_p
    return np.where(on_wafer, np.where(fails, 2, 1), 0).astype(np.uint8)


def _scratch_region(xx: np.ndarray, yy: np.ndarray, rng: np.random.Generator, half_width: float) -> np.ndarray:
    """Dies within ``half_width`` of a random, slightly bent segment whose middle lies inside r < 0.6."""
    rho, theta = 0.6 * np.sqrt(rng.uniform()), rng.uniform(0, 2 * np.pi)
    middle = np.array([rho * np.cos(theta), rho * np.sin(theta)])
    heading, length, bend = rng.uniform(0, 2 * np.pi), rng.uniform(0.5, 1.3), rng.uniform(-0.6, 0.6)
    t = np.linspace(-0.5, 0.5, 61)[:, None]
    angles = heading + bend * t
    steps = np.concatenate([np.cos(angles), np.sin(angles)], axis=1) * (length / 60)
    points = middle + np.cumsum(steps, axis=0) - steps.sum(0) / 2
    dies = np.stack([xx.ravel(), yy.ravel()], axis=1)
    distance = np.sqrt(((dies[:, None, :] - points[None, :, :]) ** 2).sum(-1)).min(1)
    return (distance < half_width).reshape(xx.shape)
