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

    A map holding any other value (a fraction such as 1.7, a NaN, a 3) raises ValueError
    naming the map and the value: nothing is rounded or truncated silently.

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
        states = torch.as_tensor(_die_states(wafer_map, i), dtype=torch.long)
        one_hot = F.one_hot(states, 3).permute(2, 0, 1).float().unsqueeze(0)
        if resample == "area":
            out[i] = F.adaptive_avg_pool2d(one_hot, size)[0]
        else:
            out[i] = F.interpolate(one_hot, size=(size, size), mode="nearest")[0]
    if encoding == "states":
        return out
    return out[:, 1:2] * 0.5 + out[:, 2:3]


def _die_states(wafer_map: np.ndarray, index: int) -> np.ndarray:
    """Wafer map number ``index`` as a non-empty 2-D integer array of 0/1/2; ValueError naming the map and the
    first bad value otherwise (floats must hold whole numbers: 1.7 is no die state, and is never truncated)."""
    states = np.asarray(wafer_map)
    if states.ndim != 2 or states.size == 0:
        raise ValueError(f"wafer map {index} must be a non-empty 2-D array, got shape {states.shape}")
    if states.dtype.kind not in "biuf":
        raise ValueError(f"wafer map {index} holds {states.dtype} values; a wafer map is an array of the integers "
                         "0 (off-wafer), 1 (pass) and 2 (fail)")
    bad = ~np.isin(states, (0, 1, 2))
    if bad.any():
        row, col = (int(v) for v in np.argwhere(bad)[0])
        example = states[row, col].item()
        raise ValueError(f"wafer map {index} holds {int(bad.sum())} values that are not 0 (off-wafer), 1 (pass) or "
                         f"2 (fail), e.g. {example!r} at row {row}, column {col}; fix the map (a float map must hold "
                         "whole numbers, which are never rounded or truncated here)")
    return states


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
