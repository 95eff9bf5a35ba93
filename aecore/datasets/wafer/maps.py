"""Wafer maps as images: the nine failure classes, the map-to-image encoding and helpers to judge maps.

A wafer map records the electrical test of every die on one silicon wafer as a 2-D
integer array: ``0`` = no die (off the round wafer), ``1`` = die passed, ``2`` = die
failed. Maps come in many die-grid sizes; the real maps (:mod:`aecore.datasets.wafer.wm811k`)
and the synthetic ones (:mod:`aecore.datasets.wafer.synthetic`) are turned into fixed squares
with the same :func:`maps_to_images`, so both reach a model in the same form.

Encodings of a ``size`` x ``size`` map (``encoding=``):

* ``"levels"`` (default): one channel, off-wafer 0, pass 0.5, fail 1;
* ``"states"``: three channels, one per state (off-wafer, pass, fail), each 0 or 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.nn import functional as F

#: The nine WM-811K failure patterns, in the order of the labels (0..8).
WAFER_CLASSES = ("Center", "Donut", "Edge-Loc", "Edge-Ring", "Loc", "Near-full", "Random", "Scratch", "none")
#: Labelled maps per class in the full WM-811K (172,950 labelled; 638,507 more are unlabelled).
WM811K_COUNTS = {"Center": 4294, "Donut": 555, "Edge-Loc": 5189, "Edge-Ring": 9680, "Loc": 3593,
                 "Near-full": 149, "Random": 866, "Scratch": 1193, "none": 147431}

ENCODINGS = ("levels", "states")
RESAMPLING = ("nearest", "area")


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
