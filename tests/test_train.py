"""The training loop, evaluate and fit_or_load, with the objective as an explicit argument (loss=).

The objectives themselves (what TrainConfig's loss fields used to choose) are tested in test_objectives.py,
their code identity (the objective's part of the cache key) in test_code_identity.py.
"""

import dataclasses
import os
import warnings
from functools import partial

import pytest
import torch
from torch.nn import functional as F

from aecore import cache, lessons, models, objectives, train, utils
from aecore.cache.code_identity import function_identity
from aecore.datasets import LabelledImages
from aecore.train import TrainConfig

CPU = torch.device("cpu")
BCE = objectives.reconstruction_bce
MSE = objectives.reconstruction_mse
ELBO = objectives.negative_elbo


def small_ae(latent_dim=3):
    return models.MLPAutoencoder(image_shape=(1, 8, 8), hidden=(32,), latent_dim=latent_dim)


def small_vae(conditional=False):
    cls = models.ConditionalVAE if conditional else models.VAE
    kwargs = {"num_classes": 4} if conditional else {}
    return cls(image_shape=(1, 8, 8), hidden=(32,), latent_dim=3, **kwargs)


# ------------------------------------------------------------------------------ config

@pytest.mark.parametrize("kwargs, match", [
    ({"lr_schedule": "step"}, "lr_schedule"), ({"epochs": 0}, "epochs"), ({"weight_decay": -1}, "weight_decay"),
    ({"lr": -1e-3}, "lr"), ({"warmup": -0.1}, "warmup"),
])
def test_bad_config_is_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


@pytest.mark.parametrize("removed", ["loss", "l2_penalty", "input_noise", "clip_noisy_input", "beta",
                                     "recon_reduction", "recon_loss", "recon_sigma", "ssim_weight"])
def test_the_objectives_settings_are_no_longer_config_fields(removed):
    """TrainConfig holds the optimisation only: an old notebook's TrainConfig(loss=...) fails at once."""
    assert removed not in {f.name for f in dataclasses.fields(TrainConfig)}
    with pytest.raises(TypeError, match=removed):
        TrainConfig(**{removed: 0.1})
    assert not hasattr(TrainConfig, "ADDED_LATER")


def test_the_objective_is_a_required_function(tiny_images, dirs):
    with pytest.raises(TypeError, match="loss"):
        train.train(small_ae(), tiny_images, config=TrainConfig(epochs=1), device=CPU, progress=False)
    with pytest.raises(TypeError, match="loss"):
        train.fit_or_load("tiny", small_ae(), tiny_images, None, TrainConfig(epochs=1), device=CPU, progress=False)
    with pytest.raises(TypeError, match="loss must be a function"):
        train.train(small_ae(), tiny_images, config=TrainConfig(epochs=1), loss="bce", device=CPU, progress=False)
    with pytest.raises(TypeError, match="loss must be a function"):
        train.fit_or_load("tiny", small_ae(), tiny_images, None, TrainConfig(epochs=1), loss="bce", device=CPU,
                          progress=False)
    assert not list(dirs[1].rglob("*.pt"))


def averaged_over_the_batch(model, x, y):
    return lessons.bce_per_image(model(x), x).mean()


def mean_instead_of_per_image(model, x, y):
    return {"loss": lessons.bce_per_image(model(x), x).mean(), "bce": lessons.bce_per_image(model(x), x)}


def no_loss_entry(model, x, y):
    return {"bce": lessons.bce_per_image(model(x), x)}


def a_number(model, x, y):
    return {"loss": lessons.bce_per_image(model(x), x), "count": len(x)}


