"""Bad data and bad arguments, as a student's messy machine supplies them: each must give a
clear error (or a warning naming what was skipped), never a silently wrong result.

The numbers in the section titles are the items of the issue "Bad input: silent wrong
results and unclear errors found by probing aecore".
"""

import math
import os
import threading
import urllib.error
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from aecore import config, metrics, models, objectives, train
from aecore.datasets import DataNotFoundError, LabelledImages, dogs, mnist
from aecore.noise import PowerNormalizedLatentNoise
from aecore.train import TrainConfig
from tests.conftest import write_photo

CPU = torch.device("cpu")
BREEDS = ["Chihuahua", "Japanese spaniel", "Shih-Tzu"]
COUNTS = {"Chihuahua": 4, "Japanese spaniel": 3, "Shih-Tzu": 3}


def small_ae():
    return models.MLPAutoencoder(image_shape=(1, 8, 8), hidden=(32,), latent_dim=3)


def dog_warnings(caught) -> list[str]:
    return [str(w.message) for w in caught if "could not be decoded" in str(w.message)]


# ------------------------------------------------- 1. folders without images and labels

def test_dogs_labels_survive_image_less_folders_added_after_caching(fake_dogs):
    first = dogs.load_dogs("all", size=16, photos="all")
    (fake_dogs / ".ipynb_checkpoints").mkdir()  # Jupyter makes these
    (fake_dogs / "n00000000-Aaa_empty").mkdir()  # sorts before every breed
    again = dogs.load_dogs("all", size=16, photos="all")
    assert list(again.classes) == list(first.classes) == BREEDS
    assert torch.equal(again.labels, first.labels) and again.class_counts() == COUNTS


def test_dogs_classes_are_the_folders_that_hold_images(fake_dogs):
    (fake_dogs / ".ipynb_checkpoints").mkdir()
    (fake_dogs / "n00000000-Aaa_empty").mkdir()
    (fake_dogs / "n09999999-Notes").mkdir()
    (fake_dogs / "n09999999-Notes" / "readme.txt").write_text("no photos here")
    everything = dogs.load_dogs("all", size=16, photos="all")
    assert list(everything.classes) == BREEDS and everything.class_counts() == COUNTS


# ------------------------------------------------------- 2. caches stale in content only

def pad_to(path: Path, size: int) -> None:
    """Pad a JPEG with zero bytes after its end marker (decoders ignore them) to exactly ``size`` bytes."""
    blob = path.read_bytes()
    path.write_bytes(blob + bytes(size - len(blob)))


