"""Wafer maps: the WM-811K loader (``LSWMD.pkl``), the map-to-image encoding and helpers to judge maps.

A wafer map records the electrical test of every die on one silicon wafer as a 2-D
integer array: ``0`` = no die (off the round wafer), ``1`` = die passed, ``2`` = die
failed. WM-811K (Wu, Jang and Chen, IEEE TSM 2015) holds 811,457 such maps from real
production, 172,950 of them labelled with one of nine failure patterns
(:data:`WAFER_CLASSES`). Maps come in many die-grid sizes; :func:`load_wafer_maps` and the
synthetic generator (:mod:`aecore.wafer_synthetic`, also reachable here as
``wafer.synthetic_wafer_maps``) turn them into fixed squares with the same
:func:`maps_to_images`, so the synthetic and the real maps reach a model in the same form.

Encodings of a ``size`` x ``size`` map (``encoding=``):

* ``"levels"`` (default): one channel, off-wafer 0, pass 0.5, fail 1;
* ``"states"``: three channels, one per state (off-wafer, pass, fail), each 0 or 1.

Layout of the data root (``aecore.config.data_root()``, i.e. ``$AECORE_DATA``)::

    <data root>/wafer/LSWMD.pkl      the original pickle (about 2 GB), read only

Resized copies are cached under ``<cache root>/wafer/``, never beside the source.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch.nn import functional as F

from .config import cache_root, data_root
from .data import DataNotFoundError, LabelledImages, missing_data_message
from .utils import atomic_path, stable_hash

#: The nine WM-811K failure patterns, in the order of the labels (0..8).
WAFER_CLASSES = ("Center", "Donut", "Edge-Loc", "Edge-Ring", "Loc", "Near-full", "Random", "Scratch", "none")
#: Labelled maps per class in the full WM-811K (172,950 labelled; 638,507 more are unlabelled).
WM811K_COUNTS = {"Center": 4294, "Donut": 555, "Edge-Loc": 5189, "Edge-Ring": 9680, "Loc": 3593,
                 "Near-full": 149, "Random": 866, "Scratch": 1193, "none": 147431}

UNLABELLED = "unlabelled"
ENCODINGS = ("levels", "states")
RESAMPLING = ("nearest", "area")
WAFER_CACHE_VERSION = 1
WAFER_SOURCES = (
    "download LSWMD.pkl (about 2 GB) from the Kaggle data set 'WM-811K wafer map' "
    "(kaggle.com/datasets/qingyi/wm811k-wafer-map) or from the MIR Lab of National Taiwan "
    "University (mirlab.org, data set WM-811K), and put it there. "
    "Without it, aecore.wafer_synthetic.synthetic_wafer_maps() makes synthetic maps."
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
    147,431 ``none`` maps; see :meth:`LabelledImages.limit_per_class`). See :func:`maps_to_images` for ``size``, ``encoding`` and
    ``resample``.

    The first call unpickles the file (minutes for the full 2 GB) and caches the resized
    maps under ``<cache root>/wafer/``, keyed by the file's size and modification time
    and the settings; later calls read the cache.
    """
    source = Path(path) if path is not None else wafer_pickle_path()
    if not source.is_file():
        raise DataNotFoundError(missing_data_message("WM-811K wafer maps (LSWMD.pkl)", source, WAFER_SOURCES))
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
    return result.limit_per_class(max_per_class, seed)


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


# The synthetic generator has its own module; notebooks reach it as ``wafer.synthetic_wafer_maps``.
# Looked up on first use, because aecore.wafer_synthetic itself imports this module.
_SYNTHETIC = ("SYNTHETIC_COUNTS", "synthetic_wafer_maps")


def __getattr__(name: str) -> Any:
    """``wafer.SYNTHETIC_COUNTS`` and ``wafer.synthetic_wafer_maps``, from :mod:`aecore.wafer_synthetic`."""
    if name in _SYNTHETIC:
        from . import wafer_synthetic

        return getattr(wafer_synthetic, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
