"""MNIST: the four original files, checked and unpacked into the cache, as :class:`LabelledImages`.

Layout of the data root (``aecore.config.data_root()``, i.e. ``$AECORE_DATA``)::

    <data root>/MNIST/raw/train-images-idx3-ubyte.gz ... (the four original files)

The data root is only ever read. The files are copied into ``<cache root>/mnist/MNIST/raw``,
checked against their MD5 sums and unpacked there (torchvision's layout); a download
(``download=True``) goes there too.
"""

from __future__ import annotations

import gzip
import math
import shutil
import struct
import warnings
from pathlib import Path

from torchvision.datasets import MNIST

from ..config import cache_root, data_root
from ..utils import atomic_path, file_md5
from .images import DataNotFoundError, LabelledImages, missing_data_message

MNIST_CLASSES = tuple(str(d) for d in range(10))
# The four original MNIST files and their MD5 sums (the ones torchvision checks too).
MNIST_MD5 = dict(MNIST.resources)


def load_mnist(split: str = "train", *, download: bool = False, limit: int | None = None,
               seed: int = 0) -> LabelledImages:
    """MNIST digits as a :class:`LabelledImages` of shape (N, 1, 28, 28) in [0, 1].

    ``split`` is ``"train"`` (60,000) or ``"test"`` (10,000); ``limit`` keeps a seeded
    random subset. The four original ``.gz`` files are looked for in
    ``<data root>/MNIST/raw``; they are checked (MD5) and unpacked into the cache, never
    beside the source. With ``download=True`` torchvision fetches missing files.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    work = _prepare_mnist(download)
    dataset = MNIST(str(work), train=(split == "train"), download=False)
    images = dataset.data.unsqueeze(1).float().div_(255.0)
    labels = dataset.targets.long()
    return LabelledImages(images, labels, MNIST_CLASSES).subset(limit, seed)


def mnist_root(download: bool = False) -> Path:
    """torchvision's ``root`` for MNIST in the cache (``<cache>/mnist``), with the four files
    unpacked and checked there (see :func:`load_mnist`): ``torchvision.datasets.MNIST(mnist_root())``."""
    return _prepare_mnist(download)


def _prepare_mnist(download: bool) -> Path:
    """Make sure valid unpacked MNIST files exist under the cache; return torchvision's root for them.

    The ``.gz`` files from ``<data root>/MNIST/raw`` are copied into the cache, checked
    against their MD5 and unpacked there. Without them, ``download=True`` lets
    torchvision fetch (and check) the files into the cache. Unpacked files whose size
    does not match their IDX header (e.g. truncated) are reported and rebuilt.
    """
    work = cache_root() / "mnist"
    raw = work / "MNIST" / "raw"
    unpacked = [raw / Path(name).stem for name in MNIST_MD5]
    present = [path for path in unpacked if path.is_file()]
    broken = {path: problem for path in present if (problem := _idx_problem(path))}
    if len(present) == len(unpacked) and not broken:  # already unpacked
        return work
    if broken:
        warnings.warn("Rebuilding invalid unpacked MNIST files in the cache: "
                      + "; ".join(f"{path} ({problem})" for path, problem in broken.items()), stacklevel=2)
        for path in broken:  # derived files: torchvision only re-extracts missing ones
            path.unlink()
    source = data_root() / "MNIST" / "raw"
    present = [name for name in MNIST_MD5 if (source / name).is_file()]
    if len(present) == len(MNIST_MD5):
        for name, md5 in MNIST_MD5.items():
            if file_md5(source / name) != md5:
                raise ValueError(
                    f"{source / name} is corrupt (its MD5 differs from {md5}). Replace it with the "
                    "original file, or remove it and load with download=True."
                )
            with atomic_path(raw / name) as tmp:
                shutil.copyfile(source / name, tmp)
            with atomic_path(raw / Path(name).stem) as tmp:
                with gzip.open(raw / name, "rb") as src, open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        return work
    if not download:
        missing = sorted(set(MNIST_MD5) - set(present))
        raise DataNotFoundError(
            missing_data_message("MNIST", source, "aecore.datasets.load_mnist(..., download=True)")
            + f"\nMissing files: {', '.join(missing)}"
        )
    MNIST(str(work), train=True, download=True)  # torchvision: fetch, verify MD5, unpack
    return work


def _idx_problem(path: Path) -> str | None:
    """Why an unpacked MNIST IDX file (``...-idx3-ubyte``: 3 dimensions) is unusable, or None if it is fine.

    Checks the header (unsigned bytes, the number of dimensions in the file name) and
    that the file size is the header's 4 + 4 * ndim bytes plus one byte per value.
    """
    ndim = int(path.name.split("-idx")[1][0])
    header_size = 4 + 4 * ndim
    with open(path, "rb") as fh:
        header = fh.read(header_size)
    if len(header) < header_size or header[:4] != bytes([0, 0, 8, ndim]):
        return f"not an IDX file of unsigned bytes with {ndim} dimensions"
    expected = header_size + math.prod(struct.unpack(f">{ndim}I", header[4:]))
    size = path.stat().st_size
    return None if size == expected else f"{size} bytes, but its header says {expected}"
