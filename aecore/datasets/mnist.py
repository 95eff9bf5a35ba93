"""MNIST: the four original files, checked and unpacked into the cache, as :class:`LabelledImages`.

Layout of the data root (``aecore.config.data_root()``, i.e. ``$AECORE_DATA``)::

    <data root>/MNIST/raw/train-images-idx3-ubyte.gz ... (the four original files)

The data root is only ever read. The files are copied into ``<cache root>/mnist/MNIST/raw``,
checked against their MD5 sums and unpacked there (torchvision's layout); a download
(``download=True``) goes there too. The unpacked files are checked against the SHA-256
recorded when they were unpacked on every load, so a file changed in the cache is never
used (:func:`_prepare_mnist`).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import warnings
from pathlib import Path

from torchvision.datasets import MNIST

from ..config import cache_root, data_root
from ..utils import atomic_path, file_digest, file_md5
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
    """Make sure the unpacked MNIST files in the cache are exactly what the checked ``.gz`` files hold; return
    torchvision's root for them.

    Each unpack records, in ``<cache>/mnist/MNIST/raw/unpacked.json``, the source file's MD5
    and the unpacked file's size and SHA-256; every call hashes the four unpacked files (about
    0.1 s) and compares. A file that differs from its record (truncated, or its labels
    rewritten in place at the same size), or one without a record, is unpacked again from the
    ``.gz`` files, after a warning naming what changed. The ``.gz`` files come from the cache
    (kept from an earlier copy or download), else from ``<data root>/MNIST/raw`` (copied into
    the cache), else, with ``download=True``, from torchvision's mirrors; all are checked
    against their MD5 first.
    """
    work = cache_root() / "mnist"
    raw = work / "MNIST" / "raw"
    record = _read_record(raw)
    problems = {name: problem for name in MNIST_MD5 if (problem := _unpacked_problem(raw, name, record))}
    if not problems:
        return work
    changed = {name: problem for name, problem in problems.items() if not problem.startswith(("missing", "no record"))}
    if changed:
        warnings.warn("Unpacking MNIST files again, because the cache's copies differ from what was unpacked: "
                      + "; ".join(f"{raw / Path(name).stem} ({problem})" for name, problem in changed.items()),
                      stacklevel=3)
    _gather_gz(work, download)
    for name in problems:
        record[name] = _unpack(raw / name)
    with atomic_path(raw / UNPACKED_RECORD) as tmp:
        tmp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return work


# What each unpack wrote: {".gz name": {"source_md5", "bytes", "sha256"}} (see _prepare_mnist).
UNPACKED_RECORD = "unpacked.json"


def _read_record(raw: Path) -> dict[str, dict]:
    """The unpack record in ``raw`` ({} when missing or unreadable)."""
    try:
        record = json.loads((raw / UNPACKED_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _unpacked_problem(raw: Path, name: str, record: dict[str, dict]) -> str | None:
    """Why the unpacked file of the ``.gz`` ``name`` cannot be used as it is, or None when it matches its record."""
    path, noted = raw / Path(name).stem, record.get(name)
    if not path.is_file():
        return "missing"
    if not isinstance(noted, dict) or noted.get("source_md5") != MNIST_MD5[name]:
        return "no record of its unpacking"
    size = path.stat().st_size
    if size != noted.get("bytes"):
        return f"{size} bytes, but {noted.get('bytes')} were unpacked"
    if file_digest(path, "sha256") != noted.get("sha256"):
        return "same size, other contents: it was changed after unpacking"
    return None


def _gather_gz(work: Path, download: bool) -> None:
    """Put the four ``.gz`` files, MD5-checked, into ``<work>/MNIST/raw`` (see :func:`_prepare_mnist`)."""
    raw, source = work / "MNIST" / "raw", data_root() / "MNIST" / "raw"
    missing = []
    for name, md5 in MNIST_MD5.items():
        if (raw / name).is_file() and file_md5(raw / name) == md5:
            continue
        if not (source / name).is_file():
            missing.append(name)
            continue
        if file_md5(source / name) != md5:
            raise ValueError(
                f"{source / name} is corrupt (its MD5 differs from {md5}). Replace it with the "
                "original file, or remove it and load with download=True."
            )
        with atomic_path(raw / name) as tmp:
            shutil.copyfile(source / name, tmp)
    if not missing:
        return
    if not download:
        raise DataNotFoundError(
            missing_data_message("MNIST", source, "aecore.datasets.load_mnist(..., download=True)")
            + f"\nMissing files: {', '.join(missing)}"
        )
    for name in missing:
        (raw / name).unlink(missing_ok=True)  # a damaged copy: torchvision would keep it
    MNIST(str(work), train=True, download=True)  # torchvision: fetch, verify MD5, unpack
    wrong = [name for name in missing if file_md5(raw / name) != MNIST_MD5[name]]
    if wrong:
        raise ValueError(f"the downloaded MNIST files {', '.join(wrong)} do not have their MD5 sums; delete "
                         f"{raw} and download again.")


def _unpack(gz: Path) -> dict[str, object]:
    """Unpack ``gz`` beside itself (atomically); return its record: the source MD5, the unpacked size and SHA-256."""
    digest, size = hashlib.sha256(), 0
    with atomic_path(gz.with_suffix("")) as tmp:
        with gzip.open(gz, "rb") as src, open(tmp, "wb") as dst:
            for block in iter(lambda: src.read(1 << 20), b""):
                digest.update(block)
                dst.write(block)
                size += len(block)
    return {"source_md5": MNIST_MD5[gz.name], "bytes": size, "sha256": digest.hexdigest()}
