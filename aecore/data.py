"""Data sets as in-memory tensors: MNIST (via torchvision) and Stanford Dogs (JPEG folders).

Layout of the data root (``aecore.config.data_root()``, i.e. ``$AECORE_DATA``)::

    <data root>/MNIST/raw/train-images-idx3-ubyte.gz ... (the four original files)
    <data root>/stanford_dogs/Images/<wnid>-<breed>/<image>.jpg

The data root is only ever read (it may be read-only, e.g. a shared course folder).
Everything derived from it -- unpacked IDX files, resized image tensors -- and every
download is written to the cache root (``$AECORE_CACHE``); a downloaded Stanford Dogs
archive is unpacked into ``<cache root>/stanford_dogs/Images``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import os
import shutil
import struct
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Sequence

import torch
from PIL import Image, UnidentifiedImageError
from torchvision.datasets import MNIST
from torchvision.datasets.utils import download_and_extract_archive
from tqdm.auto import tqdm

from .config import cache_root, data_root, dogs_photos
from .utils import atomic_path, check_number, file_md5, stable_hash

MNIST_CLASSES = tuple(str(d) for d in range(10))
# The four original MNIST files and their MD5 sums (the ones torchvision checks too).
MNIST_MD5 = dict(MNIST.resources)

DOGS_URL = "http://vision.stanford.edu/aditya86/ImageNetDogs/images.tar"
DOGS_TAR_MD5 = "1bb1f2a596ae7057f99d7d75860002ef"
DOGS_CACHE_VERSION = 3
# How load_square_image turns a photo into a square tensor. Part of the dog sets' origin (and so of
# the models' cache keys): change the values, or bump "version" when the code changes, never silently.
DOGS_PREPROCESSING = {"version": 1, "crop": "centre square", "resample": "bicubic", "jpeg_draft": "2x size",
                      "reducing_gap": 3.0, "mode": "RGB"}
# Largest share of undecodable photos that load_dogs skips (with a warning) rather than fails on.
MAX_BAD_PHOTO_SHARE = 0.1
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


class DataNotFoundError(FileNotFoundError):
    """Raised when a data set is neither on disk nor allowed to be downloaded."""


@dataclass
class LabelledImages:
    """A labelled image set held in memory.

    ``images``: float32 tensor (N, C, H, W) with values in [0, 1];
    ``labels``: int64 tensor (N,); ``classes``: class names indexed by label.
    ``origin``: for sets decoded from lossy files (Stanford Dogs), a hash of the source files'
    contents and the preprocessing settings, which then identifies the set in the model cache
    (decoders may differ in the last bit between installs); None: the pixels identify it.
    A set with an origin must not be changed in place.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: Sequence[str]
    origin: str | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.images.ndim != 4:
            raise ValueError(f"images must have shape (N, C, H, W), got {tuple(self.images.shape)}")
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def subset(self, n: int | None, seed: int = 0) -> "LabelledImages":
        """A random subset of ``n`` items (all items, unchanged, when ``n`` is None or >= len)."""
        if n is None or n >= len(self):
            return self
        if n <= 0:
            raise ValueError(f"subset size must be positive, got {n}")
        index = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n]
        return LabelledImages(self.images[index], self.labels[index], self.classes,
                              self._derived_origin("subset", n, seed))

    def _derived_origin(self, *how) -> str | None:
        """The origin of a set derived from this one by ``how`` (None if this set has none)."""
        return None if self.origin is None else stable_hash({"from": self.origin, "how": list(how)})

    def limit_per_class(self, n: int | None, seed: int = 0) -> "LabelledImages":
        """A seeded random subset with at most ``n`` items of each class, in the original order
        (all items, unchanged, when ``n`` is None)."""
        if n is None:
            return self
        check_number("limit per class", n, whole=True, minimum=1)
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
        taken = torch.zeros(len(self.classes), dtype=torch.long)
        keep = []
        for i in order.tolist():
            label = int(self.labels[i])
            if taken[label] < n:
                taken[label] += 1
                keep.append(i)
        index = torch.tensor(sorted(keep), dtype=torch.long)
        return LabelledImages(self.images[index], self.labels[index], self.classes,
                              self._derived_origin("limit_per_class", n, seed))

    def class_counts(self) -> dict[str, int]:
        """Number of items per class name (classes with no item are left out)."""
        counts = torch.bincount(self.labels, minlength=len(self.classes))
        return {self.classes[i]: int(c) for i, c in enumerate(counts) if c > 0}