@pytest.mark.parametrize("objective, error, match", [
    (averaged_over_the_batch, ValueError, r"averaged_over_the_batch returned 'loss' of shape \(\) for a batch of 16"),
    (mean_instead_of_per_image, ValueError, r"one value per image, shape \(16,\).*do not average"),
    (no_loss_entry, ValueError, r"no_loss_entry returned a dict without a 'loss' entry \(keys: \['bce'\]\)"),
    (a_number, TypeError, r"a_number returned int for 'count'"),
    (partial(no_loss_entry), ValueError, "no_loss_entry returned a dict"),
])
def test_an_objective_that_does_not_give_per_image_losses_is_named(tiny_images, objective, error, match):
    x, y = tiny_images.images[:16], tiny_images.labels[:16]
    with pytest.raises(error, match=match):
        train.batch_losses(small_ae(), x, y, objective)
    with pytest.raises(error, match=match):
        train.train(small_ae(), tiny_images, None, TrainConfig(epochs=1, batch_size=16), loss=objective, device=CPU,
                    progress=False)


@pytest.mark.skipif(not hasattr(Exception, "add_note"), reason="exception notes need Python >= 3.11")
@pytest.mark.parametrize("make_model, objective, error", [
    (small_ae, objectives.negative_elbo, ValueError),           # a plain autoencoder gives no (mu, logvar)
    (small_vae, objectives.reconstruction_bce, AttributeError),  # a VAE's forward gives a tuple, not logits
])
def test_an_objective_for_another_kind_of_model_fails_with_a_note_naming_both(tiny_images, make_model, objective,
                                                                              error):
    x, y = tiny_images.images[:4], tiny_images.labels[:4]
    with pytest.raises(error) as raised:
        train.batch_losses(make_model(), x, y, objective)
    note = " ".join(raised.value.__notes__)
    assert f"inside the objective {objective.__name__}, given a {type(make_model()).__name__}" in note
    assert "(4, 1, 8, 8)" in note and "objective written for this kind of model" in note


def test_an_exercise_not_written_yet_gets_no_note(tiny_images):
    def unwritten(model, x, y):
        raise NotImplementedError("write bce_per_image")
    with pytest.raises(NotImplementedError) as raised:
        train.batch_losses(small_ae(), tiny_images.images[:4], tiny_images.labels[:4], unwritten)
    assert not getattr(raised.value, "__notes__", [])


def test_a_classifier_may_train_on_images_outside_the_unit_range_an_autoencoder_may_not(tiny_images):
    from aecore.classifier import ImageClassifier
    standardised = LabelledImages((tiny_images.images - 0.5) * 4, tiny_images.labels, tiny_images.classes)
    history = train.train(ImageClassifier(num_classes=4, width=4, image_size=8), standardised, None,
                          TrainConfig(epochs=1, batch_size=32), loss=objectives.cross_entropy, device=CPU,
                          progress=False)
    assert set(history.metrics) == {"train_loss", "train_acc"}
    with pytest.raises(ValueError, match=r"training images have values in .*autoencoder needs images in \[0, 1\]"):
        train.train(small_ae(), standardised, None, TrainConfig(epochs=1), loss=BCE, device=CPU, progress=False)


# ------------------------------------------------------------------------------ training

def test_training_lowers_the_loss_and_records_curves(tiny_images):
    history = train.train(small_ae(), tiny_images, tiny_images, TrainConfig(epochs=15, batch_size=32, lr=3e-3),
                          loss=BCE, device=CPU, progress=False)
    assert len(history["train_loss"]) == 15 and len(history["val_loss"]) == 15
    assert history["train_loss"][-1] < 0.9 * history["train_loss"][0]
    assert history.seconds > 0 and history.device == "cpu"


def test_training_is_reproducible_with_a_seed(tiny_images):
    cfg = TrainConfig(epochs=2, batch_size=32, seed=7)
    denoising = partial(objectives.denoising_bce, noise_factor=0.3)  # the objective draws noise too
    a = train.train(small_ae(), tiny_images, tiny_images, cfg, loss=denoising, device=CPU, progress=False)
    b = train.train(small_ae(), tiny_images, tiny_images, cfg, loss=denoising, device=CPU, progress=False)
    assert a.metrics == b.metrics
    c = train.train(small_ae(), tiny_images, tiny_images, dataclasses.replace(cfg, seed=8), loss=denoising,
                    device=CPU, progress=False)
    assert c.metrics != a.metrics


