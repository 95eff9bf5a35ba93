"""Wafer maps as images (aecore.datasets.wafer.maps) and the names the wafer package offers notebooks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aecore.datasets import wafer
from aecore.datasets.wafer import maps, synthetic


def test_area_resampling_keeps_the_share_of_each_state():
    checker = np.tile(np.array([[1, 2], [2, 1]], dtype=np.uint8), (4, 4))  # 8x8, half of the dies fail
    states = maps.maps_to_images([checker], 4, encoding="states", resample="area")
    assert torch.allclose(states[0, 1:], torch.full((2, 4, 4), 0.5))
    nearest = maps.maps_to_images([checker], 4, encoding="states", resample="nearest")
    assert set(nearest.unique().tolist()) == {0.0, 1.0}


def test_maps_outside_the_three_states_are_rejected():
    with pytest.raises(ValueError, match=r"wafer map 0 holds 1 values that are not 0 \(off-wafer\), 1 \(pass\) or "
                                         r"2 \(fail\), e.g. 3 at row 0, column 1"):
        maps.maps_to_images([np.array([[0, 3], [1, 1]])], 4)


def test_maps_of_floats_that_are_not_whole_numbers_are_rejected_not_truncated():
    """The issue: maps holding 1.7 and 0.6 became 1 and 0 without a word."""
    good = np.array([[0, 1], [2, 1]])
    with pytest.raises(ValueError, match=r"wafer map 1 holds 2 values that are not 0 .*e.g. 1.7 at row 0, column 1.*"
                                         r"a float map must hold whole numbers"):
        maps.maps_to_images([good, np.array([[0.0, 1.7], [0.6, 1.0]])], 4)
    with pytest.raises(ValueError, match="e.g. nan"):
        maps.maps_to_images([np.array([[0.0, np.nan], [1.0, 1.0]])], 4)
    with pytest.raises(ValueError, match="holds <U1 values"):
        maps.maps_to_images([np.array([["0", "1"], ["1", "2"]])], 4)
    as_floats = maps.maps_to_images([good.astype(np.float64)], 4)  # whole numbers stored as floats are fine
    assert torch.equal(as_floats, maps.maps_to_images([good], 4))


def test_snap_levels_and_fail_fraction():
    images = torch.tensor([0.1, 0.3, 0.6, 0.8]).view(1, 1, 2, 2)
    assert maps.snap_levels(images).flatten().tolist() == [0.0, 0.5, 0.5, 1.0]
    assert maps.fail_fraction(images).tolist() == pytest.approx([1 / 3])


def test_the_synthetic_generator_is_reachable_from_wafer_as_the_notebooks_use_it():
    assert wafer.synthetic_wafer_maps is synthetic.synthetic_wafer_maps
    assert wafer.SYNTHETIC_COUNTS is synthetic.SYNTHETIC_COUNTS
    with pytest.raises(AttributeError, match="synthetic_wafer_map'"):
        _ = wafer.synthetic_wafer_map  # the package offers the names notebook 04 uses; the rest stay in their modules
