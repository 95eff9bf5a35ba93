"""Wafer maps: the WM-811K loader (``LSWMD.pkl``) and a seeded generator of synthetic maps.

A wafer map records the electrical test of every die on one silicon wafer as a 2-D
integer array: ``0`` = no die (off the round wafer), ``1`` = die passed, ``2`` = die
failed. WM-811K (Wu, Jang and Chen, IEEE TSM 2015) holds 811,457 such maps from real
production, 172,950 of them labelled with one of nine failure patterns
(:data:`WAFER_CLASSES`). Maps come in many die-grid sizes; both functions here turn
them into fixed squares with the same :func:`maps_to_images`, so the synthetic and the
real maps reach a model in the same form.

Encodings of a ``size`` x ``size`` map (``encoding=``):

* ``"levels"`` (default): one channel, off-wafer 0, pass 0.5, fail 1;
* ``"states"``: three channels, one per state (off-wafer, pass, fail), each 0 or 1.

Layout of the data root (``aecore.config.data_root()``, i.e. ``$AECORE_DATA``)::

    <data root>/wafer/LSWMD.pkl      the original pickle (about 2 GB), read only

Resized copies are cached under ``<cache root>/wafer/``, never beside the source.
"""

from __future__ import annotations

import math
import pickle
import warnings
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch
from torch.nn import functional as F

from .config import cache_root, data_root
from .data import DataNotFoundError, LabelledImages, _missing_data_message
from .utils import atomic_path, stable_hash

#: The nine WM-811K failure patterns, in the order of the labels (0..8).
WAFER_CLASSES = ("Center", "Donut", "Edge-Loc", "Edge-Ring", "Loc", "Near-full", "Random", "Scratch", "none")
#: Labelled maps per class in the full WM-811K (172,950 labelled; 638,507 more are unlabelled).
WM811K_COUNTS = {"Center": 4294, "Donut": 555, "Edge-Loc": 5189, "Edge-Ring": 9680, "Loc": 3593,
                 "Near-full": 149, "Random": 866, "Scratch": 1193, "none": 147431}