def test_vae_and_cvae_log_recon_and_kl(tiny_images):
    for conditional in (False, True):
        history = train.train(small_vae(conditional), tiny_images, tiny_images, TrainConfig(epochs=2), loss=ELBO,
                              device=CPU, progress=False)
        for key in ("train_recon", "train_kl", "val_recon", "val_kl"):
            assert len(history[key]) == 2
        assert history.final("val_loss") == pytest.approx(history.final("val_recon") + history.final("val_kl"),
                                                          rel=1e-5)


@pytest.mark.parametrize("regularised", ["weight_decay", "penalty"])
def test_l2_regularisation_shrinks_the_weights(tiny_images, regularised):
    """Adam's weight decay (a TrainConfig field) and the explicit penalty (an objective) both shrink the weights."""
    def weight_norm(cfg, loss):
        model = small_ae()
        history = train.train(model, tiny_images, None, cfg, loss=loss, device=CPU, progress=False)
        return lessons.l2_penalty(model).item(), history

    settings = TrainConfig(epochs=30, batch_size=32, lr=1e-2)
    plain, _ = weight_norm(settings, BCE)
    if regularised == "weight_decay":
        shrunk, _ = weight_norm(dataclasses.replace(settings, weight_decay=1e-1), BCE)
    else:
        shrunk, history = weight_norm(settings, partial(objectives.penalised_bce, strength=1e-2))
        assert history.final("train_loss") > history.final("train_bce")  # the penalty is part of the loss
    assert shrunk < 0.5 * plain


def test_evaluation_with_input_noise_is_deterministic_and_harder(tiny_images):
    model = small_ae()
    train.train(model, tiny_images, None, TrainConfig(epochs=5, batch_size=32), loss=BCE, device=CPU, progress=False)
    noisy = partial(objectives.denoising_bce, noise_factor=0.4)
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    a = train.evaluate(model, tiny_images, noisy, device=CPU)
    b = train.evaluate(model, tiny_images, noisy, device=CPU)
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's random stream is left alone
    other_seed = train.evaluate(model, tiny_images, noisy, seed=1, device=CPU)
    clean = train.evaluate(model, tiny_images, BCE, device=CPU)
    assert a == b and a != other_seed and a["loss"] > clean["loss"]


def test_divergence_is_reported(tiny_images):
    with pytest.raises(FloatingPointError, match=r"diverged at epoch \d, step 1 of 1: the loss became NaN.*rate"):
        train.train(small_ae(), tiny_images, None, TrainConfig(epochs=3, lr=1e12), loss=MSE, device=CPU,
                    progress=False)


def test_a_loss_that_is_nan_from_the_first_batch_is_blamed_at_once_not_the_learning_rate(tiny_images, tmp_path):
    """Issue 33: a student's loss that is NaN before any update (the log of a negative number) stops at the first
    step, and the message points at the objective, not at the learning rate."""
    calls = []

    def log_of_a_difference(model, x, y):
        calls.append(1)
        return torch.log(torch.sigmoid(model(x)) - x).flatten(1).sum(1)

    with pytest.raises(FloatingPointError) as raised:
        train.fit_or_load("nan", small_ae(), tiny_images, None, TrainConfig(epochs=3, batch_size=16),
                          loss=log_of_a_difference, device=CPU, cache_dir=tmp_path, progress=False)
    message = str(raised.value)
    assert "first batch" in message and "learning rate is not the cause" in message
    assert "log_of_a_difference" in message and "batch_losses" in message
    assert len(calls) == 2  # the load check's probe, then one training step: not the whole epoch
    assert not list(tmp_path.glob("*.pt"))


# ------------------------------------------------------------------------------ fit_or_load

