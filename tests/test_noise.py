import math

import pytest
import torch

from aecore import noise


def test_input_noise_has_the_requested_standard_deviation():
    x = torch.full((200, 1, 28, 28), 0.5)
    noisy = noise.add_input_noise(x, 0.4, clip=False, generator=torch.Generator().manual_seed(0))
    diff = noisy - x
    assert abs(diff.mean().item()) < 0.005 and abs(diff.std().item() - 0.4) < 0.005


def test_clipped_input_noise_stays_in_unit_range_and_is_reproducible():
    x = torch.rand(10, 1, 8, 8)
    a = noise.add_input_noise(x, 0.4, clip=True, generator=torch.Generator().manual_seed(3))
    b = noise.add_input_noise(x, 0.4, clip=True, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.min() >= 0 and a.max() <= 1 and not torch.equal(a, x)


def test_power_normalize_gives_unit_mean_square_per_code():
    z = torch.randn(6, 16, 8, 8) * torch.arange(1, 7).view(6, 1, 1, 1)
    p = noise.power_normalize(z).pow(2).flatten(1).mean(1)
    assert torch.allclose(p, torch.ones(6), atol=1e-5)


def test_latent_noise_variance_is_sigma_squared():
    torch.manual_seed(0)
    layer = noise.PowerNormalizedLatentNoise(variance=0.1).train()
    z = torch.randn(64, 1024)
    added = layer(z) - noise.power_normalize(z)
    assert abs(added.var().item() - 0.1) < 0.003
    assert math.isclose(layer.std, math.sqrt(0.1))


def test_latent_noise_is_switchable_at_evaluation():
    layer = noise.PowerNormalizedLatentNoise(variance=0.15).eval()
    z = torch.randn(4, 32)
    assert torch.allclose(layer(z), noise.power_normalize(z))
    layer.set_noise_at_eval(True)
    assert not torch.allclose(layer(z), noise.power_normalize(z))


def test_snr_in_db():
    assert noise.snr_db(0.1) == pytest.approx(10.0)
    assert noise.snr_db(0.05) == pytest.approx(13.0103, abs=1e-3)
    assert noise.snr_db(0) == math.inf
    with pytest.raises(ValueError, match="variance"):
        noise.PowerNormalizedLatentNoise(-1)
