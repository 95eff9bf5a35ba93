"""Data sets as in-memory tensors: MNIST (via torchvision) and Stanford Dogs (JPEG folders).

Layout of the data root (``aecore.config.data_root()``, i.e. ``$AECORE_DATA``)::

    <data root>/MNIST/raw/train-images-idx3-ubyte.gz ... (the four original files)
    <data root>/stanford_dogs/Images/<wnid>-<breed>/<image>.jpg

The data root is only ever read (it may be read-only, e.g. a shared course folder).
Everything derived from it -- unpacked IDX files, resized image tensors -- is written
to the cache root (``$AECORE_CACHE``).
"""

from __future__ import annotations

import gzip
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from PIL import Image
from torchvision.datasets import MNIST
from torchvision.datasets.utils import download_and_extract_archive
from tqdm.auto import tqdm

from .config import cache_root, data_root, dogs_photos
from .utils import atomic_path, file_md5, stable_hash

MNIST_CLASSES = tuple(str(d) for d in range(10))
# The four original MNIST files and their MD5 sums (the ones torchvision checks too).
MNIST_MD5 = dict(MNIST.resources)

DOGS_URL = "http://vision.stanford.edu/aditya86/ImageNetDogs/images.tar"
DOGS_TAR_MD5 = "1bb1f2a596ae7057f99d7d75860002ef"
DOGS_CACHE_VERSION = 1
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


class DataNotFoundError(FileNotFoundError):
    """Raised when a data set is neither on disk nor allowed to be downloaded."""


@dataclass
class LabelledImages:
    """A labelled image set held in memory.

    ``images``: float32 tensor (N, C, H, W) with values in [0, 1];
    ``labels``: int64 tensor (N,); ``classes``: class names indexed by label.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: Sequence[str]

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
        return LabelledImages(self.images[index], self.labels[index], self.classes)

    def class_counts(self) -> dict[str, int]:
        """Number of items per class name (classes with no item are left out)."""
        counts = torch.bincount(self.labels, minlength=len(self.classes))
        return {self.classes[i]: int(c) for i, c in enumerate(counts) if c > 0}


# --------------------------------------------------------------------------- MNIST


def _missing_data_message(name: str, expected: Path, how: str) -> str:
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


def _prepare_mnist(download: bool) -> Path:
    """Make sure unpacked MNIST files exist under the cache; return torchvision's root for them.

    The ``.gz`` files from ``<data root>/MNIST/raw`` are copied into the cache, checked
    against their MD5 and unpacked there. Without them, ``download=True`` lets
    torchvision fetch (and check) the files into the cache.
    """
    work = cache_root() / "mnist"
    raw = work / "MNIST" / "raw"
    if all((raw / Path(name).stem).is_file() for name in MNIST_MD5):  # already unpacked
        return work
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
            _missing_data_message("MNIST", source, "aecore.data.load_mnist(..., download=True)")
            + f"\nMissing files: {', '.join(missing)}"
        )
    MNIST(str(work), train=True, download=True)  # torchvision: fetch, verify MD5, unpack
    return work


# ------------------------------------------------------------------- Stanford Dogs


def dogs_image_dir() -> Path:
    """Where the Stanford Dogs breed folders are expected: ``<data root>/stanford_dogs/Images``."""
    return data_root() / "stanford_dogs" / "Images"


def load_dogs(split: str = "train", *, size: int = 64, test_fraction: float = 0.1, seed: int = 0,
              download: bool = False, limit: int | None = None, photos: int | str = "budget") -> LabelledImages:
    """Stanford Dogs photos as a :class:`LabelledImages` of shape (N, 3, size, size) in [0, 1].

    Each photo is centre-cropped to a square and resized to ``size`` pixels. The first
    call decodes every JPEG and caches a uint8 tensor (keyed by the file list and size);
    later calls load that tensor from the cache.

    ``photos`` fixes how many photos the labs work on, whatever is on disk: ``"budget"``
    (the default) reads ``AECORE_DOGS`` through :func:`aecore.config.dogs_photos` (2,700
    photos unless set), ``"all"`` takes every photo, an integer that many. A budget smaller
    than the collection is a seeded subset stratified by breed (:func:`stratified_sample`);
    one at least as large takes every photo. ``split`` (``"train"``, ``"test"`` or
    ``"all"``) then divides those photos by a seeded permutation, ``test_fraction`` of them
    for testing, so the split is the same on every machine with the same files. ``limit``
    keeps a seeded random subset of the split. With ``download=True`` the official
    ``images.tar`` (757 MB) is fetched first.
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    if size < 8:
        raise ValueError(f"size must be at least 8 pixels, got {size}")
    folder = dogs_image_dir()
    if not _has_images(folder):
        if not download:
            raise DataNotFoundError(_missing_data_message(
                "Stanford Dogs", folder, "aecore.data.load_dogs(..., download=True) "
                f"(fetches {DOGS_URL}, 757 MB)"))
        download_and_extract_archive(DOGS_URL, download_root=str(folder.parent),
                                     filename="images.tar", md5=DOGS_TAR_MD5)
    images_u8, labels, classes = _dogs_tensor(folder, size)
    budget = resolve_dogs_photos(photos)
    if budget is not None and budget < len(labels):
        chosen = stratified_sample(labels, budget, seed)
        images_u8, labels = images_u8[chosen], labels[chosen]
    if split != "all":
        order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
        n_test = max(1, round(test_fraction * len(labels)))
        index = order[:n_test] if split == "test" else order[n_test:]
        index = index.sort().values
        images_u8, labels = images_u8[index], labels[index]
    data = LabelledImages(images_u8.float().div_(255.0), labels, classes)
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
    return len(_list_images(folder)[0]) if folder.is_dir() else 0


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