def test_fit_or_load_trains_once_then_loads(tiny_images, dirs, monkeypatch):
    cfg = TrainConfig(epochs=2, batch_size=32)
    first_model = small_ae()
    first = train.fit_or_load("tiny", first_model, tiny_images, tiny_images, cfg, loss=BCE, device=CPU,
                              progress=False)
    assert not first.from_cache
    files = list((dirs[1] / "models").glob("tiny-*.pt"))
    assert len(files) == 1 and not list((dirs[1] / "models").glob(".*tmp"))

    monkeypatch.setattr(train, "train", lambda *a, **k: pytest.fail("retrained instead of loading"))
    second_model = small_ae()
    second = train.fit_or_load("tiny", second_model, tiny_images, tiny_images, cfg, loss=BCE, device=CPU,
                               progress=False)
    assert second.from_cache and second.metrics == first.metrics and second.seconds == first.seconds
    for p, q in zip(first_model.parameters(), second_model.parameters()):
        assert torch.equal(p.cpu(), q.cpu())
    assert not second_model.training


def test_cache_key_changes_with_model_config_objective_and_data(tiny_images):
    cfg = TrainConfig(epochs=2)
    key = train.cache_key(small_ae(), tiny_images, None, cfg, BCE)
    assert key == train.cache_key(small_ae(), tiny_images, None, cfg, BCE)
    assert key != train.cache_key(small_ae(latent_dim=4), tiny_images, None, cfg, BCE)
    assert key != train.cache_key(small_ae(), tiny_images, None, TrainConfig(epochs=3), BCE)
    assert key != train.cache_key(small_ae(), tiny_images.subset(100), None, cfg, BCE)
    assert key != train.cache_key(small_ae(), tiny_images, None, cfg, MSE)
    denoising = partial(objectives.denoising_bce, noise_factor=0.4)
    assert train.cache_key(small_ae(), tiny_images, None, cfg, denoising) != train.cache_key(
        small_ae(), tiny_images, None, cfg, partial(objectives.denoising_bce, noise_factor=0.5))


def test_corrupt_cache_file_is_reported_and_retrained(tiny_images, dirs):
    cfg = TrainConfig(epochs=1, batch_size=32)
    train.fit_or_load("tiny", small_ae(), tiny_images, None, cfg, loss=BCE, device=CPU, progress=False)
    (path,) = (dirs[1] / "models").glob("tiny-*.pt")
    path.write_bytes(path.read_bytes()[:100])  # truncated file
    with pytest.warns(UserWarning, match="could not be used"):
        history = train.fit_or_load("tiny", small_ae(), tiny_images, None, cfg, loss=BCE, device=CPU, progress=False)
    assert not history.from_cache
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert train.fit_or_load("tiny", small_ae(), tiny_images, None, cfg, loss=BCE, device=CPU,
                                 progress=False).from_cache


def test_fit_or_load_rejects_path_like_names(tiny_images):
    with pytest.raises(ValueError, match="name"):
        train.fit_or_load("../x", small_ae(), tiny_images, loss=BCE)


def test_image_training_uses_channels_last_on_cpu_and_ends_in_the_default_layout():
    assert utils.preferred_memory_format(CPU, torch.zeros(2, 3, 8, 8)) == torch.channels_last
    assert utils.preferred_memory_format(CPU, torch.zeros(2, 64)) == torch.contiguous_format
    assert utils.preferred_memory_format(torch.device("mps"), torch.zeros(2, 3, 8, 8)) == torch.contiguous_format
    model = models.ConvAutoencoder(image_size=16, channels=(4, 4), latent_channels=2, blocks=0)
    data = LabelledImages(torch.rand(16, 3, 16, 16), torch.zeros(16, dtype=torch.long), ["x"])
    config = TrainConfig(epochs=1, batch_size=8)
    train.train(model, data, None, config, loss=MSE, device=CPU, progress=False)
    assert model.encoder[0].weight.is_contiguous()  # as a model loaded from the cache
    reference = models.ConvAutoencoder(image_size=16, channels=(4, 4), latent_channels=2, blocks=0)
    reference.load_state_dict(model.state_dict())
    assert train.evaluate(model, data, MSE, device=CPU)["loss"] == pytest.approx(
        train.evaluate(reference.eval(), data, MSE, device=CPU)["loss"], rel=1e-5)