# --------------------------------------------------------------------------- MNIST


def missing_data_message(name: str, expected: Path, how: str) -> str:
    """The text of a :class:`DataNotFoundError`: data set ``name`` is not at ``expected``; set
    AECORE_DATA (named with its current value) or get it as ``how`` says."""
    return (
        f"{name} not found: expected {expected}.\n"
        f"Either point AECORE_DATA at a folder that contains it (now: {data_root()}), "
        f"or download it: {how}"
    )


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
                      + "; ".join(f"{path} ({problem})" for path, problem in broken.items()))
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
            missing_data_message("MNIST", source, "aecore.data.load_mnist(..., download=True)")
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


# ------------------------------------------------------------------- Stanford Dogs


def dogs_image_dir() -> Path:
    """Folder holding the Stanford Dogs breed folders.

    ``<data root>/stanford_dogs/Images`` if it holds images; else the copy that
    ``load_dogs(download=True)`` unpacks into ``<cache>/stanford_dogs/Images`` if that
    holds images; else (nothing found) the data-root path, where the data is expected.
    """
    source = data_root() / "stanford_dogs" / "Images"
    downloaded = cache_root() / "stanford_dogs" / "Images"
    return downloaded if not _has_images(source) and _has_images(downloaded) else source


def load_dogs(split: str = "train", *, size: int = 64, test_fraction: float = 0.1, seed: int = 0,
              download: bool = False, limit: int | None = None, photos: int | str = "budget") -> LabelledImages:
    """Stanford Dogs photos as a :class:`LabelledImages` of shape (N, 3, size, size) in [0, 1].

    Each photo is centre-cropped to a square and resized to ``size`` pixels. The first
    call decodes every JPEG and caches a uint8 tensor with its labels and classes (keyed
    by the files' names, sizes and modification times, and ``size``); later calls load
    that tensor from the cache. The classes are the breed folders that hold images
    (hidden folders such as ``.ipynb_checkpoints`` are ignored). Photos that cannot be
    decoded (truncated, empty, not an image) are left out with a warning naming them;
    if more than :data:`MAX_BAD_PHOTO_SHARE` of them fail, loading fails.

    ``photos`` fixes how many photos the labs work on, whatever is on disk: ``"budget"``
    (the default) reads ``AECORE_DOGS`` through :func:`aecore.config.dogs_photos` (2,700
    photos unless set), ``"all"`` takes every photo, an integer that many. A budget smaller
    than the collection is a seeded subset stratified by breed (:func:`stratified_sample`);
    one at least as large takes every photo. ``split`` (``"train"``, ``"test"`` or
    ``"all"``) then divides those photos by a seeded permutation, ``test_fraction`` of them
    for testing, so the split is the same on every machine with the same files. ``limit``
    keeps a seeded random subset of the split. With ``download=True`` the official
    ``images.tar`` (757 MB) is fetched and unpacked into the cache (the data root is never
    written).
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    if size < 8:
        raise ValueError(f"size must be at least 8 pixels, got {size}")
    budget = resolve_dogs_photos(photos)
    folder = dogs_image_dir()
    if not _has_images(folder):
        if not download:
            raise DataNotFoundError(missing_data_message(
                "Stanford Dogs", folder, "aecore.data.load_dogs(..., download=True) "
                f"(fetches {DOGS_URL}, 757 MB)"))
        folder = _download_dogs()
    images_u8, labels, classes, digests = _dogs_tensor(folder, size)
    index = torch.arange(len(labels))
    if budget is not None and budget < len(labels):
        index = stratified_sample(labels, budget, seed)
    if split != "all":
        order = torch.randperm(len(index), generator=torch.Generator().manual_seed(seed))
        n_test = max(1, round(test_fraction * len(index)))
        index = index[(order[:n_test] if split == "test" else order[n_test:]).sort().values]
    origin = stable_hash({"data set": "Stanford Dogs", "size": size, "preprocessing": DOGS_PREPROCESSING,
                          "classes": classes, "photos": stable_hash([digests[i] for i in index.tolist()], 32)}, 32)
    data = LabelledImages(images_u8[index].float().div_(255.0), labels[index], classes, origin)
    return data.subset(limit, seed)


def resolve_dogs_photos(photos: int | str) -> int | None:
    """The number of dog photos that ``photos`` asks for (see :func:`load_dogs`); None means every photo."""
    if photos == "budget":
        return dogs_photos()
    if photos == "all":
        return None
    if isinstance(photos, int) and not isinstance(photos, bool) and photos > 0:
        return photos
    raise ValueError(f"photos must be 'budget', 'all' or a positive integer, got {photos!r}")


def count_dog_photos() -> int:
    """How many photos the Stanford Dogs breed folders hold (0 when there are none)."""
    folder = dogs_image_dir()
    return len(_list_images(folder)) if folder.is_dir() else 0


def describe_dog_photos(train: LabelledImages, test: LabelledImages, photos: int | str = "budget") -> str:
    """One sentence for a chapter: how many training/test photos a run used, out of how many on disk, and why."""
    found, budget = count_dog_photos(), resolve_dogs_photos(photos)
    used = found if budget is None else min(budget, found)
    if budget is None:
        how = "every photo on disk (AECORE_DOGS=all)"
    elif used < found:
        how = (f"a fixed budget of {used:,} of the {found:,} photos on disk, stratified by breed "
               "(AECORE_DOGS=all uses every photo)")
    else:
        how = f"all {found:,} photos on disk, within the {budget:,}-photo budget (AECORE_DOGS=all uses every photo)"
    return f"{len(train):,} training and {len(test):,} test photos, drawn from {how}"


def stratified_sample(labels: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """Sorted indices (n,) of a seeded subset of ``labels`` (N,) that keeps each class's share.

    Class ``c`` with ``N_c`` items gets ``n * N_c / N`` of them, rounded so that the quotas add
    up to ``n`` (largest remainders first, ties to the lower class); within a class the items
    are a seeded random choice. ``n >= N`` returns every index.
    """
    total = len(labels)
    if n >= total:
        return torch.arange(total)
    if n <= 0:
        raise ValueError(f"subset size must be positive, got {n}")
    counts = torch.bincount(labels)
    exact = counts.double() * n / total
    quota = exact.floor().long()
    short = n - int(quota.sum())
    remainders = exact - quota
    order = sorted(range(len(counts)), key=lambda c: (-float(remainders[c]), c))
    quota[order[:short]] += 1
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for label, k in enumerate(quota.tolist()):
        members = torch.nonzero(labels == label).flatten()
        chosen.append(members[torch.randperm(len(members), generator=generator)[:k]])
    return torch.cat(chosen).sort().values


def _download_dogs() -> Path:
    """Fetch ``images.tar`` into ``<cache>/stanford_dogs`` and unpack it there; return its ``Images`` folder.

    The archive is unpacked into a temporary folder that is renamed when complete, so an
    interrupted unpack never looks like a data set. Network or checksum failures raise
    :class:`DataNotFoundError` naming the URL and where to put the files by hand.
    """
    root = cache_root() / "stanford_dogs"
    root.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=".Images.", suffix=".partial", dir=root))
    try:
        download_and_extract_archive(DOGS_URL, download_root=str(root), extract_root=str(partial),
                                     filename="images.tar", md5=DOGS_TAR_MD5, remove_finished=True)
        shutil.rmtree(root / "Images", ignore_errors=True)  # an earlier copy without images
        os.replace(partial / "Images", root / "Images")
    except (OSError, RuntimeError) as err:  # URLError is an OSError; torchvision: RuntimeError on a bad MD5
        raise DataNotFoundError(
            f"Could not download Stanford Dogs from {DOGS_URL} ({type(err).__name__}: {err}).\n"
            f"Without a network: fetch images.tar (757 MB) on another machine, unpack it so that the "
            f"breed folders lie in {data_root() / 'stanford_dogs' / 'Images'}, or point AECORE_DATA at "
            f"a folder holding stanford_dogs/Images (now: {data_root()})."
        ) from err
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return root / "Images"


def _breed_folders(folder: Path) -> list[str]:
    """Sorted names of the sub-folders of ``folder``, hidden ones (``.ipynb_checkpoints``) left out."""
    return sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))


def _image_names(folder: Path) -> list[str]:
    """Sorted names of the (non-hidden) JPEG/PNG files in one folder."""
    return sorted(e.name for e in os.scandir(folder) if e.is_file() and not e.name.startswith(".")
                  and Path(e.name).suffix.lower() in IMAGE_SUFFIXES)


def _has_images(folder: Path) -> bool:
    return folder.is_dir() and any(_image_names(folder / breed) for breed in _breed_folders(folder))


def _list_images(folder: Path) -> list[str]:
    """Sorted relative paths ``<breed folder>/<file>`` of every image file under ``folder``."""
    return [f"{breed}/{name}" for breed in _breed_folders(folder) for name in _image_names(folder / breed)]


def _labels_of(files: Sequence[str]) -> tuple[torch.Tensor, list[str]]:
    """Labels (int64) of relative paths ``<folder>/<file>`` and the classes: the sorted folders that hold them."""
    folders = [rel.split("/", 1)[0] for rel in files]
    classes = sorted(set(folders))
    index = {name: label for label, name in enumerate(classes)}
    return torch.tensor([index[name] for name in folders], dtype=torch.long), classes


def breed_name(folder_name: str) -> str:
    """Readable breed from a folder name: ``'n02085620-Chihuahua'`` -> ``'Chihuahua'``."""
    return folder_name.split("-", 1)[-1].replace("_", " ")


def _dogs_tensor(folder: Path, size: int) -> tuple[torch.Tensor, torch.Tensor, list[str], list[str]]:
    """Load (or build and cache) all dog photos: uint8 (N, 3, size, size), labels (N,), classes, and the
    SHA-256 of each decoded file's bytes (N strings)."""
    files = _list_images(folder)
    if not files:
        raise DataNotFoundError(f"No JPEG/PNG images in the breed folders under {folder}.")
    key = stable_hash({"files": [_stamp(folder / rel, rel) for rel in files], "size": size,
                       "version": DOGS_CACHE_VERSION})
    cache_file = cache_root() / "stanford_dogs" / f"dogs-{size}px-{key}.pt"
    blob = _read_dogs_cache(cache_file, files, size) if cache_file.is_file() else None
    if blob is None:
        blob = _decode_dogs(folder, files, size)
        with atomic_path(cache_file) as tmp:
            torch.save(blob, tmp)
    if blob["skipped"]:
        warnings.warn(_skipped_message(folder, blob["skipped"], len(files)))
    return blob["images"], blob["labels"], [breed_name(c) for c in blob["classes"]], blob["sha256"]


