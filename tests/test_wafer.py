"""Wafer maps: the LSWMD.pkl loader (on a small fixture in the same schema) and the synthetic generator."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from torch.nn import functional as F

from aecore import wafer
from aecore.data import DataNotFoundError

# A 4x4 wafer: off-wafer corners, a ring of passing dies, four failing dies in the middle.
SMALL = np.array([[0, 1, 1, 0], [1, 2, 2, 1], [1, 2, 2, 1], [0, 1, 1, 0]], dtype=np.uint8)
# A 3x6 wafer (wide dies): fails on the right half.
WIDE = np.array([[0, 1, 1, 2, 2, 0], [1, 1, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0]], dtype=np.uint8)
UNLABELLED = np.zeros((0, 0))  # how LSWMD.pkl stores a map without a label

# (waferMap, failureType, trianTestLabel) rows as the real table has them.
FIXTURE_ROWS = [
    (SMALL, np.array([["Center"]], dtype=object), np.array([["Training"]], dtype=object)),
    (WIDE, np.array([["Edge-Loc"]], dtype=object), np.array([["Test"]], dtype=object)),
    (np.ones((5, 5), np.uint8), np.array([["none"]], dtype=object), np.array([["Training"]], dtype=object)),
    (np.full((4, 4), 2, np.uint8), np.array([["Near-full"]], dtype=object), np.array([["Training"]], dtype=object)),
    (np.ones((6, 4), np.uint8), UNLABELLED, UNLABELLED),
    (np.ones((4, 6), np.uint8), np.array([["none"]], dtype=object), np.array([["Test"]], dtype=object)),
    (np.ones((5, 7), np.uint8), UNLABELLED, UNLABELLED),
]
# What pandas 0.x called the classes that a current pandas pickles (protocol 2 names them as text).
LEGACY_NAMES = {
    b"cpandas\nDataFrame\n": b"cpandas.core.frame\nDataFrame\n",
    b"cpandas\nIndex\n": b"cpandas.indexes.base\nIndex\n",
    b"cpandas\nRangeIndex\n": b"cpandas.indexes.range\nRangeIndex\n",
    b"cpandas.core.indexes.base\n_new_Index\n": b"cpandas.indexes.base\n_new_Index\n",
    b"cpandas.core.internals.managers\nBlockManager\n": b"cpandas.core.internals\nBlockManager\n",
    b"cnumpy._core.multiarray\n_reconstruct\n": b"cnumpy.core.multiarray\n_reconstruct\n",
}


def object_column(values) -> "pd.Series":
    column = pd.Series([None] * len(values), dtype=object)
    for i, value in enumerate(values):
        column.iat[i] = value
    return column


def write_lswmd(path, rows=FIXTURE_ROWS, legacy: bool = True):
    """Write a small table in LSWMD.pkl's schema; ``legacy`` names the classes as pandas 0.x did."""
    table = pd.DataFrame({
        "waferMap": object_column([r[0] for r in rows]),
        "dieSize": [float(r[0].size) for r in rows],
        "lotName": object_column([f"lot{i // 3 + 1}" for i in range(len(rows))]),
        "waferIndex": [float(i % 3 + 1) for i in range(len(rows))],
        "trianTestLabel": object_column([r[2] for r in rows]),
        "failureType": object_column([r[1] for r in rows]),
    })
    table.columns = pd.Index(list(table.columns), dtype=object)
    blob = pickle.dumps(table, protocol=2)
    if legacy:
        for new, old in LEGACY_NAMES.items():
            blob = blob.replace(new, old)
        assert b"pandas.indexes.base" in blob, "the fixture must use the pandas 0.x names"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(blob)
    return path


@pytest.fixture
def lswmd(dirs):
    return write_lswmd(dirs[0] / "wafer" / "LSWMD.pkl")


# ------------------------------------------------------------------------- loader


def test_current_pandas_cannot_read_the_legacy_fixture_alone(lswmd):
    with pytest.raises(ModuleNotFoundError, match="pandas.indexes"):
        pd.read_pickle(lswmd)


def test_legacy_class_locations_map_to_current_ones():
    assert wafer._modern_location("pandas.indexes.base", "Index") == ("pandas.core.indexes.base", "Index")
    assert wafer._modern_location("pandas.indexes.range", "RangeIndex") == ("pandas.core.indexes.range", "RangeIndex")
    assert wafer._modern_location("pandas.indexes.numeric", "Int64Index") == ("pandas.core.indexes.base", "Index")
    assert wafer._modern_location("numpy", "dtype") == ("numpy", "dtype")


def test_loader_reads_the_legacy_pickle_and_cleans_the_labels(lswmd):
    maps = wafer.load_wafer_maps(size=8)  # default path: <data root>/wafer/LSWMD.pkl
    assert maps.images.shape == (5, 1, 8, 8) and maps.images.dtype == torch.float32
    assert set(maps.images.unique().tolist()) <= {0.0, 0.5, 1.0}
    assert list(maps.classes) == list(wafer.WAFER_CLASSES)
    assert [maps.classes[i] for i in maps.labels] == ["Center", "Edge-Loc", "none", "Near-full", "none"]
    assert maps.class_counts() == {"Center": 1, "Edge-Loc": 1, "Near-full": 1, "none": 2}


