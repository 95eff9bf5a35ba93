"""The MNIST loader (aecore.datasets.mnist): the original files checked and unpacked into the cache."""

import warnings

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


def test_an_unpacked_file_rewritten_in_the_cache_at_the_same_size_is_detected_and_unpacked_again(fake_mnist, dirs):
    """The issue: the unpacked labels file in the cache, its labels rewritten at the same size, was used silently."""
    mnist.load_mnist("train")
    labels = dirs[1] / "mnist" / "MNIST" / "raw" / "train-labels-idx1-ubyte"
    data = bytearray(labels.read_bytes())
    data[8:] = bytes(len(data) - 8)  # every label 0: same size, same header
    labels.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match=f"{labels} \\(same size, other contents: it was changed after unpacking\\)"):
        train = mnist.load_mnist("train")
    assert train.labels.tolist() == (np.arange(12) % 10).tolist()
    assert labels.read_bytes() != bytes(data)


def test_a_cache_unpacked_before_the_record_existed_is_unpacked_again_quietly(fake_mnist, dirs):
    mnist.load_mnist("test")
    (dirs[1] / "mnist" / "MNIST" / "raw" / mnist.UNPACKED_RECORD).unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert mnist.load_mnist("test").labels.tolist() == [3, 1, 4, 1, 5]
    assert (dirs[1] / "mnist" / "MNIST" / "raw" / mnist.UNPACKED_RECORD).is_file()


def test_a_truncated_unpacked_file_is_unpacked_again(fake_mnist, dirs):
    mnist.load_mnist("test")
    images = dirs[1] / "mnist" / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:100])
    with pytest.warns(UserWarning, match="100 bytes, but 3936 were unpacked"):
        assert len(mnist.load_mnist("test")) == 5
