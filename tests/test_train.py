import dataclasses
import math
import warnings

import pytest
import torch
from torch.nn import functional as F

from aecore import cache, metrics, models, train, utils
from aecore.data import LabelledImages
from aecore.train import TrainConfig
from aecore.utils import stable_hash

CPU = torch.device("cpu")


def small_ae(latent_dim=3):
    return models.MLPAutoencoder(image_shape=(1, 8, 8), hidden=(32,), latent_dim=latent_dim)


def small_vae(conditional=False):
    cls = models.ConditionalVAE if conditional else models.VAE
    kwargs = {"num_classes": 4} if conditional else {}
    return cls(image_shape=(1, 8, 8), hidden=(32,), latent_dim=3, **kwargs)


# ------------------------------------------------------------------------------ losses

def test_bce_is_summed_over_pixels_per_image():
    logits, target = torch.randn(3, 1, 4, 4), torch.rand(3, 1, 4, 4)
    per_image = train.reconstruction_loss(logits, target, "bce")
    assert per_image.shape == (3,)
    assert torch.allclose(per_image.sum(), F.binary_cross_entropy(torch.sigmoid(logits), target, reduction="sum"),
                          rtol=1e-4)


def test_mse_is_averaged_over_pixels_of_the_sigmoid_output():
    logits, target = torch.zeros(2, 1, 4, 4), torch.ones(2, 1, 4, 4)
    assert torch.allclose(train.reconstruction_loss(logits, target, "mse"), torch.full((2,), 0.25))


def test_kl_is_zero_at_the_prior_and_matches_the_closed_form():
    assert torch.allclose(train.kl_divergence(torch.zeros(2, 5), torch.zeros(2, 5)), torch.zeros(2))
    mu, var = 1.5, 0.3
    expected = 0.5 * (var + mu**2 - 1 - math.log(var))
    got = train.kl_divergence(torch.tensor([[mu]]), torch.tensor([[math.log(var)]]))
    assert got.item() == pytest.approx(expected, rel=1e-5)


def test_l2_counts_weights_not_biases():
    layer = torch.nn.Linear(2, 2)
    with torch.no_grad():
        layer.weight.fill_(2.0)
        layer.bias.fill_(100.0)
    assert train.l2_of_weights(layer).item() == pytest.approx(16.0)


# ------------------------------------------------------------------------------ config

@pytest.mark.parametrize("kwargs, match", [
    ({"loss": "l1"}, "unknown loss"), ({"lr_schedule": "step"}, "lr_schedule"), ({"epochs": 0}, "epochs"),
    ({"weight_decay": -1}, "weight_decay"), ({"input_noise": -0.4}, "input_noise"),
])
def test_bad_config_is_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


def test_model_and_loss_must_fit_together(tiny_images):
    with pytest.raises(ValueError, match="VAE trains with loss='elbo', not 'bce'"):
        train.train(small_vae(), tiny_images, config=TrainConfig(loss="bce"), device=CPU, progress=False)
    with pytest.raises(ValueError, match="MLPAutoencoder trains with loss='bce' or 'mse', not 'elbo'"):
        train.train(small_ae(), tiny_images, config=TrainConfig(loss="elbo"), device=CPU, progress=False)
    with pytest.raises(TypeError, match="not an aecore model"):
        train.train(torch.nn.Linear(2, 2), tiny_images, config=TrainConfig(), device=CPU, progress=False)


# ------------------------------------------------------------------------------ training

def test_training_lowers_the_loss_and_records_curves(tiny_images):
    history = train.train(small_ae(), tiny_images, tiny_images, TrainConfig(epochs=15, batch_size=32, lr=3e-3),
                          device=CPU, progress=False)
    assert len(history["train_loss"]) == 15 and len(history["val_loss"]) == 15
    assert history["train_loss"][-1] < 0.9 * history["train_loss"][0]
    assert history.seconds > 0 and history.device == "cpu"


def test_training_is_reproducible_with_a_seed(tiny_images):
    cfg = TrainConfig(epochs=2, batch_size=32, input_noise=0.3, seed=7)
    a = train.train(small_ae(), tiny_images, tiny_images, cfg, device=CPU, progress=False)
    b = train.train(small_ae(), tiny_images, tiny_images, cfg, device=CPU, progress=False)
    assert a.metrics == b.metrics


def test_vae_and_cvae_log_recon_and_kl(tiny_images):
    for conditional in (False, True):
        history = train.train(small_vae(conditional), tiny_images, tiny_images, TrainConfig(epochs=2, loss="elbo"),
                              device=CPU, progress=False)
        for key in ("train_recon", "train_kl", "val_recon", "val_kl"):
            assert len(history[key]) == 2
        assert history.final("val_loss") == pytest.approx(history.final("val_recon") + history.final("val_kl"), rel=1e-5)


