"""WM-811K: the real wafer maps of ``LSWMD.pkl``, read (also from pandas 0.x's pickle) and cached as images.

WM-811K (Wu, Jang and Chen, IEEE TSM 2015) holds 811,457 wafer maps from real
production, 172,950 of them labelled with one of nine failure patterns
(:data:`~aecore.datasets.wafer.maps.WAFER_CLASSES`). :func:`load_wafer_maps` turns them into
fixed squares with :func:`~aecore.datasets.wafer.maps.maps_to_images`.

Layout of the data root (``aecore.config.data_root()``, i.e. ``$AECORE_DATA``)::

    <data root>/wafer/LSWMD.pkl      the original pickle (about 2 GB), read only

Resized copies are cached under ``<cache root>/wafer/``, never beside the source.

``LSWMD.pkl`` is a pickle, and unpickling a file runs whatever code it holds: a file from an
untrusted copy can do anything your account can. :func:`read_lswmd` therefore gives one warning
per file and process before it unpickles, with the file's SHA-256; setting
``AECORE_LSWMD_SHA256`` to the hash of the copy you trust (:func:`aecore.config.lswmd_sha256`)
reads that file without the warning and refuses any other. The cached maps are plain tensors
(``torch.load(weights_only=True)``), so the pickle is unpickled only when the cache is built.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import torch

from ...config import cache_root, data_root, lswmd_sha256
from ...utils import atomic_path, file_digest, stable_hash
from ..images import DataNotFoundError, LabelledImages, missing_data_message
from .maps import WAFER_CLASSES, maps_to_images

UNLABELLED = "unlabelled"
WAFER_CACHE_VERSION = 1
WAFER_SOURCES = (
    "download LSWMD.pkl (about 2 GB) from the Kaggle data set 'WM-811K wafer map' "
    "(kaggle.com/datasets/qingyi/wm811k-wafer-map) or from the MIR Lab of National Taiwan "
    "University (mirlab.org, data set WM-811K), and put it there. "
    "Without it, aecore.datasets.wafer.synthetic_wafer_maps() makes synthetic maps."
)


def wafer_pickle_path() -> Path:
    """Where ``LSWMD.pkl`` is expected: ``<data root>/wafer/LSWMD.pkl``."""
    return data_root() / "wafer" / "LSWMD.pkl"


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
    147,431 ``none`` maps; see :meth:`LabelledImages.limit_per_class`). See :func:`maps_to_images` for
    ``size``, ``encoding`` and ``resample``.

    The first call unpickles the file (minutes for the full 2 GB), after the check and the
    warning of :func:`check_pickle_trust` (a pickle runs its code when read), and caches the
    resized maps under ``<cache root>/wafer/``, keyed by the file's size and modification time
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
            warnings.warn(f"Ignoring unreadable cache {cache_file} ({err}); rebuilding it.", stacklevel=2)
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


_warned_pickles: set[tuple[str, str]] = set()


def check_pickle_trust(path: Path) -> None:
    """Before ``path`` (a pickle) is unpickled: refuse it (ValueError naming both hashes) when
    ``AECORE_LSWMD_SHA256`` pins another SHA-256; warn once per file and process when nothing pins it."""
    pin, digest = lswmd_sha256(), file_digest(path, "sha256")
    if pin is not None and digest != pin:
        raise ValueError(f"{path} has SHA-256 {digest}, but AECORE_LSWMD_SHA256 pins {pin}: it is not the copy you "
                         "trusted, and a pickle runs its code when it is read, so it was not read. Put the trusted "
                         "copy back, or, if this file is the one you mean to use, set AECORE_LSWMD_SHA256 to its hash.")
    if pin is None and (str(path), digest) not in _warned_pickles:
        _warned_pickles.add((str(path), digest))
        warnings.warn(
            f"{path} is a pickle: reading it runs whatever code it holds, so read only a copy you trust (from the "
            f"Kaggle data set 'WM-811K wafer map' or the MIR Lab, see book/data_sources.md). Its SHA-256 is {digest}; "
            f"when it is the copy you trust (or the hash your course gives), set AECORE_LSWMD_SHA256={digest} to read "
            "it without this warning and to refuse any other file. The resized maps are cached as plain tensors, so "
            "it is unpickled only once per setting.", stacklevel=3)


def read_lswmd(path: Path):
    """Read ``LSWMD.pkl`` into a pandas DataFrame, also when it was written by an old pandas.

    The published file comes from pandas 0.x, whose index classes lived in
    ``pandas.indexes`` (now ``pandas.core.indexes``); ``pandas.read_pickle`` cannot find
    them. This reads it with pandas' own compatibility unpickler, told where those
    classes moved. The file is checked first (:func:`check_pickle_trust`): unpickling
    runs the code a pickle holds.
    """
    import pandas as pd
    from pandas.compat import pickle_compat

    check_pickle_trust(path)

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
