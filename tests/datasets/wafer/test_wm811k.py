"""WM-811K: the LSWMD.pkl loader (aecore.datasets.wafer.wm811k), on a small fixture in the same schema."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from aecore.datasets.images import DataNotFoundError
from aecore.datasets.wafer import wm811k
from aecore.datasets.wafer.maps import WAFER_CLASSES

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


def object_column(values) -> pd.Series:
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
def lswmd(dirs, monkeypatch):
    """The fixture at the default path, trusted as a careful reader does: its SHA-256 pinned (no warning)."""
    path = write_lswmd(dirs[0] / "wafer" / "LSWMD.pkl")
    monkeypatch.setenv("AECORE_LSWMD_SHA256", hashlib.sha256(path.read_bytes()).hexdigest())
    return path


class RunsCode:
    """What a forged LSWMD.pkl can hold: unpickling it calls ``Path.touch`` on a marker file (any call would do)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


# ------------------------------------------------------------------------- a pickle runs code


def test_an_unpinned_pickle_is_read_after_one_warning_naming_it_and_its_hash(dirs, monkeypatch):
    """Lab 4 reads LSWMD.pkl whenever it is in the data folder: the reader is told, once, that the pickle runs
    code, and how to trust exactly this file."""
    monkeypatch.delenv("AECORE_LSWMD_SHA256", raising=False)
    path = write_lswmd(dirs[0] / "wafer" / "LSWMD.pkl")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.warns(UserWarning) as caught:
        wm811k.load_wafer_maps(size=8)
        wm811k.load_wafer_maps(size=4)  # another setting: unpickled again, no second warning
    (message,) = [str(w.message) for w in caught]
    assert f"{path} is a pickle: reading it runs whatever code it holds" in message
    assert f"Its SHA-256 is {digest}" in message and f"AECORE_LSWMD_SHA256={digest}" in message


def test_a_pickle_with_another_hash_than_the_pinned_one_is_never_unpickled(dirs, monkeypatch, tmp_path):
    trusted = write_lswmd(tmp_path / "trusted.pkl")
    monkeypatch.setenv("AECORE_LSWMD_SHA256", hashlib.sha256(trusted.read_bytes()).hexdigest())
    marker = tmp_path / "the pickle ran code"
    forged = dirs[0] / "wafer" / "LSWMD.pkl"
    forged.parent.mkdir(parents=True)
    forged.write_bytes(pickle.dumps(RunsCode(marker)))
    with pytest.raises(ValueError, match=f"has SHA-256 {hashlib.sha256(forged.read_bytes()).hexdigest()}, but "
                                         "AECORE_LSWMD_SHA256 pins .*so it was not read"):
        wm811k.load_wafer_maps(size=8)
    assert not marker.exists()
    monkeypatch.delenv("AECORE_LSWMD_SHA256")  # unpinned, the same file runs its code: what the warning is about
    with pytest.warns(UserWarning, match="runs whatever code it holds"), pytest.raises(ValueError):
        wm811k.load_wafer_maps(size=8)
    assert marker.exists()


# ------------------------------------------------------------------------- loader


def test_current_pandas_cannot_read_the_legacy_fixture_alone(lswmd):
    with pytest.raises(ModuleNotFoundError, match="pandas.indexes"):
        pd.read_pickle(lswmd)


def test_legacy_class_locations_map_to_current_ones():
    assert wm811k._modern_location("pandas.indexes.base", "Index") == ("pandas.core.indexes.base", "Index")
    assert wm811k._modern_location("pandas.indexes.range", "RangeIndex") == ("pandas.core.indexes.range", "RangeIndex")
    assert wm811k._modern_location("pandas.indexes.numeric", "Int64Index") == ("pandas.core.indexes.base", "Index")
    assert wm811k._modern_location("numpy", "dtype") == ("numpy", "dtype")


def test_loader_reads_the_legacy_pickle_and_cleans_the_labels(lswmd):
    maps = wm811k.load_wafer_maps(size=8)  # default path: <data root>/wafer/LSWMD.pkl
    assert maps.images.shape == (5, 1, 8, 8) and maps.images.dtype == torch.float32
    assert set(maps.images.unique().tolist()) <= {0.0, 0.5, 1.0}
    assert list(maps.classes) == list(WAFER_CLASSES)
    assert [maps.classes[i] for i in maps.labels] == ["Center", "Edge-Loc", "none", "Near-full", "none"]
    assert maps.class_counts() == {"Center": 1, "Edge-Loc": 1, "Near-full": 1, "none": 2}


