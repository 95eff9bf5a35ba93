"""aecore.cache.load_check: a model is loaded only if the asking run computes what the run that made it did.

The check holds across thread counts (no false alarm), notices what the key cannot see (a file the objective
reads), and a file whose recorded check differs (another run's model under this key, e.g. from an archive) is
never loaded. Issue 33's diverging-loss cases that concern the cache (a NaN model is never cached, never listed as
usable) are here too; the training loop's own messages are in test_train.py.
"""

from __future__ import annotations

import warnings

import pytest
import torch

from aecore import cache, lessons, models, train
from aecore.cache import load_check
from aecore.cache.cli import format_listing
from aecore.train import TrainConfig

CPU = torch.device("cpu")
CONFIG = TrainConfig(epochs=1, batch_size=32)


def small_ae():
    return models.MLPAutoencoder(image_shape=(1, 8, 8), hidden=(16,), latent_dim=2)


def bce(model, x, y):
    return lessons.bce_per_image(model(x), x)


def probe(model, data, loss=bce, seed=0):
    return load_check.measure(model, data.images, data.labels, lambda m, x, y: train.batch_losses(m, x, y, loss), seed)


def test_the_probe_is_the_same_at_any_thread_count_and_leaves_the_model_and_the_random_state_alone(tiny_images):
    model = small_ae()
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    state = torch.random.get_rng_state()
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = probe(model, tiny_images)
        torch.set_num_threads(max(2, threads))
        many = probe(model, tiny_images)
    finally:
        torch.set_num_threads(threads)
    assert load_check.compare(one, many) is None
    assert len(one["values"]["loss"]) == load_check.PROBE_IMAGES and all(g > 0 for g in one["gradient_norms"])
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in weights.items())


def test_the_probe_tells_objectives_models_and_seeds_apart(tiny_images):
    reference = probe(small_ae(), tiny_images)

    def averaged(model, x, y):
        return lessons.bce_per_image(model(x), x) / 64

    def plus_a_little(model, x, y):
        return lessons.bce_per_image(model(x), x) * 1.01

    assert "'loss'" in load_check.compare(reference, probe(small_ae(), tiny_images, averaged))
    assert load_check.compare(reference, probe(small_ae(), tiny_images, plus_a_little)) is not None
    assert load_check.compare(reference, probe(small_ae(), tiny_images, seed=1)) is not None
    other_model = models.MLPAutoencoder(image_shape=(1, 8, 8), hidden=(16,), latent_dim=3)
    assert load_check.compare(reference, probe(other_model, tiny_images)) is not None


def test_a_file_the_objective_reads_changes_what_loads(tiny_images, tmp_path):
    """The key cannot see a file the objective reads; the load check can: the changed run trains a model of its
    own (with a warning), and the next call loads that one."""
    weight_file = tmp_path / "weight.txt"
    weight_file.write_text("1.0")

    def reads_a_file(model, x, y):
        return lessons.bce_per_image(model(x), x) * float(weight_file.read_text())

    def fit(**kwargs):
        return train.fit_or_load("reads", small_ae(), tiny_images, None, CONFIG, loss=reads_a_file, device=CPU,
                                 cache_dir=tmp_path / "models", progress=False, **kwargs)

    assert not fit().from_cache
    weight_file.write_text("3.0")
    with pytest.warns(UserWarning, match=r"is not loaded: it does not fit this run.*cannot see: a file"):
        assert not fit().from_cache
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fit().from_cache  # its own model, under its own key
    assert len(list((tmp_path / "models").glob("reads-*.pt"))) == 2
    weight_file.write_text("1.0")
    assert fit().from_cache  # the first model again


def test_a_file_whose_recorded_check_differs_is_never_loaded(tiny_images, tmp_path):
    """A model file under this run's key whose run computed something else (as an archive from another set-up
    could hold): a warning, and a model of this run's own."""
    first = train.fit_or_load("m", small_ae(), tiny_images, None, CONFIG, loss=bce, device=CPU, cache_dir=tmp_path,
                              progress=False)
    (path,) = tmp_path.glob("m-*.pt")
    blob = torch.load(path, weights_only=True)
    blob["probe"]["values"]["loss"] = [v * 2 for v in blob["probe"]["values"]["loss"]]
    torch.save(blob, path)
    model = small_ae()
    with pytest.warns(UserWarning, match=r"m-\w+\.pt is not loaded.*the objective's 'loss' is [\d.]+ here and"):
        second = train.fit_or_load("m", model, tiny_images, None, CONFIG, loss=bce, device=CPU, cache_dir=tmp_path,
                                   progress=False)
    assert not second.from_cache and second.metrics == first.metrics  # the same run, trained again
    assert len(list(tmp_path.glob("m-*.pt"))) == 2


def test_training_that_ends_with_nan_weights_caches_nothing(tiny_images, tmp_path):
    """A NaN that first appears in the last step's gradient: every loss is finite, the weights are not."""
    calls = []

    def nan_gradient_at_the_last_step(model, x, y):
        calls.append(1)
        logits = model(x)
        loss = lessons.bce_per_image(logits, x)
        if len(calls) == 5:  # the load check's probe, then 4 steps (128 images, batches of 32): the last step
            loss = loss + torch.sqrt((logits * 0).flatten(1).sum(1))  # 0, whose gradient is 0 * inf = NaN
        return loss

    with pytest.raises(FloatingPointError, match="training ended with NaN or infinite weights.*not cached"):
        train.fit_or_load("nan", small_ae(), tiny_images, None, CONFIG, loss=nan_gradient_at_the_last_step,
                          device=CPU, cache_dir=tmp_path, progress=False)
    assert not list(tmp_path.glob("*.pt")) and not list(tmp_path.glob(".*.tmp"))


def test_a_model_file_with_nan_weights_is_listed_as_unusable_and_never_loaded(tiny_images, tmp_path, monkeypatch):
    monkeypatch.setenv("AECORE_CACHE", str(tmp_path))
    folder = cache.models_dir()
    train.fit_or_load("nan", small_ae(), tiny_images, None, CONFIG, loss=bce, device=CPU, progress=False)
    (path,) = folder.glob("nan-*.pt")
    blob = torch.load(path, weights_only=True)
    first = next(iter(blob["state_dict"]))
    blob["state_dict"][first][0] = float("nan")
    torch.save(blob, path)
    (row,) = cache.list_models()
    assert "NaN or infinite weights" in row["problem"] and first in row["problem"]
    assert "UNUSABLE" in format_listing([row], folder)
    with pytest.warns(UserWarning, match="NaN or infinite weights"):
        history = train.fit_or_load("nan", small_ae(), tiny_images, None, CONFIG, loss=bce, device=CPU,
                                    progress=False)
    assert not history.from_cache and "problem" not in cache.list_models()[0]