def test_cache_key_covers_schema_model_hparams_every_config_field_objective_and_data(tiny_images, monkeypatch):
    cfg = TrainConfig(epochs=2)
    key = train.cache_key(small_vae(), tiny_images, None, cfg, ELBO)
    assert cache.CACHE_SCHEMA == 4
    assert key == cache.key_of({"schema": cache.CACHE_SCHEMA, "model": "VAE", "hparams": small_vae().hparams,
                                "config": dataclasses.asdict(cfg),
                                "loss": {"name": "negative_elbo", "identity": function_identity(ELBO)},
                                "data": {"train": train.data_fingerprint(tiny_images), "val": None},
                                "versions": cache.keys.library_versions({"tqdm"}),  # the loop's progress bar
                                "code": cache.keys.code_fingerprints(small_vae()), "token": None})
    changes = {"epochs": 3, "batch_size": 64, "lr": 2e-3, "weight_decay": 1e-4, "hflip": True,
               "lr_schedule": "cosine", "warmup": 0.1, "seed": 1}
    assert set(changes) == {f.name for f in dataclasses.fields(TrainConfig)}  # every field counts, at any value
    for name, value in changes.items():
        assert train.cache_key(small_vae(), tiny_images, None, dataclasses.replace(cfg, **{name: value}), ELBO) != key
    for other in (partial(objectives.gaussian_negative_elbo, sigma=0.1),
                  partial(objectives.gaussian_negative_elbo, sigma=0.2)):
        assert train.cache_key(small_vae(), tiny_images, None, cfg, other) != key
    assert train.cache_key(small_vae(), tiny_images, tiny_images, cfg, ELBO) != key
    monkeypatch.setattr(cache.keys, "CACHE_SCHEMA", cache.CACHE_SCHEMA + 1)  # where describe_run reads it
    assert train.cache_key(small_vae(), tiny_images, None, cfg, ELBO) != key


def test_a_vae_with_labels_and_a_plain_vae_never_share_a_key(tiny_images):
    cfg = TrainConfig(epochs=2)
    plain = models.VAE(image_shape=(1, 8, 8), hidden=(16,), latent_dim=3)
    labelled = models.VAE(image_shape=(1, 8, 8), hidden=(16,), latent_dim=3, num_classes=4)
    assert labelled.hparams["num_classes"] == 4 and plain.hparams["num_classes"] == 0
    assert train.cache_key(plain, tiny_images, None, cfg, ELBO) != train.cache_key(labelled, tiny_images, None, cfg,
                                                                                    ELBO)


# ------------------------------------------------------------ Gaussian ELBO (Lab 3b, dogs)

def test_conv_vae_trains_with_the_gaussian_elbo():
    torch.manual_seed(0)
    data = LabelledImages(torch.rand(16, 3, 16, 16), torch.zeros(16, dtype=torch.long), ["x"])
    model = models.ConvVAE(image_size=16, channels=(8, 8), latent_channels=2, blocks=0)
    cfg = TrainConfig(epochs=3, batch_size=8, lr=3e-3)
    history = train.train(model, data, data, cfg, loss=partial(objectives.gaussian_negative_elbo, sigma=0.1),
                          device=CPU, progress=False)
    assert set(history.metrics) >= {"train_recon", "train_kl", "val_recon", "val_kl"}
    assert history.final("train_loss") < history["train_loss"][0]