def test_maps_are_stretched_to_the_square_keeping_the_three_states(lswmd):
    maps = wafer.load_wafer_maps(lswmd, size=8)
    expected_small = torch.from_numpy(np.kron(SMALL, np.ones((2, 2)))).float() / 2
    assert torch.equal(maps.images[0, 0], expected_small)
    wide = maps.images[1, 0]  # 3x6 -> 8x8: right half fails, left corners off-wafer
    assert (wide[:, 5:7] == 1.0).all() and wide[0, 0] == 0 and wide[3, 1] == 0.5


def test_states_encoding_has_one_channel_per_state(lswmd):
    maps = wafer.load_wafer_maps(lswmd, size=4, encoding="states")
    assert maps.images.shape == (5, 3, 4, 4)
    assert torch.equal(maps.images.sum(1), torch.ones(5, 4, 4))
    assert torch.equal(maps.images[0].argmax(0), torch.from_numpy(SMALL).long())


def test_area_resampling_keeps_the_share_of_each_state():
    checker = np.tile(np.array([[1, 2], [2, 1]], dtype=np.uint8), (4, 4))  # 8x8, half of the dies fail
    states = wafer.maps_to_images([checker], 4, encoding="states", resample="area")
    assert torch.allclose(states[0, 1:], torch.full((2, 4, 4), 0.5))
    nearest = wafer.maps_to_images([checker], 4, encoding="states", resample="nearest")
    assert set(nearest.unique().tolist()) == {0.0, 1.0}


def test_unlabelled_maps_can_be_kept_as_a_tenth_class(lswmd):
    maps = wafer.load_wafer_maps(lswmd, size=8, include_unlabelled=True)
    assert len(maps) == 7 and maps.classes[-1] == "unlabelled"
    assert maps.class_counts()["unlabelled"] == 2


def test_max_per_class_keeps_a_seeded_subset(lswmd):
    maps = wafer.load_wafer_maps(lswmd, size=8, max_per_class=1)
    assert maps.class_counts() == {"Center": 1, "Edge-Loc": 1, "Near-full": 1, "none": 1}
    again = wafer.load_wafer_maps(lswmd, size=8, max_per_class=1)
    assert torch.equal(maps.images, again.images)


def test_second_load_reads_the_cache_not_the_pickle(lswmd, dirs, monkeypatch):
    first = wafer.load_wafer_maps(lswmd, size=8)
    cached = list((dirs[1] / "wafer").glob("lswmd-8px-levels-*.pt"))
    assert len(cached) == 1
    assert sorted(p.name for p in lswmd.parent.iterdir()) == ["LSWMD.pkl"], "nothing written beside the source"
    monkeypatch.setattr(wafer, "read_lswmd", lambda path: pytest.fail("the pickle was read again"))
    second = wafer.load_wafer_maps(lswmd, size=8)
    assert torch.equal(first.images, second.images) and torch.equal(first.labels, second.labels)


def test_changed_file_or_settings_do_not_reuse_the_cache(lswmd, dirs):
    wafer.load_wafer_maps(lswmd, size=8)
    wafer.load_wafer_maps(lswmd, size=16)
    write_lswmd(lswmd, FIXTURE_ROWS[:3])
    assert len(wafer.load_wafer_maps(lswmd, size=8)) == 3
    assert len(list((dirs[1] / "wafer").glob("*.pt"))) == 3


def test_a_current_pandas_pickle_loads_too(dirs):
    path = write_lswmd(dirs[0] / "modern.pkl", legacy=False)
    assert wafer.load_wafer_maps(path, size=8).class_counts()["none"] == 2


def test_missing_file_gives_one_clear_error(dirs):
    with pytest.raises(DataNotFoundError) as info:
        wafer.load_wafer_maps()
    message = str(info.value)
    assert str(dirs[0] / "wafer" / "LSWMD.pkl") in message
    assert "AECORE_DATA" in message and "WM-811K" in message and "Kaggle" in message
    assert "synthetic_wafer_maps" in message


def test_a_table_without_wafer_maps_is_rejected(dirs):
    path = dirs[0] / "other.pkl"
    pd.DataFrame({"a": [1, 2]}).to_pickle(path)
    with pytest.raises(ValueError, match="waferMap"):
        wafer.load_wafer_maps(path)


@pytest.mark.parametrize("entry, expected", [
    (np.array([["Edge-Ring"]], dtype=object), "Edge-Ring"),
    (np.array([["none"]], dtype=object), "none"),
    ([["Scratch"]], "Scratch"),
    (" near-full ", "Near-full"),
    (np.zeros((0, 0)), None),
    ([], None),
    (float("nan"), None),
    ("", None),
])
def test_failure_types_are_cleaned_up(entry, expected):
    assert wafer.clean_failure_type(entry) == expected


def test_unknown_failure_type_is_an_error():
    with pytest.raises(ValueError, match="unknown failureType 'Crack'"):
        wafer.clean_failure_type(np.array([["Crack"]], dtype=object))