@pytest.mark.parametrize("kwargs", [{"weight_decay": 1e-1}, {"l2_penalty": 1e-2}])
def test_l2_regularisation_shrinks_the_weights(tiny_images, kwargs):
    def weight_norm(cfg):
        model = small_ae()
        train.train(model, tiny_images, None, cfg, device=CPU, progress=False)
        return train.l2_of_weights(model).item()

    settings = dict(epochs=30, batch_size=32, lr=1e-2)
    assert weight_norm(TrainConfig(**settings, **kwargs)) < 0.5 * weight_norm(TrainConfig(**settings))


def test_evaluation_with_input_noise_is_deterministic_and_harder(tiny_images):
    model = small_ae()
    train.train(model, tiny_images, None, TrainConfig(epochs=5, batch_size=32), device=CPU, progress=False)
    noisy_cfg = TrainConfig(input_noise=0.4)
    a = train.evaluate(model, tiny_images, noisy_cfg, device=CPU)
    b = train.evaluate(model, tiny_images, noisy_cfg, device=CPU)
    clean = train.evaluate(model, tiny_images, TrainConfig(), device=CPU)
    assert a == b and a["loss"] > clean["loss"]


def test_divergence_is_reported(tiny_images):
    with pytest.raises(FloatingPointError, match="learning rate"):
        train.train(small_ae(), tiny_images, None, TrainConfig(epochs=3, lr=1e12, loss="mse"), device=CPU,
                    progress=False)


# ------------------------------------------------------------------------------ fit_or_load

def test_fit_or_load_trains_once_then_loads(tiny_images, dirs, monkeypatch):
    cfg = TrainConfig(epochs=2, batch_size=32)
    first_model = small_ae()
    first = train.fit_or_load("tiny", first_model, tiny_images, tiny_images, cfg, device=CPU, progress=False)
    assert not first.from_cache
    files = list((dirs[1] / "models").glob("tiny-*.pt"))
    assert len(files) == 1 and not list((dirs[1] / "models").glob(".*tmp"))

    monkeypatch.setattr(train, "train", lambda *a, **k: pytest.fail("retrained instead of loading"))
    second_model = small_ae()
    second = train.fit_or_load("tiny", second_model, tiny_images, tiny_images, cfg, device=CPU, progress=False)
    assert second.from_cache and second.metrics == first.metrics and second.seconds == first.seconds
    for p, q in zip(first_model.parameters(), second_model.parameters()):
        assert torch.equal(p.cpu(), q.cpu())
    assert not second_model.training


def test_cache_key_changes_with_model_config_and_data(tiny_images):
    cfg = TrainConfig(epochs=2)
    key = train.cache_key(small_ae(), tiny_images, None, cfg)
    assert key == train.cache_key(small_ae(), tiny_images, None, cfg)
    assert key != train.cache_key(small_ae(latent_dim=4), tiny_images, None, cfg)
    assert key != train.cache_key(small_ae(), tiny_images, None, TrainConfig(epochs=3))
    assert key != train.cache_key(small_ae(), tiny_images.subset(100), None, cfg)


def test_corrupt_cache_file_is_reported_and_retrained(tiny_images, dirs):
    cfg = TrainConfig(epochs=1, batch_size=32)
    train.fit_or_load("tiny", small_ae(), tiny_images, None, cfg, device=CPU, progress=False)
    (path,) = (dirs[1] / "models").glob("tiny-*.pt")
    path.write_bytes(path.read_bytes()[:100])  # truncated file
    with pytest.warns(UserWarning, match="could not be used"):
        history = train.fit_or_load("tiny", small_ae(), tiny_images, None, cfg, device=CPU, progress=False)
    assert not history.from_cache
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert train.fit_or_load("tiny", small_ae(), tiny_images, None, cfg, device=CPU, progress=False).from_cache


def test_fit_or_load_rejects_path_like_names(tiny_images):
    with pytest.raises(ValueError, match="name"):
        train.fit_or_load("../x", small_ae(), tiny_images)


def test_image_training_uses_channels_last_on_cpu_and_ends_in_the_default_layout():
    assert utils.preferred_memory_format(CPU, torch.zeros(2, 3, 8, 8)) == torch.channels_last
    assert utils.preferred_memory_format(CPU, torch.zeros(2, 64)) == torch.contiguous_format
    assert utils.preferred_memory_format(torch.device("mps"), torch.zeros(2, 3, 8, 8)) == torch.contiguous_format
    model = models.ConvAutoencoder(image_size=16, channels=(4, 4), latent_channels=2, blocks=0)
    data = LabelledImages(torch.rand(16, 3, 16, 16), torch.zeros(16, dtype=torch.long), ["x"])
    config = TrainConfig(epochs=1, batch_size=8, loss="mse")
    train.train(model, data, None, config, device=CPU, progress=False)
    assert model.encoder[0].weight.is_contiguous()  # as a model loaded from the cache
    reference = models.ConvAutoencoder(image_size=16, channels=(4, 4), latent_channels=2, blocks=0)
    reference.load_state_dict(model.state_dict())
    assert train.evaluate(model, data, config, device=CPU)["loss"] == pytest.approx(
        train.evaluate(reference.eval(), data, config, device=CPU)["loss"], rel=1e-5)


