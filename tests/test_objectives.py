"""The reference objectives (aecore.objectives) and the loss terms of aecore.lessons they are built from.

These replace the tests of the loss settings TrainConfig used to hold (loss, input_noise, l2_penalty,
recon_reduction, recon_loss, recon_sigma, ssim_weight): each setting is now an objective, or an
objective's keyword bound with functools.partial.
"""

import math
from functools import partial

import pytest
import torch
from torch.nn import functional as F

from aecore import lessons, metrics, models, objectives
from aecore.labs import lab1, lab2


def small_vae(conditional=False):
    cls = models.ConditionalVAE if conditional else models.VAE
    kwargs = {"num_classes": 4} if conditional else {}
    return cls(image_shape=(1, 8, 8), hidden=(32,), latent_dim=3, **kwargs)


class Recording(torch.nn.Module):
    """A stand-in autoencoder: remembers the input it was given and returns fixed logits."""

    def __init__(self, logits):
        super().__init__()
        self.logits, self.seen = logits, []
        self.layer = torch.nn.Linear(2, 2)  # some weights for the penalty

    def forward(self, x):
        self.seen.append(x.clone())
        return self.logits


# ------------------------------------------------------------------ reconstruction terms

def test_bce_is_summed_over_pixels_per_image():
    logits, target = torch.randn(3, 1, 4, 4), torch.rand(3, 1, 4, 4)
    per_image = lessons.bce_per_image(logits, target)
    assert per_image.shape == (3,)
    assert torch.allclose(per_image.sum(), F.binary_cross_entropy(torch.sigmoid(logits), target, reduction="sum"),
                          rtol=1e-4)
    model = Recording(logits)
    assert torch.equal(objectives.reconstruction_bce(model, target, None), per_image)
    assert torch.equal(model.seen[0], target)  # the clean images go in


def test_mse_is_averaged_over_pixels_of_the_sigmoid_output():
    target = torch.ones(2, 1, 4, 4)
    model = Recording(torch.zeros(2, 1, 4, 4))  # sigmoid(0) = 0.5: squared error 0.25 at every pixel
    assert torch.allclose(objectives.reconstruction_mse(model, target, None), torch.full((2,), 0.25))


def test_kl_is_zero_at_the_prior_and_matches_the_closed_form():
    assert torch.allclose(lessons.kl_divergence(torch.zeros(2, 5), torch.zeros(2, 5)), torch.zeros(2))
    mu, var = 1.5, 0.3
    expected = 0.5 * (var + mu**2 - 1 - math.log(var))
    got = lessons.kl_divergence(torch.tensor([[mu]]), torch.tensor([[math.log(var)]]))
    assert got.item() == pytest.approx(expected, rel=1e-5)


def test_kl_sums_over_every_latent_dimension_of_feature_maps():
    mu, logvar = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    assert torch.allclose(lessons.kl_divergence(mu, logvar), lessons.kl_divergence(mu.flatten(1), logvar.flatten(1)))


def test_l2_counts_weights_not_biases():
    layer = torch.nn.Linear(2, 2)
    with torch.no_grad():
        layer.weight.fill_(2.0)
        layer.bias.fill_(100.0)
    assert lessons.l2_penalty(layer).item() == pytest.approx(16.0)


# ------------------------------------------------------------------ denoising (was input_noise)

def test_denoising_noise_reaches_only_the_encoders_input_and_the_target_stays_clean():
    x = torch.rand(4, 1, 8, 8)
    logits = torch.randn(4, 1, 8, 8)
    model = Recording(logits)
    torch.manual_seed(3)
    loss = objectives.denoising_bce(model, x, None, noise_factor=0.4)
    torch.manual_seed(3)
    expected_input = lessons.noisy_input(x, 0.4)
    (seen,) = model.seen
    assert torch.equal(seen, expected_input) and not torch.equal(seen, x)
    assert 0 <= seen.min() and seen.max() <= 1  # clipped
    assert torch.allclose(loss, lessons.bce_per_image(logits, x))  # against the clean x
    assert not torch.allclose(loss, lessons.bce_per_image(logits, seen))
    # No noise: the plain autoencoder's objective.
    assert torch.equal(objectives.denoising_bce(Recording(logits), x, None, noise_factor=0.0),
                       objectives.reconstruction_bce(Recording(logits), x, None))


def test_noisy_input_has_the_requested_standard_deviation_before_clipping():
    torch.manual_seed(0)
    x = torch.full((200, 1, 28, 28), 0.5)
    noisy = lessons.noisy_input(x, 0.1)  # 0.5 +- 5 sigma stays inside [0, 1]: no clipping
    assert (noisy - x).std().item() == pytest.approx(0.1, rel=0.02)