def _stamp(path: Path, rel: str) -> tuple[str, int, int]:
    """(relative path, size in bytes, modification time in ns) of one file: changes when the file is replaced."""
    stat = path.stat()
    return rel, stat.st_size, stat.st_mtime_ns


def _read_dogs_cache(cache_file: Path, files: list[str], size: int) -> dict | None:
    """The cached blob if it is readable and matches ``files`` (kept + skipped) and its own labels; else None."""
    try:
        blob = torch.load(cache_file, weights_only=True)
        kept = blob["files"]
        labels, classes = _labels_of(kept)
        if sorted(kept + [rel for rel, _ in blob["skipped"]]) != sorted(files):
            raise ValueError("its file list differs from the photos on disk")
        if blob["images"].shape != (len(kept), 3, size, size) or blob["images"].dtype != torch.uint8:
            raise ValueError(f"its images have shape {tuple(blob['images'].shape)}, dtype {blob['images'].dtype}")
        if blob["classes"] != classes or not torch.equal(blob["labels"], labels):
            raise ValueError("its labels or classes do not match its file list")
        if len(blob["sha256"]) != len(kept):
            raise ValueError(f"it has {len(blob['sha256'])} checksums for {len(kept)} photos")
        return blob
    except Exception as err:  # corrupt, truncated or mismatching cache: rebuild it
        warnings.warn(f"Ignoring unusable cache {cache_file} ({type(err).__name__}: {err}); rebuilding it.")
        return None


