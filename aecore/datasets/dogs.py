"""Stanford Dogs: JPEG folders, one per breed, as square :class:`LabelledImages` with an ``origin``.

Layout of the data root (``aecore.config.data_root()``, i.e. ``$AECORE_DATA``)::

    <data root>/stanford_dogs/Images/<wnid>-<breed>/<image>.jpg

The data root is only ever read. The resized image tensors are cached under
``<cache root>/stanford_dogs/``; a downloaded archive is unpacked into
``<cache root>/stanford_dogs/Images``.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import torch
from PIL import Image, UnidentifiedImageError
from torchvision.datasets.utils import download_and_extract_archive
from tqdm.auto import tqdm

from ..config import cache_root, data_root, dogs_photos
from ..utils import atomic_path, stable_hash
from .images import DataNotFoundError, LabelledImages, missing_data_message, stratified_sample

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
    decoded (truncated, empty, not an image, or over Pillow's decompression-bomb limit of
    pixels) are left out with a warning naming them; if more than :data:`MAX_BAD_PHOTO_SHARE`
    of them fail, loading fails.

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
                "Stanford Dogs", folder, "aecore.datasets.load_dogs(..., download=True) "
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
        warnings.warn(_skipped_message(folder, blob["skipped"], len(files)), stacklevel=2)
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
        warnings.warn(f"Ignoring unusable cache {cache_file} ({type(err).__name__}: {err}); rebuilding it.",
                      stacklevel=2)
        return None


def _decode_dogs(folder: Path, files: list[str], size: int) -> dict:
    """Decode every photo; skip those that fail. Returns the blob that is cached.

    Keys: ``images`` uint8 (N, 3, size, size), ``labels`` int64 (N,), ``classes`` (folder
    names), ``files`` (the N decoded relative paths), ``sha256`` (hex digests of their bytes)
    and ``skipped`` ([path, reason] pairs).
    Raises ValueError when more than :data:`MAX_BAD_PHOTO_SHARE` of the files fail.
    """
    images = torch.empty((len(files), 3, size, size), dtype=torch.uint8)
    kept: list[str] = []
    digests: list[str] = []
    skipped: list[list[str]] = []
    for rel in tqdm(files, desc=f"Resizing dog photos to {size}px", leave=False):
        try:
            raw = (folder / rel).read_bytes()  # read once: decoded and checksummed from memory
            images[len(kept)] = load_square_image(io.BytesIO(raw), size)
            kept.append(rel)
            digests.append(hashlib.sha256(raw).hexdigest())
        except (OSError, Image.DecompressionBombError) as err:  # PIL: truncated, empty, not an image, too many pixels
            skipped.append([rel, f"{_why_unreadable(err)}, {(folder / rel).stat().st_size} bytes"])
    if len(skipped) > MAX_BAD_PHOTO_SHARE * len(files):
        raise ValueError(
            f"{len(skipped)} of {len(files)} photos under {folder} could not be decoded, more than the "
            f"{MAX_BAD_PHOTO_SHARE:.0%} allowed, so nothing was cached: {_examples(skipped)}. The download or "
            "unpacking is probably incomplete: unpack images.tar again (or load with download=True).")
    labels, classes = _labels_of(kept)
    images = images[:len(kept)].clone() if skipped else images
    return {"images": images, "labels": labels, "classes": classes, "files": kept, "sha256": digests,
            "skipped": skipped}


def _why_unreadable(err: Exception) -> str:
    """Why Pillow could not decode a photo, in words for the warning that names it."""
    if isinstance(err, UnidentifiedImageError):
        return "not a readable image"
    if isinstance(err, Image.DecompressionBombError):
        return (f"more pixels than Pillow decodes safely (a decompression bomb, or a huge photo: {err}); shrink it "
                "if it is a real photo")
    return str(err)


def _examples(skipped: Sequence[Sequence[str]], shown: int = 10) -> str:
    """The first ``shown`` [path, reason] pairs as text, and how many more there are."""
    text = "; ".join(f"{rel} ({reason})" for rel, reason in skipped[:shown])
    return text + (f"; and {len(skipped) - shown} more" if len(skipped) > shown else "")


def _skipped_message(folder: Path, skipped: Sequence[Sequence[str]], total: int) -> str:
    return (f"Skipped {len(skipped)} of {total} photos under {folder} that could not be decoded (truncated, "
            f"empty, not an image or too large to decode safely): {_examples(skipped)}. Replace or delete them to "
            "silence this warning.")


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
