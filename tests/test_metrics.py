import math
import warnings

import pytest
import torch

from aecore import metrics


def test_psnr_of_a_known_error():
    x = torch.zeros(2, 1, 8, 8)
    y = torch.full((2, 1, 8, 8), 0.1)  # MSE 0.01 -> 20 dB
    assert torch.allclose(metrics.psnr(x, y), torch.tensor([20.0, 20.0]))
    assert metrics.mean_psnr(x, y) == pytest.approx(20.0)


def test_psnr_is_per_image_and_mean_is_over_images():
    x = torch.zeros(2, 1, 4, 4)
    y = torch.stack([torch.full((1, 4, 4), 0.1), torch.full((1, 4, 4), 0.01)])
    assert metrics.psnr(x, y).tolist() == pytest.approx([20.0, 40.0])
    assert metrics.mean_psnr(x, y) == pytest.approx(30.0)


def test_psnr_respects_the_data_range():
    x, y = torch.rand(3, 3, 8, 8), torch.rand(3, 3, 8, 8)
    assert torch.allclose(metrics.psnr(x * 255, y * 255, data_range=255), metrics.psnr(x, y), atol=1e-4)


def test_identical_images_have_infinite_psnr():
    x = torch.rand(1, 1, 4, 4)
    assert math.isinf(metrics.psnr(x, x).item())


def test_values_outside_the_declared_range_are_rejected():
    x = torch.rand(2, 1, 4, 4) * 255
    with pytest.raises(ValueError, match="outside the declared range"):
        metrics.psnr(x, x, data_range=1.0)


def test_shape_mismatch_is_rejected():
    with pytest.raises(ValueError, match="shape mismatch"):
        metrics.psnr(torch.rand(2, 1, 4, 4), torch.rand(2, 1, 4, 5))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        metrics.ssim(torch.rand(1, 16, 16), torch.rand(1, 16, 16))


def test_ssim_is_one_for_identical_and_falls_with_noise():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 32, 32, generator=gen)
    def noisy(s):
        return (x + s * torch.randn(x.shape, generator=gen)).clamp(0, 1)

    assert metrics.ssim(x, x).tolist() == pytest.approx([1.0] * 4, abs=1e-5)
    assert metrics.mean_ssim(x, x) > metrics.mean_ssim(x, noisy(0.05)) > metrics.mean_ssim(x, noisy(0.3))


def test_metrics_of_a_grad_tracking_model_output_warn_of_nothing():
    x = torch.rand(2, 1, 16, 16)
    output = torch.sigmoid(torch.randn(2, 1, 16, 16, requires_grad=True))  # as a model's reconstruction
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the range check must not read a grad-tracking tensor as a float
        similarity = metrics.ssim(output, x)
        quality = metrics.psnr(output, x)
    assert torch.allclose(similarity, metrics.ssim(output.detach(), x))
    assert torch.allclose(quality, metrics.psnr(output.detach(), x))


def test_ssim_needs_the_window_to_fit():
    with pytest.raises(ValueError, match="11x11"):
        metrics.ssim(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8))


def test_total_variation_measures_neighbour_differences():
    flat = torch.full((1, 3, 8, 8), 0.5)
    stripes = torch.zeros(1, 1, 4, 4)
    stripes[..., 1::2] = 1.0  # columns alternate 0/1: every horizontal pair differs by 1, no vertical pair does
    tv = metrics.total_variation(torch.cat([flat[:, :1], stripes.expand(1, 1, 4, 4).repeat(1, 1, 2, 2)]))
    assert tv[0] == 0.0
    assert tv[1].item() == pytest.approx((8 * 7) / (2 * 8 * 7))  # half the pairs (the horizontal ones) differ by 1
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        metrics.total_variation(torch.zeros(3, 8, 8))