def test_dogs_cache_notices_a_photo_replaced_by_one_of_the_same_size(fake_dogs):
    photo = fake_dogs / "n02086240-Shih-Tzu" / "img_0.jpg"  # item 4 + 3 + 0 = 7 of the sorted files
    pad_to(photo, 4096)
    before = dogs.load_dogs("all", size=16, photos="all")
    write_photo(photo, (120, 80), colour=(10, 250, 10))
    pad_to(photo, 4096)
    stat = photo.stat()
    os.utime(photo, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # replaced a second later
    after = dogs.load_dogs("all", size=16, photos="all")
    assert photo.stat().st_size == 4096
    assert after.images[7, 1].mean() > 0.9 > before.images[7, 1].mean()  # now green


def test_mnist_truncated_unpacked_file_is_rebuilt(fake_mnist, dirs):
    mnist.load_mnist("test")
    unpacked = dirs[1] / "mnist" / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    unpacked.write_bytes(unpacked.read_bytes()[:1000])
    with pytest.warns(UserWarning, match="t10k-images-idx3-ubyte"):
        test = mnist.load_mnist("test")
    expected = torch.from_numpy(fake_mnist["t10k-images-idx3-ubyte.gz"].astype(np.float32) / 255.0)
    assert torch.allclose(test.images[:, 0], expected)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(mnist.load_mnist("test")) == 5  # valid again: no second rebuild


# ---------------------------------------------------------------- 3. undecodable photos

def truncated_jpeg(path: Path) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    Image.fromarray(noise).save(path, quality=95)
    path.write_bytes(path.read_bytes()[:-2000])  # cut inside the image data


@pytest.mark.parametrize("make_bad", [
    truncated_jpeg, lambda p: p.write_bytes(b""), lambda p: p.write_text("<html>404 Not Found</html>"),
], ids=["truncated", "zero-byte", "not-an-image"])
def test_dogs_skip_an_undecodable_photo_with_one_warning(fake_dogs, monkeypatch, make_bad):
    make_bad(fake_dogs / "n02085620-Chihuahua" / "bad.jpg")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        everything = dogs.load_dogs("all", size=16, photos="all")
    (message,) = dog_warnings(caught)
    assert "n02085620-Chihuahua/bad.jpg" in message and "1 of 11" in message
    assert len(everything) == 10 and everything.class_counts() == COUNTS
    monkeypatch.setattr(dogs, "load_square_image", lambda *a: pytest.fail("decoded again"))
    with warnings.catch_warnings(record=True) as caught:  # from the cache: still told, once
        warnings.simplefilter("always")
        assert len(dogs.load_dogs("all", size=16, photos="all")) == 10
    assert len(dog_warnings(caught)) == 1


def test_dogs_fail_without_caching_when_too_many_photos_are_bad(fake_dogs, dirs):
    for i in range(3):
        (fake_dogs / "n02085620-Chihuahua" / f"bad_{i}.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match=r"3 of 13 photos .*10%.*bad_0\.jpg \(not a readable image, 0 bytes\)"):
        dogs.load_dogs("all", size=16, photos="all")
    assert not list((dirs[1] / "stanford_dogs").glob("*.pt"))


# ---------------------------------------------------------------------------- 4. metrics

@pytest.mark.parametrize("fn", [metrics.psnr, metrics.ssim, metrics.mean_psnr, metrics.mean_ssim])
def test_metrics_reject_nan_pixels(fn):
    x = torch.rand(2, 1, 16, 16)
    y = x.clone()
    y[1, 0, 3, 3] = float("nan")
    with pytest.raises(ValueError, match="second input has 1 NaN"):
        fn(x, y)


@pytest.mark.parametrize("fn", [metrics.psnr, metrics.ssim, metrics.mean_psnr])
def test_metrics_reject_an_empty_batch(fn):
    with pytest.raises(ValueError, match="empty batch"):
        fn(torch.zeros(0, 1, 16, 16), torch.zeros(0, 1, 16, 16))


def test_data_range_255_on_unit_images_warns_but_returns_the_number():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(3, 1, 16, 16, generator=gen)
    y = (x + 0.05 * torch.randn(x.shape, generator=gen)).clamp(0, 1)
    with pytest.warns(UserWarning, match=r"data_range=255.*48\.1 dB too high.*data_range=1\.0"):
        wrong = metrics.mean_psnr(x, y, data_range=255)
    assert wrong == pytest.approx(metrics.mean_psnr(x, y) + 20 * math.log10(255), abs=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 8-bit images with their own range: no warning
        metrics.mean_psnr(x * 255, y * 255, data_range=255)


# ---------------------------------------------------------------------- 5. training data

def test_fit_or_load_rejects_8_bit_range_images_and_caches_nothing(tiny_images, dirs):
    scaled = LabelledImages(tiny_images.images * 255, tiny_images.labels, tiny_images.classes)
    with pytest.raises(ValueError, match=r"training images have values in \[0, 255\].*divide"):
        train.fit_or_load("tiny", small_ae(), scaled, None, TrainConfig(epochs=1, batch_size=32),
                          loss=objectives.reconstruction_bce, device=CPU, progress=False)
    assert not list(dirs[1].rglob("*.pt"))
    with pytest.raises(ValueError, match="validation images"):
        train.train(small_ae(), tiny_images, scaled, TrainConfig(epochs=1), loss=objectives.reconstruction_mse,
                    device=CPU, progress=False)


def test_nan_pixels_are_reported_as_bad_data_not_as_divergence(tiny_images):
    images = tiny_images.images.clone()
    images[5, 0, 2, 2] = float("nan")
    broken = LabelledImages(images, tiny_images.labels, tiny_images.classes)
    with pytest.raises(ValueError, match="training images contain 1 NaN") as info:
        train.train(small_ae(), broken, None, TrainConfig(epochs=1), loss=objectives.reconstruction_mse, device=CPU,
                    progress=False)
    assert "learning rate" not in str(info.value)


# ------------------------------------------------------------------- 6. and 7. model input

def test_conv_models_reject_images_of_another_size_or_channel_count_than_built_for():
    ae = models.ConvAutoencoder(image_size=16, in_channels=1, channels=(4, 4, 4), latent_channels=2, blocks=0)
    vae = models.ConvVAE(image_size=16, in_channels=1, channels=(4, 4, 4), latent_channels=2, blocks=0)
    for model in (ae, vae):
        with pytest.raises(models.ModelInputError, match=r"built for batches \(N, 1, 16, 16\).*\(2, 1, 28, 28\)"):
            model(torch.rand(2, 1, 28, 28))  # came back 24x24 from the autoencoder
        with pytest.raises(ValueError, match=r"\(N, 1, 16, 16\).*got \(2, 3, 16, 16\)"):
            model(torch.rand(2, 3, 16, 16))
        with pytest.raises(ValueError, match=r"got \(2, 1, 32, 32\). Resize the images to 16x16 pixels"):
            model(torch.rand(2, 1, 32, 32))  # a multiple of 8, so it was accepted before


def test_mlp_models_name_both_shapes_on_a_mismatch():
    for model in (models.MLPAutoencoder(hidden=(8,)), models.VAE(hidden=(8,))):
        with pytest.raises(ValueError, match=r"\(1, 28, 28\).*\(2, 3, 64, 64\).*image_shape=\(3, 64, 64\)"):
            model(torch.rand(2, 3, 64, 64))


# ------------------------------------------------------------------------- 7. settings

@pytest.mark.parametrize("kwargs, match", [
    ({"lr": float("nan")}, "lr"), ({"lr": float("inf")}, "lr"), ({"weight_decay": float("nan")}, "weight_decay"),
    ({"warmup": float("nan")}, "warmup"), ({"weight_decay": float("inf")}, "weight_decay"),
    ({"epochs": 2.5}, "epochs"), ({"batch_size": 64.0}, "batch_size"), ({"epochs": True}, "epochs"),
    ({"seed": 0.5}, "seed"), ({"lr": "1e-3"}, "lr"),
])
def test_config_rejects_non_finite_and_non_whole_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


@pytest.mark.parametrize("variance", [float("nan"), float("inf")])
def test_latent_noise_rejects_a_non_finite_variance(variance):
    with pytest.raises(ValueError, match="variance"):
        PowerNormalizedLatentNoise(variance)


def test_device_variable_is_stripped_and_lower_cased(monkeypatch):
    monkeypatch.setenv("AECORE_DEVICE", " CPU ")
    assert config.pick_device() == CPU


@pytest.mark.parametrize("value", ["nonsense", "cuda:x", "gpu"])
def test_unknown_device_names_the_variable_and_the_choices(monkeypatch, value):
    monkeypatch.setenv("AECORE_DEVICE", value)
    with pytest.raises(ValueError, match=r"AECORE_DEVICE.*'cpu', 'cuda', 'cuda:<index>'.*'mps'"):
        config.pick_device()


# -------------------------------------------------------------------- 8. Dogs download

def test_dogs_download_offline_names_the_url_and_never_writes_the_data_root(dirs, monkeypatch):
    data_root, _ = dirs

    def offline(url, download_root, **kwargs):
        Path(download_root).mkdir(parents=True, exist_ok=True)  # as torchvision does before fetching
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(dogs, "download_and_extract_archive", offline)
    with pytest.raises(DataNotFoundError) as info:
        dogs.load_dogs(download=True, photos="all")
    message = str(info.value)
    assert dogs.DOGS_URL in message and "AECORE_DATA" in message
    assert str(data_root / "stanford_dogs" / "Images") in message
    assert list(data_root.iterdir()) == []


def test_downloaded_dogs_are_unpacked_into_the_cache_and_read_from_there(dirs, monkeypatch):
    data_root, cache = dirs

    def fake_download(url, download_root, extract_root=None, **kwargs):
        images = Path(extract_root or download_root) / "Images"
        write_photo(images / "n1-Akita" / "a.jpg", (40, 30))
        write_photo(images / "n2-Boxer" / "b.jpg", (30, 40))

    monkeypatch.setattr(dogs, "download_and_extract_archive", fake_download)
    assert list(dogs.load_dogs("all", size=16, photos="all", download=True).classes) == ["Akita", "Boxer"]
    assert list(data_root.iterdir()) == []
    assert dogs.dogs_image_dir() == cache / "stanford_dogs" / "Images"
    monkeypatch.setattr(dogs, "download_and_extract_archive", lambda *a, **k: pytest.fail("downloaded again"))
    assert len(dogs.load_dogs("all", size=16, photos="all")) == 2


# -------------------------------------------------------------------- 9. concurrent runs

def test_concurrent_fit_or_load_trains_once_and_the_second_caller_loads(tiny_images, dirs, monkeypatch):
    real_train, calls = train.train, []
    first_started, second_started = threading.Event(), threading.Event()

    def counting_train(*args, **kwargs):
        calls.append(threading.current_thread().name)
        if len(calls) == 1:
            first_started.set()
            second_started.wait(timeout=0.3)  # without a lock the second caller starts training meanwhile
        else:
            second_started.set()
        return real_train(*args, **kwargs)

    monkeypatch.setattr(train, "train", counting_train)
    cfg, results = TrainConfig(epochs=1, batch_size=32), {}

    def run():
        name = threading.current_thread().name
        results[name] = train.fit_or_load("tiny", small_ae(), tiny_images, None, cfg,
                                          loss=objectives.reconstruction_bce, device=CPU, progress=False)

    first, second = threading.Thread(target=run, name="first"), threading.Thread(target=run, name="second")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first.start()
        assert first_started.wait(timeout=30)
        second.start()
        first.join()
        second.join()
    assert calls == ["first"]
    assert any("being trained by another process; waiting" in str(w.message) for w in caught)
    assert not results["first"].from_cache and results["second"].from_cache
    assert results["second"].metrics == results["first"].metrics