def test_train_config_seed_follows_the_global_seed(monkeypatch):
    monkeypatch.delenv("AECORE_SEED", raising=False)
    assert TrainConfig().seed == 0
    monkeypatch.setenv("AECORE_SEED", "2")
    assert TrainConfig().seed == 2 and TrainConfig(seed=5).seed == 5


def test_a_freshly_trained_model_computes_exactly_what_its_cached_copy_does(dirs):
    """Training runs in channels_last; the trained model must end in the layout a cache load gives,
    or randn_like noise (latent noise at eval) lands on other entries and the numbers differ."""
    gen = torch.Generator().manual_seed(0)
    data = LabelledImages(torch.rand(16, 3, 16, 16, generator=gen), torch.zeros(16, dtype=torch.long), ["x"])
    config = TrainConfig(epochs=1, batch_size=8)
    def make():
        return models.ConvAutoencoder(image_size=16, channels=(4, 8), latent_channels=2, blocks=0, latent_noise=0.1)

    trained = make()
    assert not train.fit_or_load("fmt", trained, data, None, config, loss=MSE, progress=False).from_cache
    loaded = make()
    assert train.fit_or_load("fmt", loaded, data, None, config, loss=MSE, progress=False).from_cache
    outputs = []
    for model in (trained, loaded):
        with models.latent_noise_at_eval(model, seed=7):
            outputs.append(models.reconstruct(model, data.images))
    assert torch.equal(outputs[0], outputs[1])


def test_warmup_rises_linearly_then_follows_the_cosine_to_zero():
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([parameter], lr=1.0)
    schedule = train.learning_rate_schedule(optimizer, TrainConfig(lr_schedule="cosine", warmup=0.1), 100)
    rates = []
    for _ in range(100):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert rates[0] == pytest.approx(0.1) and rates[9] == pytest.approx(1.0)
    assert all(a < b for a, b in zip(rates[:10], rates[1:10]))
    assert all(a >= b for a, b in zip(rates[10:], rates[11:])) and rates[-1] < 1e-3
    with pytest.raises(ValueError, match="warmup"):
        TrainConfig(warmup=1.0)
    assert train.learning_rate_schedule(optimizer, TrainConfig(), 100) is None  # constant, no warm-up


# ------------------------------------------------------------ the objective is part of the cache key

def bce_averaged(model, x, y):
    """A notebook's wrong loss: the BCE averaged over the pixels instead of summed."""
    return F.binary_cross_entropy_with_logits(model(x), x, reduction="none").flatten(1).mean(1)


def test_a_notebook_loss_that_differs_from_the_reference_trains_under_another_key_and_leaves_it_alone(tiny_images,
                                                                                                    tmp_path):
    """The issue's Done-when: a notebook loss that differs from the reference trains under a different cache
    key, and the reference model's file is untouched."""
    cfg = TrainConfig(epochs=2, batch_size=32)
    reference_model = small_ae()
    first = train.fit_or_load("tiny", reference_model, tiny_images, tiny_images, cfg, loss=BCE, device=CPU,
                              cache_dir=tmp_path, progress=False)
    assert not first.from_cache
    (reference_file,) = tmp_path.glob("tiny-*.pt")
    reference_bytes, reference_mtime = reference_file.read_bytes(), os.stat(reference_file).st_mtime_ns
    reference_state = {k: v.clone() for k, v in reference_model.state_dict().items()}

    wrong = train.fit_or_load("tiny", small_ae(), tiny_images, tiny_images, cfg, loss=bce_averaged, device=CPU,
                              cache_dir=tmp_path, progress=False)
    assert not wrong.from_cache  # trained, not loaded from the reference's file
    files = sorted(tmp_path.glob("tiny-*.pt"))
    assert len(files) == 2 and reference_file in files
    (wrong_file,) = [f for f in files if f != reference_file]
    key = train.cache_key(small_ae(), tiny_images, tiny_images, cfg, BCE)
    wrong_key = train.cache_key(small_ae(), tiny_images, tiny_images, cfg, bce_averaged)
    assert key != wrong_key
    assert reference_file.name == cache.model_file_name("tiny", key) and wrong_file.name == cache.model_file_name(
        "tiny", wrong_key)
    assert cache.read_model_file(wrong_file)["loss"]["name"] == "bce_averaged"
    assert wrong.final("train_loss") < first.final("train_loss") / 10  # a per-pixel number, not nats per image
    assert reference_file.read_bytes() == reference_bytes and os.stat(reference_file).st_mtime_ns == reference_mtime

    again_model = small_ae()
    again = train.fit_or_load("tiny", again_model, tiny_images, tiny_images, cfg, loss=BCE, device=CPU,
                              cache_dir=tmp_path, progress=False)
    assert again.from_cache and again.metrics == first.metrics
    assert all(torch.equal(again_model.state_dict()[k], v) for k, v in reference_state.items())
    assert reference_file.read_bytes() == reference_bytes and os.stat(reference_file).st_mtime_ns == reference_mtime