# ------------------------------------------------------------------ recon_reduction (Lab 3)

def test_mean_reduction_divides_the_reconstruction_term_by_the_pixel_count(tiny_images):
    model = small_vae()
    x, y = tiny_images.images[:16], tiny_images.labels[:16]
    torch.manual_seed(0)
    summed = train.batch_losses(model, x, y, TrainConfig(loss="elbo"))
    torch.manual_seed(0)  # same reparameterisation noise
    averaged = train.batch_losses(model, x, y, TrainConfig(loss="elbo", recon_reduction="mean"))
    assert torch.allclose(averaged["recon"], summed["recon"] / 64)  # 1x8x8 pixels
    assert torch.allclose(averaged["kl"], summed["kl"])
    assert torch.allclose(averaged["loss"], summed["recon"] / 64 + summed["kl"])
    # Multiplying the averaged objective by the pixel count gives a summed ELBO with KL weight 64.
    assert torch.allclose(64 * averaged["loss"], summed["recon"] + 64 * summed["kl"], rtol=1e-5)


def test_mean_reduction_is_checked_and_only_for_the_elbo():
    with pytest.raises(ValueError, match="recon_reduction"):
        TrainConfig(loss="elbo", recon_reduction="median")
    with pytest.raises(ValueError, match="elbo"):
        TrainConfig(loss="bce", recon_reduction="mean")


def test_cache_key_covers_schema_model_hparams_every_config_field_and_data(tiny_images, monkeypatch):
    cfg = TrainConfig(epochs=2, loss="elbo")
    key = train.cache_key(small_vae(), tiny_images, None, cfg)
    assert key == cache.key_of({"schema": cache.CACHE_SCHEMA, "model": "VAE", "hparams": small_vae().hparams,
                                "config": {k: v for k, v in dataclasses.asdict(cfg).items()
                                           if k not in TrainConfig.ADDED_LATER},
                                "data": {"train": train.data_fingerprint(tiny_images), "val": None}})
    for changed in (dataclasses.replace(cfg, recon_reduction="mean"), dataclasses.replace(cfg, recon_sigma=0.2),
                    dataclasses.replace(cfg, seed=1), dataclasses.replace(cfg, warmup=0.1)):
        assert train.cache_key(small_vae(), tiny_images, None, changed) != key
    assert train.cache_key(small_vae(), tiny_images, tiny_images, cfg) != key
    monkeypatch.setattr(cache, "CACHE_SCHEMA", cache.CACHE_SCHEMA + 1)
    assert train.cache_key(small_vae(), tiny_images, None, cfg) != key


def test_a_vae_with_labels_and_a_plain_vae_never_share_a_key(tiny_images):
    cfg = TrainConfig(epochs=2, loss="elbo")
    plain = models.VAE(image_shape=(1, 8, 8), hidden=(16,), latent_dim=3)
    labelled = models.VAE(image_shape=(1, 8, 8), hidden=(16,), latent_dim=3, num_classes=4)
    assert labelled.hparams["num_classes"] == 4 and plain.hparams["num_classes"] == 0
    assert train.cache_key(plain, tiny_images, None, cfg) != train.cache_key(labelled, tiny_images, None, cfg)


# ------------------------------------------------------------ Gaussian ELBO (Lab 3, dogs)

def test_gaussian_reconstruction_is_summed_squared_error_over_two_sigma_squared():
    logits, target = torch.zeros(2, 3, 4, 4), torch.ones(2, 3, 4, 4)  # sigmoid(0) = 0.5: error 0.5 per pixel
    got = train.reconstruction_loss(logits, target, "gaussian", sigma=0.1)
    assert torch.allclose(got, torch.full((2,), 48 * 0.25 / (2 * 0.01)))
    logits, target = torch.randn(3, 3, 4, 4), torch.rand(3, 3, 4, 4)
    expected = ((torch.sigmoid(logits) - target) ** 2).flatten(1).sum(1) / (2 * 0.2 ** 2)
    assert torch.allclose(train.reconstruction_loss(logits, target, "gaussian", sigma=0.2), expected)


def test_kl_sums_over_every_latent_dimension_of_feature_maps():
    mu, logvar = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    assert torch.allclose(train.kl_divergence(mu, logvar), train.kl_divergence(mu.flatten(1), logvar.flatten(1)))