def _decode_dogs(folder: Path, files: list[str], size: int) -> dict:
    """Decode every photo; skip those that fail. Returns the blob that is cached.

    Keys: ``images`` uint8 (N, 3, size, size), ``labels`` int64 (N,), ``classes`` (folder
    names), ``files`` (the N decoded relative paths), ``sha256`` (hex digests of their bytes)
    and ``skipped`` ([path, reason] pairs).
    Raises ValueError when more than :data:`MAX_BAD_PHOTO_SHARE` of the files fail.
    """
    images = torch.empty((len(files), 3, size, size), dtype=torch.uint8)
    kept, digests, skipped = [], [], []
    for rel in tqdm(files, desc=f"Resizing dog photos to {size}px", leave=False):
        try:
            raw = (folder / rel).read_bytes()  # read once: decoded and checksummed from memory
            images[len(kept)] = load_square_image(io.BytesIO(raw), size)
            kept.append(rel)
            digests.append(hashlib.sha256(raw).hexdigest())
        except OSError as err:  # PIL: truncated file, empty file, not an image (UnidentifiedImageError)
            what = "not a readable image" if isinstance(err, UnidentifiedImageError) else str(err)
            skipped.append([rel, f"{what}, {(folder / rel).stat().st_size} bytes"])
    if len(skipped) > MAX_BAD_PHOTO_SHARE * len(files):
        raise ValueError(
            f"{len(skipped)} of {len(files)} photos under {folder} could not be decoded, more than the "
            f"{MAX_BAD_PHOTO_SHARE:.0%} allowed, so nothing was cached: {_examples(skipped)}. The download or "
            "unpacking is probably incomplete: unpack images.tar again (or load with download=True).")
    labels, classes = _labels_of(kept)
    images = images[:len(kept)].clone() if skipped else images
    return {"images": images, "labels": labels, "classes": classes, "files": kept, "sha256": digests,
            "skipped": skipped}