def test_maps_outside_the_three_states_are_rejected():
    with pytest.raises(ValueError, match="outside"):
        wafer.maps_to_images([np.array([[0, 3], [1, 1]])], 4)


# ----------------------------------------------------------------------- generator


def test_generator_is_deterministic_given_the_seed():
    a = wafer.synthetic_wafer_maps(5, size=16, seed=3)
    b = wafer.synthetic_wafer_maps(5, size=16, seed=3)
    c = wafer.synthetic_wafer_maps(5, size=16, seed=4)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, c.images)


def test_generator_counts_per_class():
    every = wafer.synthetic_wafer_maps(3, size=16)
    assert every.class_counts() == {name: 3 for name in wafer.WAFER_CLASSES}
    some = wafer.synthetic_wafer_maps({"Donut": 2, "Scratch": 4}, size=16)
    assert some.class_counts() == {"Donut": 2, "Scratch": 4} and list(some.classes) == list(wafer.WAFER_CLASSES)
    with pytest.raises(ValueError, match="unknown wafer classes"):
        wafer.synthetic_wafer_maps({"Crack": 1})


def test_default_counts_are_imbalanced_like_wm811k():
    counts = wafer.SYNTHETIC_COUNTS
    defects = {k: v for k, v in counts.items() if k != "none"}
    assert sorted(defects, key=defects.get)[:4] == ["Near-full", "Donut", "Random", "Scratch"]
    real = {k: v for k, v in wafer.WM811K_COUNTS.items() if k != "none"}
    assert sorted(defects, key=defects.get) == sorted(real, key=real.get)
    assert max(counts.values()) / min(counts.values()) > 50


def test_generator_encodes_a_round_wafer_in_three_levels():
    maps = wafer.synthetic_wafer_maps(4, size=32, seed=0)
    assert maps.images.shape == (36, 1, 32, 32)
    assert set(maps.images.unique().tolist()) <= {0.0, 0.5, 1.0}
    assert (maps.images[:, 0, 0, 0] == 0).all() and (maps.images[:, 0, -1, -1] == 0).all(), "corners are off-wafer"
    assert (maps.images[:, 0, 14:18, 14:18] > 0).all(), "the middle is on the wafer"
    states = wafer.synthetic_wafer_maps(2, size=16, encoding="states")
    assert states.images.shape == (18, 3, 16, 16) and torch.equal(states.images.sum(1), torch.ones(18, 16, 16))


def test_raw_synthetic_map_uses_the_lswmd_encoding_on_a_die_grid():
    raw = wafer.synthetic_wafer_map("Edge-Ring", np.random.default_rng(0), size=32)
    assert raw.dtype == np.uint8 and set(np.unique(raw)) == {0, 1, 2}
    assert 26 <= raw.shape[0] <= 48 and 26 <= raw.shape[1] <= 48
    with pytest.raises(ValueError, match="unknown wafer pattern"):
        wafer.synthetic_wafer_map("Crack", np.random.default_rng(0))


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
    maps = wafer.synthetic_wafer_maps(40, size=32, seed=1)
    stats = map_statistics(maps.images)
    median = {name: {key: values[maps.labels == k].median().item() for key, values in stats.items()}
              for k, name in enumerate(maps.classes)}
    m = median
    assert m["Center"]["centre"] > 0.4 and m["Center"]["rim"] < 0.1
    assert m["Donut"]["middle"] > 0.25 and m["Donut"]["centre"] < 0.1 and m["Donut"]["rim"] < 0.1
    assert m["Edge-Ring"]["rim"] > 0.4 and m["Edge-Ring"]["centre"] < 0.1 and m["Edge-Ring"]["one_sector"] < 0.25
    assert m["Edge-Loc"]["one_sector"] > 0.45 and m["Edge-Loc"]["cluster_radius"] > 0.6 and m["Edge-Loc"]["centre"] < 0.05
    assert m["Loc"]["clustered"] > 0.3 and 0.15 < m["Loc"]["cluster_radius"] < 0.7 and m["Loc"]["rim"] < 0.1
    assert m["Scratch"]["elongation"] > 10 and m["Loc"]["elongation"] < 10 and m["Scratch"]["all"] < 0.1
    assert m["Near-full"]["all"] > 0.7
    assert 0.15 < m["Random"]["all"] < 0.5 and abs(m["Random"]["centre"] - m["Random"]["rim"]) < 0.15
    assert m["none"]["all"] < 0.06 and m["none"]["clustered"] < 0.1
    # Fail counts alone order the three classes that have no shape.
    assert m["none"]["all"] < m["Random"]["all"] < m["Near-full"]["all"]


def test_snap_levels_and_fail_fraction():
    images = torch.tensor([0.1, 0.3, 0.6, 0.8]).view(1, 1, 2, 2)
    assert wafer.snap_levels(images).flatten().tolist() == [0.0, 0.5, 0.5, 1.0]
    assert wafer.fail_fraction(images).tolist() == pytest.approx([1 / 3])