def test_elbo_with_gaussian_likelihood_uses_recon_sigma(tiny_images):
    model = small_vae()
    x, y = tiny_images.images[:16], tiny_images.labels[:16]
    cfg = TrainConfig(loss="elbo", recon_loss="gaussian", recon_sigma=0.05, beta=2.0)
    torch.manual_seed(0)
    losses = train.batch_losses(model, x, y, cfg)
    torch.manual_seed(0)  # same reparameterisation noise
    logits, mu, logvar = model(x)
    expected_recon = ((torch.sigmoid(logits) - x) ** 2).flatten(1).sum(1) / (2 * 0.05 ** 2)
    assert torch.allclose(losses["recon"], expected_recon, rtol=1e-5)
    assert torch.allclose(losses["loss"], expected_recon + 2.0 * train.kl_divergence(mu, logvar), rtol=1e-5)


@pytest.mark.parametrize("kwargs, match", [
    (dict(loss="elbo", recon_loss="laplace"), "recon_loss"),
    (dict(loss="mse", recon_loss="gaussian"), "elbo"),
    (dict(loss="elbo", recon_loss="gaussian", recon_sigma=0.0), "recon_sigma"),
])
def test_gaussian_recon_options_are_checked(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


def test_conv_vae_trains_with_the_gaussian_elbo():
    torch.manual_seed(0)
    data = LabelledImages(torch.rand(16, 3, 16, 16), torch.zeros(16, dtype=torch.long), ["x"])
    model = models.ConvVAE(image_size=16, channels=(8, 8), latent_channels=2, blocks=0)
    cfg = TrainConfig(epochs=3, batch_size=8, loss="elbo", recon_loss="gaussian", lr=3e-3)
    history = train.train(model, data, data, cfg, device=CPU, progress=False)
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
    config = TrainConfig(epochs=1, batch_size=8, loss="mse")
    make = lambda: models.ConvAutoencoder(image_size=16, channels=(4, 8), latent_channels=2, blocks=0, latent_noise=0.1)
    trained = make()
    assert not train.fit_or_load("fmt", trained, data, None, config, progress=False).from_cache
    loaded = make()
    assert train.fit_or_load("fmt", loaded, data, None, config, progress=False).from_cache
    outputs = []
    for model in (trained, loaded):
        with models.latent_noise_at_eval(model, seed=7):
            outputs.append(models.reconstruct(model, data.images))
    assert torch.equal(outputs[0], outputs[1])


def test_fields_added_later_change_the_key_only_when_set(tiny_images):
    """Models cached before ssim_weight and warmup existed keep their keys; setting either makes a new run."""
    cfg = TrainConfig(epochs=2, loss="mse")
    keyed = cache.config_as_keyed(cfg)
    assert "ssim_weight" not in keyed and "warmup" not in keyed and keyed["lr"] == cfg.lr
    assert set(TrainConfig.ADDED_LATER) <= {f.name for f in dataclasses.fields(TrainConfig)}
    assert all(getattr(cfg, name) == value for name, value in TrainConfig.ADDED_LATER.items())  # the defaults
    model = models.MLPAutoencoder(image_shape=(1, 8, 8), hidden=(16,), latent_dim=2)
    key = train.cache_key(model, tiny_images, None, cfg)
    keys = {train.cache_key(model, tiny_images, None, dataclasses.replace(cfg, **change))
            for change in ({"ssim_weight": 0.05}, {"warmup": 0.05}, {"ssim_weight": 0.05, "warmup": 0.05})}
    assert key not in keys and len(keys) == 3


def test_ssim_weight_adds_one_minus_ssim_to_the_mse_and_logs_both_parts():
    torch.manual_seed(0)
    model = models.ConvAutoencoder(image_size=16, channels=(4, 8), latent_channels=2, blocks=0)
    x = torch.rand(3, 3, 16, 16)
    plain = train.batch_losses(model, x, torch.zeros(3, dtype=torch.long), TrainConfig(loss="mse"))
    both = train.batch_losses(model, x, torch.zeros(3, dtype=torch.long), TrainConfig(loss="mse", ssim_weight=0.5))
    assert set(plain) == {"loss"} and set(both) == {"loss", "mse", "ssim"}
    reconstruction = torch.sigmoid(model(x))  # train mode, as batch_losses saw it (batch statistics)
    assert torch.allclose(both["mse"], plain["loss"])
    assert torch.allclose(both["ssim"], metrics.ssim(reconstruction, x), atol=1e-6)
    assert torch.allclose(both["loss"], both["mse"] + 0.5 * (1 - both["ssim"]))
    with pytest.raises(ValueError, match="ssim_weight applies to loss='mse'"):
        TrainConfig(loss="bce", ssim_weight=0.1)


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