#: Default class counts of :func:`synthetic_wafer_maps`: WM-811K's defect classes divided by 5,
#: and the defect-free ``none`` class cut from 29,486 to 2,500 so it does not drown the rest.
SYNTHETIC_COUNTS = {**{name: count // 5 for name, count in WM811K_COUNTS.items()}, "none": 2500}

UNLABELLED = "unlabelled"
ENCODINGS = ("levels", "states")
RESAMPLING = ("nearest", "area")
WAFER_CACHE_VERSION = 1
WAFER_SOURCES = (
    "download LSWMD.pkl (about 2 GB) from the Kaggle data set 'WM-811K wafer map' "
    "(kaggle.com/datasets/qingyi/wm811k-wafer-map) or from the MIR Lab of National Taiwan "
    "University (mirlab.org, data set WM-811K), and put it there. "
    "Without it, aecore.wafer.synthetic_wafer_maps() makes synthetic maps."
)


def wafer_pickle_path() -> Path:
    """Where ``LSWMD.pkl`` is expected: ``<data root>/wafer/LSWMD.pkl``."""
    return data_root() / "wafer" / "LSWMD.pkl"


# ----------------------------------------------------------------- maps -> images


def maps_to_images(maps: Sequence[np.ndarray], size: int = 32, *, encoding: str = "levels",
                   resample: str = "nearest") -> torch.Tensor:
    """Wafer maps (2-D integer arrays of 0/1/2, any shapes) -> float tensor (N, C, size, size) in [0, 1].

    Each map is stretched to the square (so the round wafer fills it whatever the die
    shape). ``resample="nearest"`` keeps each pixel one of the three states;
    ``"area"`` averages the states over the dies a pixel covers, so that scattered
    fails of a large map survive shrinking as a fraction instead of being sampled.
    See the module docstring for ``encoding``.
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
    if resample not in RESAMPLING:
        raise ValueError(f"resample must be one of {RESAMPLING}, got {resample!r}")
    if size < 4:
        raise ValueError(f"size must be at least 4 pixels, got {size}")
    out = torch.empty((len(maps), 3, size, size), dtype=torch.float32)
    for i, wafer_map in enumerate(maps):
        states = torch.as_tensor(np.asarray(wafer_map), dtype=torch.long)
        if states.ndim != 2 or states.numel() == 0:
            raise ValueError(f"wafer map {i} must be a non-empty 2-D array, got shape {tuple(states.shape)}")
        if int(states.min()) < 0 or int(states.max()) > 2:
            raise ValueError(f"wafer map {i} holds values outside 0 (off-wafer), 1 (pass), 2 (fail)")
        one_hot = F.one_hot(states, 3).permute(2, 0, 1).float().unsqueeze(0)
        if resample == "area":
            out[i] = F.adaptive_avg_pool2d(one_hot, size)[0]
        else:
            out[i] = F.interpolate(one_hot, size=(size, size), mode="nearest")[0]
    if encoding == "states":
        return out
    return out[:, 1:2] * 0.5 + out[:, 2:3]


def snap_levels(images: torch.Tensor) -> torch.Tensor:
    """Round ``"levels"`` images to the nearest of the three states 0, 0.5 and 1.

    Decoded (generated) maps are continuous; snapping turns them back into valid wafer
    maps in which every pixel is off-wafer, pass or fail.
    """
    return (images.clamp(0, 1) * 2).round() / 2


def fail_fraction(images: torch.Tensor) -> torch.Tensor:
    """Share of on-wafer pixels that fail, per ``"levels"`` map: shape (N,)."""
    snapped = snap_levels(images).flatten(1)
    on_wafer = (snapped > 0).sum(1).clamp(min=1)
    return (snapped == 1).sum(1) / on_wafer


# ----------------------------------------------------------------------- LSWMD.pkl


def load_wafer_maps(path: str | Path | None = None, *, size: int = 32, encoding: str = "levels",
                    resample: str = "nearest", include_unlabelled: bool = False,
                    max_per_class: int | None = None, seed: int = 0) -> LabelledImages:
    """WM-811K wafer maps from ``LSWMD.pkl`` as a :class:`LabelledImages` (N, C, size, size) in [0, 1].

    ``path`` defaults to :func:`wafer_pickle_path`. The pickle is a pandas table with a
    ``waferMap`` column (2-D arrays of 0/1/2) and a ``failureType`` column whose entries
    are nested arrays such as ``[['Center']]``, or empty for the unlabelled maps. Labels
    are cleaned up to the names in :data:`WAFER_CLASSES` (label ``i`` is
    ``WAFER_CLASSES[i]``). Unlabelled maps are dropped unless ``include_unlabelled``,
    which keeps them under a tenth class, ``"unlabelled"``. ``max_per_class`` keeps a
    seeded random subset of at most that many maps per class (the full set has
    147,431 ``none`` maps). See :func:`maps_to_images` for ``size``, ``encoding`` and
    ``resample``.

    The first call unpickles the file (minutes for the full 2 GB) and caches the resized
    maps under ``<cache root>/wafer/``, keyed by the file's size and modification time
    and the settings; later calls read the cache.
    """
    source = Path(path) if path is not None else wafer_pickle_path()
    if not source.is_file():
        raise DataNotFoundError(_missing_data_message("WM-811K wafer maps (LSWMD.pkl)", source, WAFER_SOURCES))
    stat = source.stat()
    key = stable_hash({"file": [stat.st_size, stat.st_mtime_ns], "size": size, "encoding": encoding,
                       "resample": resample, "unlabelled": include_unlabelled, "version": WAFER_CACHE_VERSION})
    cache_file = cache_root() / "wafer" / f"lswmd-{size}px-{encoding}-{key}.pt"
    classes = list(WAFER_CLASSES) + ([UNLABELLED] if include_unlabelled else [])
    blob = None
    if cache_file.is_file():
        try:
            blob = torch.load(cache_file, weights_only=True)
        except Exception as err:  # corrupt or truncated cache: rebuild it
            warnings.warn(f"Ignoring unreadable cache {cache_file} ({err}); rebuilding it.")
    if blob is None:
        table = read_lswmd(source)
        labels = [clean_failure_type(entry) for entry in table["failureType"]]
        keep = [i for i, label in enumerate(labels) if label is not None or include_unlabelled]
        maps = table["waferMap"].to_numpy()
        images = maps_to_images([maps[i] for i in keep], size, encoding=encoding, resample=resample)
        label_ids = torch.tensor([classes.index(labels[i] or UNLABELLED) for i in keep], dtype=torch.long)
        blob = {"images": images.half(), "labels": label_ids}  # float16 holds 0, 0.5 and 1 exactly
        with atomic_path(cache_file) as tmp:
            torch.save(blob, tmp)
    result = LabelledImages(blob["images"].float(), blob["labels"], classes)
    return limit_per_class(result, max_per_class, seed)


def read_lswmd(path: Path):
    """Read ``LSWMD.pkl`` into a pandas DataFrame, also when it was written by an old pandas.

    The published file comes from pandas 0.x, whose index classes lived in
    ``pandas.indexes`` (now ``pandas.core.indexes``); ``pandas.read_pickle`` cannot find
    them. This reads it with pandas' own compatibility unpickler, told where those
    classes moved.
    """
    import pandas as pd
    from pandas.compat import pickle_compat

    class LegacyUnpickler(pickle_compat.Unpickler):
        def find_class(self, module: str, name: str):
            return super().find_class(*_modern_location(module, name))

    with open(path, "rb") as fh:
        table = LegacyUnpickler(fh, encoding="latin1").load()
    if not isinstance(table, pd.DataFrame) or not {"waferMap", "failureType"} <= set(table.columns):
        raise ValueError(f"{path} is not the WM-811K table: expected a DataFrame with columns "
                         f"'waferMap' and 'failureType'")
    return table


def _modern_location(module: str, name: str) -> tuple[str, str]:
    """Where a class pickled by pandas 0.x lives now: ``pandas.indexes.*`` -> ``pandas.core.indexes.*``."""
    if module == "pandas.indexes" or module.startswith("pandas.indexes."):
        module = "pandas.core.indexes" + module[len("pandas.indexes"):]
    if module == "pandas.core.indexes.numeric":  # Int64Index & co. were folded into Index (pandas 2)
        return "pandas.core.indexes.base", "Index"
    return module, name


def clean_failure_type(entry) -> str | None:
    """One ``failureType`` entry -> a name from :data:`WAFER_CLASSES`, or None when unlabelled.

    Entries are nested arrays (``[['Edge-Ring']]``), empty arrays or lists (unlabelled),
    plain strings, or missing values. Case and surrounding spaces are ignored; any other
    name is an error, so a changed file cannot be mislabelled silently.
    """
    while isinstance(entry, (np.ndarray, list, tuple)):
        flat = np.asarray(entry, dtype=object).ravel()
        if flat.size == 0:
            return None
        entry = flat[0]
    if entry is None or (isinstance(entry, float) and math.isnan(entry)):
        return None
    text = str(entry).strip()
    if not text:
        return None
    for name in WAFER_CLASSES:
        if text.lower() == name.lower():
            return name
    raise ValueError(f"unknown failureType {text!r}; expected one of {WAFER_CLASSES} or an empty entry")


def limit_per_class(data: LabelledImages, max_per_class: int | None, seed: int = 0) -> LabelledImages:
    """A seeded random subset with at most ``max_per_class`` items of each class (order kept)."""
    if max_per_class is None:
        return data
    if max_per_class < 1:
        raise ValueError(f"max_per_class must be positive, got {max_per_class}")
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    taken = torch.zeros(len(data.classes), dtype=torch.long)
    keep = []
    for i in order.tolist():
        label = int(data.labels[i])
        if taken[label] < max_per_class:
            taken[label] += 1
            keep.append(i)
    index = torch.tensor(sorted(keep), dtype=torch.long)
    return LabelledImages(data.images[index], data.labels[index], data.classes)


# ------------------------------------------------------------------ synthetic maps


def synthetic_wafer_maps(counts: int | Mapping[str, int] | None = None, *, size: int = 32, seed: int = 0,
                         encoding: str = "levels", resample: str = "nearest") -> LabelledImages:
    """Synthetic wafer maps of the nine WM-811K patterns, as :func:`load_wafer_maps` returns them.

    ``counts``: maps per class, as one number for every class or a ``{class: count}``
    dict (classes left out get none); default :data:`SYNTHETIC_COUNTS`, imbalanced like
    WM-811K (``Near-full``, ``Donut``, ``Random`` and ``Scratch`` are rare). The result is
    fully determined by ``counts`` and ``seed``; maps are shuffled, labels follow
    :data:`WAFER_CLASSES`.

    Each map is drawn on its own die grid (:func:`synthetic_wafer_map`) and resized
    like a real map (:func:`maps_to_images`).
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