def notebook_bce(model, x, y):
    """The autoencoders' objective, as one notebook writes it."""
    return lessons.bce_per_image(model(x), x)


ONE_NOTEBOOKS_BCE = notebook_bce


def notebook_bce(model, x, y):
    # summed over each image's pixels

    return lessons.bce_per_image(
        model(x), x)


ANOTHER_NOTEBOOKS_BCE = notebook_bce


def test_a_loss_with_the_same_code_as_another_loads_the_model_trained_with_it(tiny_images, tmp_path, monkeypatch):
    cfg = TrainConfig(epochs=1, batch_size=32)
    assert ONE_NOTEBOOKS_BCE is not ANOTHER_NOTEBOOKS_BCE
    first_model = small_ae()
    first = train.fit_or_load("tiny", first_model, tiny_images, None, cfg, loss=ONE_NOTEBOOKS_BCE, device=CPU,
                              cache_dir=tmp_path, progress=False)
    assert not first.from_cache
    monkeypatch.setattr(train, "train", lambda *a, **k: pytest.fail("retrained a loss of the same code"))
    second_model = small_ae()
    second = train.fit_or_load("tiny", second_model, tiny_images, None, cfg, loss=ANOTHER_NOTEBOOKS_BCE, device=CPU,
                               cache_dir=tmp_path, progress=False)
    assert second.from_cache and second.metrics == first.metrics and len(list(tmp_path.glob("tiny-*.pt"))) == 1
    for p, q in zip(first_model.parameters(), second_model.parameters()):
        assert torch.equal(p, q)


def test_a_cache_file_of_schema_2_is_refused_and_the_model_retrained(tiny_images, tmp_path):
    cfg = TrainConfig(epochs=1, batch_size=32)
    train.fit_or_load("tiny", small_ae(), tiny_images, None, cfg, loss=BCE, device=CPU, cache_dir=tmp_path,
                      progress=False)
    (path,) = tmp_path.glob("tiny-*.pt")
    blob = torch.load(path, weights_only=True)
    old = dict(blob, schema=2)  # as aecore 0.1 wrote it (the objective was a config field then)
    del old["loss"]
    torch.save(old, path)
    with pytest.raises(cache.CacheFileError, match=r"has cache schema 2 \(its objective was a TrainConfig field.*"
                                                   r"this aecore reads schema 4"):
        cache.read_model_file(path)
    with pytest.warns(UserWarning, match=r"could not be used \(CacheFileError: .*cache schema 2.*\); retraining it"):
        history = train.fit_or_load("tiny", small_ae(), tiny_images, None, cfg, loss=BCE, device=CPU,
                                    cache_dir=tmp_path, progress=False)
    assert not history.from_cache
    assert cache.read_model_file(path)["schema"] == 4  # the retrained model replaced it
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert train.fit_or_load("tiny", small_ae(), tiny_images, None, cfg, loss=BCE, device=CPU, cache_dir=tmp_path,
                                 progress=False).from_cache
