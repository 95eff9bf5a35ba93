"""The MNIST loader (aecore.datasets.mnist): the original files checked and unpacked into the cache."""

import numpy as np
import pytest
import torch

from aecore.datasets import mnist
from aecore.datasets.images import DataNotFoundError


def test_mnist_loads_images_and_labels_from_the_gz_files(fake_mnist):
    train = mnist.load_mnist("train")
    test = mnist.load_mnist("test")
    assert train.images.shape == (12, 1, 28, 28) and test.images.shape == (5, 1, 28, 28)
    assert train.images.dtype == torch.float32
    expected = torch.from_numpy(fake_mnist["t10k-images-idx3-ubyte.gz"].astype(np.float32) / 255.0)
    assert torch.allclose(test.images[:, 0], expected)
    assert test.labels.tolist() == [3, 1, 4, 1, 5]
    assert list(train.classes) == [str(d) for d in range(10)]


def test_mnist_never_writes_beside_the_source(fake_mnist, dirs):
    data_root, cache_root = dirs
    before = sorted(p.name for p in (data_root / "MNIST" / "raw").iterdir())
    mnist.load_mnist("train")
    assert sorted(p.name for p in (data_root / "MNIST" / "raw").iterdir()) == before
    assert (cache_root / "mnist" / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file()


def test_mnist_second_load_uses_the_unpacked_cache(fake_mnist, dirs, monkeypatch):
    mnist.load_mnist("train")
    monkeypatch.setattr(mnist, "file_md5", lambda *_: pytest.fail("source was read again"))
    assert len(mnist.load_mnist("train")) == 12


def test_mnist_limit_gives_a_seeded_subset(fake_mnist):
    a, b = mnist.load_mnist("train", limit=5, seed=1), mnist.load_mnist("train", limit=5, seed=1)
    assert len(a) == 5 and torch.equal(a.labels, b.labels) and torch.equal(a.images, b.images)


def test_mnist_missing_files_give_one_clear_error(dirs):
    with pytest.raises(DataNotFoundError) as info:
        mnist.load_mnist("train")
    message = str(info.value)
    assert "MNIST" in message and "AECORE_DATA" in message and "download=True" in message
    assert str(dirs[0] / "MNIST" / "raw") in message


def test_mnist_corrupt_file_is_reported_not_used(fake_mnist, dirs, monkeypatch):
    raw = dirs[0] / "MNIST" / "raw"
    (raw / "t10k-labels-idx1-ubyte.gz").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="corrupt"):
        mnist.load_mnist("test")


def test_mnist_rejects_unknown_split(fake_mnist):
    with pytest.raises(ValueError, match="'train' or 'test'"):
        mnist.load_mnist("validation")