def _has_images(folder: Path) -> bool:
    return folder.is_dir() and any(
        p.suffix.lower() in IMAGE_SUFFIXES for sub in folder.iterdir() if sub.is_dir() for p in sub.iterdir()
    )


def _list_images(folder: Path) -> tuple[list[tuple[str, int]], list[str]]:
    """Sorted (relative path, label) pairs and the sorted class-folder names."""
    classes = sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())
    files = []
    for label, name in enumerate(classes):
        for entry in sorted(os.scandir(folder / name), key=lambda e: e.name):
            if entry.is_file() and Path(entry.name).suffix.lower() in IMAGE_SUFFIXES:
                files.append((f"{name}/{entry.name}", label))
    return files, classes


def breed_name(folder_name: str) -> str:
    """Readable breed from a folder name: ``'n02085620-Chihuahua'`` -> ``'Chihuahua'``."""
    return folder_name.split("-", 1)[-1].replace("_", " ")


def _dogs_tensor(folder: Path, size: int) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Load (or build and cache) all dog photos as uint8 (N, 3, size, size), labels, classes."""
    files, class_dirs = _list_images(folder)
    if not files:
        raise DataNotFoundError(f"No JPEG/PNG images in the breed folders under {folder}.")
    sizes = [(rel, (folder / rel).stat().st_size) for rel, _ in files]
    key = stable_hash({"files": sizes, "size": size, "version": DOGS_CACHE_VERSION})
    cache_file = cache_root() / "stanford_dogs" / f"dogs-{size}px-{key}.pt"
    classes = [breed_name(c) for c in class_dirs]
    if cache_file.is_file():
        try:
            blob = torch.load(cache_file, weights_only=True)
            return blob["images"], blob["labels"], classes
        except Exception as err:  # corrupt or truncated cache: rebuild it
            warnings.warn(f"Ignoring unreadable cache {cache_file} ({err}); rebuilding it.")
    images = torch.empty((len(files), 3, size, size), dtype=torch.uint8)
    for i, (rel, _) in enumerate(tqdm(files, desc=f"Resizing dog photos to {size}px", leave=False)):
        images[i] = load_square_image(folder / rel, size)
    labels = torch.tensor([label for _, label in files], dtype=torch.long)
    with atomic_path(cache_file) as tmp:
        torch.save({"images": images, "labels": labels}, tmp)
    return images, labels, classes


def load_square_image(path: Path, size: int) -> torch.Tensor:
    """Decode one image, centre-crop it to a square and resize it: uint8 tensor (3, size, size)."""
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
