"""Shared fixtures: isolated data/cache folders and tiny synthetic data sets."""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from aecore.datasets import mnist
from aecore.datasets.images import LabelledImages


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    """Point AECORE_DATA and AECORE_CACHE at fresh temporary folders; return (data_root, cache_root)."""
    data_root, cache_root = tmp_path / "data", tmp_path / "cache"
    data_root.mkdir()
    monkeypatch.setenv("AECORE_DATA", str(data_root))
    monkeypatch.setenv("AECORE_CACHE", str(cache_root))
    monkeypatch.setenv("AECORE_DEVICE", "cpu")
    return data_root, cache_root


def _idx_images(images: np.ndarray) -> bytes:
    n, h, w = images.shape
    return struct.pack(">IIII", 2051, n, h, w) + images.astype(np.uint8).tobytes()


def _idx_labels(labels: np.ndarray) -> bytes:
    return struct.pack(">II", 2049, len(labels)) + labels.astype(np.uint8).tobytes()


@pytest.fixture
def fake_mnist(dirs, monkeypatch):
    """Write small MNIST-format .gz files (12 train, 5 test) and register their MD5s.

    Returns a dict with the raw arrays, so tests can compare what the loader returns.
    """
    data_root, _ = dirs
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (12, 28, 28)),
        "train-labels-idx1-ubyte.gz": np.arange(12) % 10,
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (5, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": np.array([3, 1, 4, 1, 5]),
    }
    raw = data_root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    md5s = {}
    for name, arr in arrays.items():
        payload = _idx_images(arr) if "images" in name else _idx_labels(arr)
        blob = gzip.compress(payload)
        (raw / name).write_bytes(blob)
        md5s[name] = hashlib.md5(blob).hexdigest()
    monkeypatch.setattr(mnist, "MNIST_MD5", md5s)
    return arrays


def write_photo(path: Path, size: tuple[int, int], colour=(200, 30, 30), border=None, border_width: int = 0):
    """Save a JPEG of ``size`` (w, h) filled with ``colour``; optional vertical side bands of ``border``."""
    arr = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    arr[:] = colour
    if border is not None:
        arr[:, :border_width] = border
        arr[:, size[0] - border_width:] = border
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, quality=95)


@pytest.fixture
def fake_dogs(dirs):
    """Three breed folders with 4 + 3 + 3 photos of different sizes (wide, tall, square)."""
    data_root, _ = dirs
    images = data_root / "stanford_dogs" / "Images"
    breeds = {"n02085620-Chihuahua": 4, "n02085782-Japanese_spaniel": 3, "n02086240-Shih-Tzu": 3}
    sizes = [(120, 80), (80, 120), (100, 100), (160, 90)]
    for b, (folder, count) in enumerate(breeds.items()):
        for i in range(count):
            write_photo(images / folder / f"img_{i}.jpg", sizes[i % len(sizes)], colour=(40 * b + 20, 30 * i + 60, 150))
    return images


@pytest.fixture
def tiny_images():
    """A tiny learnable image set: 128 blurred random 1x8x8 images in [0, 1] with labels 0..3."""
    gen = torch.Generator().manual_seed(0)
    base = torch.rand(4, 1, 8, 8, generator=gen)
    labels = torch.arange(128) % 4
    images = (base[labels] + 0.05 * torch.randn(128, 1, 8, 8, generator=gen)).clamp(0, 1)
    return LabelledImages(images, labels, ["a", "b", "c", "d"])
