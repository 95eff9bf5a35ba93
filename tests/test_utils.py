import pytest
import torch
from torch import nn

from aecore import utils
from aecore.utils import eval_mode


def test_eval_mode_switches_every_submodule_and_restores_the_previous_mode():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5)).train()
    with eval_mode(model) as inside:
        assert inside is model and not any(m.training for m in model.modules())
    assert all(m.training for m in model.modules())
    model.eval()
    with eval_mode(model):
        pass
    assert not model.training  # a model in eval mode stays there


def test_eval_mode_restores_training_mode_after_an_error():
    model = nn.Dropout(0.5).train()
    with pytest.raises(RuntimeError, match="boom"):
        with eval_mode(model):
            assert torch.equal(model(torch.ones(4)), torch.ones(4))  # dropout is off in eval mode
            raise RuntimeError("boom")
    assert model.training


def test_apply_in_batches_runs_image_batches_channels_last_and_returns_them_contiguous():
    seen = []

    def fn(x, y):
        seen.append(x.is_contiguous(memory_format=torch.channels_last))
        return x * 2, y + 1

    images, labels = torch.rand(5, 3, 4, 4), torch.arange(5)
    doubled, shifted = utils.apply_in_batches(fn, images, labels, device=torch.device("cpu"), batch_size=2)
    assert seen == [True, True, True]  # batches of 2, 2 and 1
    assert doubled.is_contiguous() and torch.equal(doubled, images * 2) and torch.equal(shifted, labels + 1)


def test_apply_in_batches_runs_without_autograd():
    layer = nn.Linear(3, 2)
    out = utils.apply_in_batches(layer, torch.rand(4, 3), device=torch.device("cpu"), batch_size=3)
    assert not out.requires_grad


def test_convolutional_networks_are_applied_in_small_batches_on_the_cpu():
    from aecore import latent, models

    conv = models.ConvAutoencoder(image_size=16, in_channels=1, channels=(4, 8), latent_channels=2, blocks=0)
    mlp = models.MLPAutoencoder(image_shape=(1, 16, 16), hidden=(8,), latent_dim=2)
    assert utils.inference_batch_size(conv) == utils.CPU_CONV_BATCH < utils.INFERENCE_BATCH
    assert utils.inference_batch_size(mlp) == utils.INFERENCE_BATCH
    # ... and the batch size does not change what comes out
    torch.manual_seed(0)
    images = torch.rand(2 * utils.CPU_CONV_BATCH + 5, 1, 16, 16)
    for model in (conv, mlp):
        model.eval()
        codes = latent.encode_dataset(model, images)
        torch.testing.assert_close(codes, latent.encode_dataset(model, images, batch_size=len(images)))
        torch.testing.assert_close(latent.decode_codes(model, codes),
                                   latent.decode_codes(model, codes, batch_size=len(codes)))


def test_apply_model_runs_in_eval_mode_on_the_models_device_and_restores_its_mode():
    seen = []
    model = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1))
    model.train()

    def fn(x):
        seen.append((model.training, len(x)))
        return model(x)

    out = utils.apply_model(model, fn, torch.rand(utils.CPU_CONV_BATCH + 1, 1, 4, 4))
    assert out.shape == (utils.CPU_CONV_BATCH + 1, 1, 4, 4)
    assert seen == [(False, utils.CPU_CONV_BATCH), (False, 1)]  # eval mode, the default batch size
    assert model.training