def test_lab1_denoising_objective_binds_the_labs_noise_factor():
    objective = lab1.denoising_objective()
    assert objective.func is objectives.denoising_bce
    assert objective.keywords == {"noise_factor": lab1.DENOISING_NOISE}
    x, logits = torch.rand(2, 1, 8, 8), torch.randn(2, 1, 8, 8)
    torch.manual_seed(0)
    a = objective(Recording(logits), x, None)
    torch.manual_seed(0)
    b = objectives.denoising_bce(Recording(logits), x, None, noise_factor=0.4)
    assert torch.equal(a, b)


# ------------------------------------------------------------------ explicit L2 penalty (was l2_penalty)

def test_penalised_bce_adds_the_weights_penalty_to_every_image_and_logs_the_bce():
    x, logits = torch.rand(3, 1, 4, 4), torch.randn(3, 1, 4, 4)
    model = Recording(logits)
    with torch.no_grad():
        model.layer.weight.fill_(1.0)  # 4 weights of 1: penalty 4 (the bias of 5 does not count)
        model.layer.bias.fill_(5.0)
    out = objectives.penalised_bce(model, x, None, strength=0.25)
    assert set(out) == {"loss", "bce"}
    assert torch.equal(out["bce"], lessons.bce_per_image(logits, x))
    assert torch.allclose(out["loss"] - out["bce"], torch.full((3,), 0.25 * 4.0))
    out["loss"].mean().backward()  # the penalty's gradient reaches the weights, 2 * strength * w
    assert torch.allclose(model.layer.weight.grad, torch.full((2, 2), 2 * 0.25))
    assert model.layer.bias.grad is None


# ------------------------------------------------------------------ MSE + SSIM (was ssim_weight)

def test_mse_ssim_adds_one_minus_ssim_to_the_mse_and_logs_both_parts():
    torch.manual_seed(0)
    model = models.ConvAutoencoder(image_size=16, channels=(4, 8), latent_channels=2, blocks=0).eval()
    x, y = torch.rand(3, 3, 16, 16), torch.zeros(3, dtype=torch.long)
    plain = objectives.reconstruction_mse(model, x, y)
    both = objectives.mse_ssim(model, x, y, ssim_weight=0.5)
    assert set(both) == {"loss", "mse", "ssim"}
    reconstruction = torch.sigmoid(model(x))
    assert torch.allclose(both["mse"], plain)
    assert torch.allclose(both["ssim"], metrics.ssim(reconstruction, x), atol=1e-6)
    assert torch.allclose(both["loss"], both["mse"] + 0.5 * (1 - both["ssim"]))
    assert torch.allclose(both["loss"], lessons.mse_ssim_per_image(model(x), x, 0.5), atol=1e-6)


def test_lab2_dogs_objective_is_mse_ssim_with_the_labs_weight():
    objective = lab2.objective()
    assert objective.func is objectives.mse_ssim and objective.keywords == {"ssim_weight": lab2.SSIM_WEIGHT}
    assert lab2.SSIM_WEIGHT == 0.05


# ------------------------------------------------------------------ negative ELBO (was loss="elbo")

@pytest.mark.parametrize("conditional", [False, True])
def test_negative_elbo_is_recon_plus_kl_of_a_sampled_code(conditional):
    model = small_vae(conditional)
    x, y = torch.rand(16, 1, 8, 8), torch.arange(16) % 4
    torch.manual_seed(0)
    losses = objectives.negative_elbo(model, x, y)
    torch.manual_seed(0)  # the same reparameterisation noise
    logits, mu, logvar = model(x, y if conditional else None)
    assert set(losses) == {"loss", "recon", "kl"}
    assert torch.allclose(losses["recon"], lessons.bce_per_image(logits, x), rtol=1e-5)
    assert torch.allclose(losses["kl"], lessons.kl_divergence(mu, logvar), rtol=1e-5)
    assert torch.allclose(losses["loss"], losses["recon"] + losses["kl"])
    assert torch.allclose(losses["loss"], lessons.negative_elbo(logits, x, mu, logvar), rtol=1e-5)


def averaged_elbo(model, x, y):
    """Lab 3's mistake on purpose (was recon_reduction="mean"): the BCE averaged over the pixels plus the KL."""
    mu, logvar = model.encode(x, y)
    logits = model.decode(lessons.reparameterize(mu, logvar), y)
    recon = lessons.bce_per_image(logits, x) / x[0].numel()
    kl = lessons.kl_divergence(mu, logvar)
    return {"loss": recon + kl, "recon": recon, "kl": kl}


