"""The synthetic wafer-map generator (aecore.datasets.wafer.synthetic)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from aecore.datasets.wafer import synthetic
from aecore.datasets.wafer.maps import WAFER_CLASSES, WM811K_COUNTS


def test_generator_is_deterministic_given_the_seed():
    a = synthetic.synthetic_wafer_maps(5, size=16, seed=3)
    b = synthetic.synthetic_wafer_maps(5, size=16, seed=3)
    c = synthetic.synthetic_wafer_maps(5, size=16, seed=4)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, c.images)


def test_generator_counts_per_class():
    every = synthetic.synthetic_wafer_maps(3, size=16)
    assert every.class_counts() == {name: 3 for name in WAFER_CLASSES}
    some = synthetic.synthetic_wafer_maps({"Donut": 2, "Scratch": 4}, size=16)
    assert some.class_counts() == {"Donut": 2, "Scratch": 4} and list(some.classes) == list(WAFER_CLASSES)
    with pytest.raises(ValueError, match="unknown wafer classes"):
        synthetic.synthetic_wafer_maps({"Crack": 1})


def test_default_counts_are_imbalanced_like_wm811k():
    counts = synthetic.SYNTHETIC_COUNTS
    defects = {k: v for k, v in counts.items() if k != "none"}
    assert sorted(defects, key=defects.get)[:4] == ["Near-full", "Donut", "Random", "Scratch"]
    real = {k: v for k, v in WM811K_COUNTS.items() if k != "none"}
    assert sorted(defects, key=defects.get) == sorted(real, key=real.get)
    assert max(counts.values()) / min(counts.values()) > 50


def test_generator_encodes_a_round_wafer_in_three_levels():
    maps = synthetic.synthetic_wafer_maps(4, size=32, seed=0)
    assert maps.images.shape == (36, 1, 32, 32)
    assert set(maps.images.unique().tolist()) <= {0.0, 0.5, 1.0}
    assert (maps.images[:, 0, 0, 0] == 0).all() and (maps.images[:, 0, -1, -1] == 0).all(), "corners are off-wafer"
    assert (maps.images[:, 0, 14:18, 14:18] > 0).all(), "the middle is on the wafer"
    states = synthetic.synthetic_wafer_maps(2, size=16, encoding="states")
    assert states.images.shape == (18, 3, 16, 16) and torch.equal(states.images.sum(1), torch.ones(18, 16, 16))


def test_raw_synthetic_map_uses_the_lswmd_encoding_on_a_die_grid():
    raw = synthetic.synthetic_wafer_map("Edge-Ring", np.random.default_rng(0), size=32)
    assert raw.dtype == np.uint8 and set(np.unique(raw)) == {0, 1, 2}
    assert 26 <= raw.shape[0] <= 48 and 26 <= raw.shape[1] <= 48
    with pytest.raises(ValueError, match="unknown wafer pattern"):
        synthetic.synthetic_wafer_map("Crack", np.random.default_rng(0))


def map_statistics(images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-map numbers of 'levels' maps (N, 1, S, S) that tell the patterns apart, each shaped (N,).

    Fail shares of the on-wafer dies in radial zones (r = 1 is the wafer's rim); the share
    of fails that sit in a cluster (3+ failing neighbours); the largest share of the rim's
    fails in one of eight sectors; and where the clustered fails lie (distance of their
    centroid from the centre) and how elongated they are (ratio of their covariance eigenvalues).
    """
    x = images[:, 0]
    size = x.shape[-1]
    fail, on = (x == 1).float(), (x > 0).float()
    c = (torch.arange(size) + 0.5) / size * 2 - 1
    yy, xx = torch.meshgrid(c, c, indexing="ij")
    r = torch.hypot(xx, yy)

    def share(zone: torch.Tensor) -> torch.Tensor:
        return (fail * zone).sum((1, 2)) / (on * zone).sum((1, 2)).clamp(min=1)

    neighbours = F.conv2d(fail[:, None], torch.ones(1, 1, 3, 3), padding=1)[:, 0] - fail
    clustered = fail * (neighbours >= 3).float()
    sector = ((torch.atan2(yy, xx) + torch.pi) / (2 * torch.pi) * 8).long().clamp(max=7)
    rim_fails = fail * (r > 0.8).float()
    per_sector = torch.stack([(rim_fails * (sector == k).float()).sum((1, 2)) for k in range(8)], 1)
    weight = clustered.sum((1, 2)).clamp(min=1)
    mx, my = (clustered * xx).sum((1, 2)) / weight, (clustered * yy).sum((1, 2)) / weight
    dx, dy = xx - mx[:, None, None], yy - my[:, None, None]
    cxx, cyy, cxy = ((clustered * v).sum((1, 2)) / weight for v in (dx * dx, dy * dy, dx * dy))
    half_trace = (cxx + cyy) / 2
    spread = (half_trace ** 2 - (cxx * cyy - cxy ** 2)).clamp(min=0).sqrt()
    return {
        "all": share(torch.ones_like(r)), "centre": share((r < 0.2).float()),
        "middle": share(((r > 0.35) & (r < 0.7)).float()), "rim": share((r > 0.85).float()),
        "clustered": clustered.sum((1, 2)) / fail.sum((1, 2)).clamp(min=1),
        "one_sector": per_sector.max(1).values / per_sector.sum(1).clamp(min=1),
        "cluster_radius": torch.hypot(mx, my),
        "elongation": (half_trace + spread) / (half_trace - spread).clamp(min=1e-4),
    }


def test_each_pattern_is_distinct_in_where_and_how_dies_fail():
    maps = synthetic.synthetic_wafer_maps(40, size=32, seed=1)
    stats = map_statistics(maps.images)
    median = {name: {key: values[maps.labels == k].median().item() for key, values in stats.items()}
              for k, name in enumerate(maps.classes)}
    m = median
    assert m["Center"]["centre"] > 0.4 and m["Center"]["rim"] < 0.1
    assert m["Donut"]["middle"] > 0.25 and m["Donut"]["centre"] < 0.1 and m["Donut"]["rim"] < 0.1
    assert m["Edge-Ring"]["rim"] > 0.4 and m["Edge-Ring"]["centre"] < 0.1 and m["Edge-Ring"]["one_sector"] < 0.25
    assert m["Edge-Loc"]["one_sector"] > 0.45 and m["Edge-Loc"]["cluster_radius"] > 0.6
    assert m["Edge-Loc"]["centre"] < 0.05
    assert m["Loc"]["clustered"] > 0.3 and 0.15 < m["Loc"]["cluster_radius"] < 0.7 and m["Loc"]["rim"] < 0.1
    assert m["Scratch"]["elongation"] > 10 and m["Loc"]["elongation"] < 10 and m["Scratch"]["all"] < 0.1
    assert m["Near-full"]["all"] > 0.7
    assert 0.15 < m["Random"]["all"] < 0.5 and abs(m["Random"]["centre"] - m["Random"]["rim"]) < 0.15
    assert m["none"]["all"] < 0.06 and m["none"]["clustered"] < 0.1
    # Fail counts alone order the three classes that have no shape.
    assert m["none"]["all"] < m["Random"]["all"] < m["Near-full"]["all"]