def test_maps_are_stretched_to_the_square_keeping_the_three_states(lswmd):
    maps = wm811k.load_wafer_maps(lswmd, size=8)
    expected_small = torch.from_numpy(np.kron(SMALL, np.ones((2, 2)))).float() / 2
    assert torch.equal(maps.images[0, 0], expected_small)
    wide = maps.images[1, 0]  # 3x6 -> 8x8: right half fails, left corners off-wafer
    assert (wide[:, 5:7] == 1.0).all() and wide[0, 0] == 0 and wide[3, 1] == 0.5


def test_states_encoding_has_one_channel_per_state(lswmd):
    maps = wm811k.load_wafer_maps(lswmd, size=4, encoding="states")
    assert maps.images.shape == (5, 3, 4, 4)
    assert torch.equal(maps.images.sum(1), torch.ones(5, 4, 4))
    assert torch.equal(maps.images[0].argmax(0), torch.from_numpy(SMALL).long())


def test_unlabelled_maps_can_be_kept_as_a_tenth_class(lswmd):
    maps = wm811k.load_wafer_maps(lswmd, size=8, include_unlabelled=True)
    assert len(maps) == 7 and maps.classes[-1] == "unlabelled"
    assert maps.class_counts()["unlabelled"] == 2


def test_max_per_class_keeps_a_seeded_subset(lswmd):
    maps = wm811k.load_wafer_maps(lswmd, size=8, max_per_class=1)
    assert maps.class_counts() == {"Center": 1, "Edge-Loc": 1, "Near-full": 1, "none": 1}
    again = wm811k.load_wafer_maps(lswmd, size=8, max_per_class=1)
    assert torch.equal(maps.images, again.images)


def test_second_load_reads_the_cache_not_the_pickle(lswmd, dirs, monkeypatch):
    first = wm811k.load_wafer_maps(lswmd, size=8)
    cached = list((dirs[1] / "wafer").glob("lswmd-8px-levels-*.pt"))
    assert len(cached) == 1
    assert sorted(p.name for p in lswmd.parent.iterdir()) == ["LSWMD.pkl"], "nothing written beside the source"
    monkeypatch.setattr(wm811k, "read_lswmd", lambda path: pytest.fail("the pickle was read again"))
    second = wm811k.load_wafer_maps(lswmd, size=8)
    assert torch.equal(first.images, second.images) and torch.equal(first.labels, second.labels)


def test_changed_file_or_settings_do_not_reuse_the_cache(lswmd, dirs, monkeypatch):
    wm811k.load_wafer_maps(lswmd, size=8)
    wm811k.load_wafer_maps(lswmd, size=16)
    write_lswmd(lswmd, FIXTURE_ROWS[:3])
    monkeypatch.setenv("AECORE_LSWMD_SHA256", hashlib.sha256(lswmd.read_bytes()).hexdigest())  # the new copy trusted
    assert len(wm811k.load_wafer_maps(lswmd, size=8)) == 3
    assert len(list((dirs[1] / "wafer").glob("*.pt"))) == 3


def test_a_current_pandas_pickle_loads_too(dirs):
    path = write_lswmd(dirs[0] / "modern.pkl", legacy=False)
    with pytest.warns(UserWarning, match="modern.pkl is a pickle"):
        assert wm811k.load_wafer_maps(path, size=8).class_counts()["none"] == 2


def test_missing_file_gives_one_clear_error(dirs):
    with pytest.raises(DataNotFoundError) as info:
        wm811k.load_wafer_maps()
    message = str(info.value)
    assert str(dirs[0] / "wafer" / "LSWMD.pkl") in message
    assert "AECORE_DATA" in message and "WM-811K" in message and "Kaggle" in message
    assert "synthetic_wafer_maps" in message


def test_a_table_without_wafer_maps_is_rejected(dirs):
    path = dirs[0] / "other.pkl"
    pd.DataFrame({"a": [1, 2]}).to_pickle(path)
    with pytest.raises(ValueError, match="waferMap"), pytest.warns(UserWarning, match="is a pickle"):
        wm811k.load_wafer_maps(path)


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
    assert wm811k.clean_failure_type(entry) == expected


def test_unknown_failure_type_is_an_error():
    with pytest.raises(ValueError, match="unknown failureType 'Crack'"):
        wm811k.clean_failure_type(np.array([["Crack"]], dtype=object))