def test_averaging_the_bce_over_pixels_divides_the_reconstruction_term_by_the_pixel_count():
    model = small_vae()
    x, y = torch.rand(16, 1, 8, 8), torch.zeros(16, dtype=torch.long)
    torch.manual_seed(0)
    summed = objectives.negative_elbo(model, x, y)
    torch.manual_seed(0)  # same reparameterisation noise
    averaged = averaged_elbo(model, x, y)
    assert torch.allclose(averaged["recon"], summed["recon"] / 64)  # 1x8x8 pixels
    assert torch.allclose(averaged["kl"], summed["kl"])
    assert torch.allclose(averaged["loss"], summed["recon"] / 64 + summed["kl"])
    # Multiplying the averaged objective by the pixel count gives a summed ELBO with KL weight 64.
    assert torch.allclose(64 * averaged["loss"], summed["recon"] + 64 * summed["kl"], rtol=1e-5)


# ------------------------------------------------------------------ Gaussian ELBO (was recon_loss="gaussian")

def test_gaussian_reconstruction_is_summed_squared_error_over_two_sigma_squared():
    zeros = torch.zeros(2, 4)  # mu = logvar = 0: the prior, KL 0
    logits, target = torch.zeros(2, 3, 4, 4), torch.ones(2, 3, 4, 4)  # sigmoid(0) = 0.5: error 0.5 per pixel
    got = lessons.gaussian_negative_elbo(logits, target, zeros, zeros, sigma=0.1)
    assert torch.allclose(got, torch.full((2,), 48 * 0.25 / (2 * 0.01)))
    logits, target = torch.randn(3, 3, 4, 4), torch.rand(3, 3, 4, 4)
    mu, logvar = torch.randn(3, 4), torch.randn(3, 4)
    expected = ((torch.sigmoid(logits) - target) ** 2).flatten(1).sum(1) / (2 * 0.2 ** 2)
    assert torch.allclose(lessons.gaussian_negative_elbo(logits, target, mu, logvar, sigma=0.2),
                          expected + lessons.kl_divergence(mu, logvar))


def test_gaussian_negative_elbo_uses_its_sigma():
    model = small_vae()
    x, y = torch.rand(16, 1, 8, 8), torch.zeros(16, dtype=torch.long)
    objective = partial(objectives.gaussian_negative_elbo, sigma=0.05)
    torch.manual_seed(0)
    losses = objective(model, x, y)
    torch.manual_seed(0)  # same reparameterisation noise
    logits, mu, logvar = model(x)
    expected_recon = ((torch.sigmoid(logits) - x) ** 2).flatten(1).sum(1) / (2 * 0.05 ** 2)
    assert torch.allclose(losses["recon"], expected_recon, rtol=1e-5)
    assert torch.allclose(losses["kl"], lessons.kl_divergence(mu, logvar), rtol=1e-5)
    assert torch.allclose(losses["loss"], expected_recon + lessons.kl_divergence(mu, logvar), rtol=1e-5)


# ------------------------------------------------------------------ classifier (was loss="ce")

def test_cross_entropy_gives_the_loss_and_the_accuracy_of_each_image():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, -1.0]])
    y = torch.tensor([0, 0, 0])
    out = objectives.cross_entropy(lambda x: logits, torch.zeros(3, 1, 2, 2), y)
    assert set(out) == {"loss", "acc"}
    assert torch.allclose(out["loss"], F.cross_entropy(logits, y, reduction="none"))
    assert out["acc"].tolist() == [1.0, 0.0, 1.0]


def test_every_reference_objective_is_listed_and_gives_one_value_per_image():
    assert sorted(objectives.__all__) == sorted(
        name for name, value in vars(objectives).items() if callable(value) and not name.startswith("_")
        and getattr(value, "__module__", None) == objectives.__name__)
    x, y = torch.rand(4, 1, 8, 8), torch.arange(4) % 4
    ae = models.MLPAutoencoder(image_shape=(1, 8, 8), hidden=(8,), latent_dim=2)
    settings = {"denoising_bce": {"noise_factor": 0.4}, "penalised_bce": {"strength": 1e-3},
                "mse_ssim": {"ssim_weight": 0.05}, "gaussian_negative_elbo": {"sigma": 0.1}}
    for name in objectives.__all__:
        model = small_vae(conditional=True) if "elbo" in name else ae
        if name == "mse_ssim":
            model, x_ = models.ConvAutoencoder(image_size=16, channels=(4, 4), latent_channels=2, blocks=0), \
                torch.rand(4, 3, 16, 16)
        elif name == "cross_entropy":
            from aecore.classifier import ImageClassifier
            model, x_ = ImageClassifier(num_classes=4, width=4, image_size=8), x
        else:
            x_ = x
        out = getattr(objectives, name)(model, x_, y, **settings.get(name, {}))
        out = out if isinstance(out, dict) else {"loss": out}
        assert "loss" in out and all(v.shape == (4,) for v in out.values()), name