def _examples(skipped: Sequence[Sequence[str]], shown: int = 10) -> str:
    """The first ``shown`` [path, reason] pairs as text, and how many more there are."""
    text = "; ".join(f"{rel} ({reason})" for rel, reason in skipped[:shown])
    return text + (f"; and {len(skipped) - shown} more" if len(skipped) > shown else "")


def _skipped_message(folder: Path, skipped: Sequence[Sequence[str]], total: int) -> str:
    return (f"Skipped {len(skipped)} of {total} photos under {folder} that could not be decoded (truncated, "
            f"empty or not an image): {_examples(skipped)}. Replace or delete them to silence this warning.")


def load_square_image(path: Path | BinaryIO, size: int) -> torch.Tensor:
    """Decode one image (a file path or an open binary file), centre-crop it to a square and resize it:
    uint8 tensor (3, size, size)."""
    with Image.open(path) as img:
        img.draft("RGB", (2 * size, 2 * size))  # JPEG: decode at reduced scale, much faster
        img = img.convert("RGB")
        w, h = img.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        img = img.resize((size, size), Image.Resampling.BICUBIC, box=(left, top, left + side, top + side),
                         reducing_gap=3.0)
        return torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8).view(size, size, 3).permute(2, 0, 1)


# --------------------------------------------------------------------------- splits


def stratified_split(data: LabelledImages, test_fraction: float = 0.25,
                     seed: int = 0) -> tuple[LabelledImages, LabelledImages]:
    """Seeded (train, test) split that keeps each class's share: per class, ``test_fraction`` of its items.

    Each class with at least two items puts at least one in each part, so that rare
    classes can be both learned and measured. Both parts keep the original order.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    generator = torch.Generator().manual_seed(seed)
    test_index = []
    for label in torch.unique(data.labels).tolist():
        members = torch.nonzero(data.labels == label).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        n_test = min(max(1, round(test_fraction * len(members))), len(members) - 1) if len(members) > 1 else 0
        test_index.append(members[:n_test])
    is_test = torch.zeros(len(data), dtype=torch.bool)
    is_test[torch.cat(test_index)] = True
    part = lambda mask: LabelledImages(data.images[mask], data.labels[mask], data.classes)
    return part(~is_test), part(is_test)
