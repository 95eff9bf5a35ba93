"""Every helper that takes a model and tensors sends the tensors to the model's device.

A CPU-only machine cannot run CUDA or MPS, so the model here *reports* another device:
:class:`ReportsMetaDevice` wraps a CPU model, keeps its first parameter on torch's ``meta``
device (so ``module_device`` sees ``meta``) and, like a GPU model, refuses inputs that are
not on that device. A helper that forgets to move its inputs fails exactly as on a GPU.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from aecore import classifier, latent, lessons, models, objectives, train
from aecore.datasets import LabelledImages


class ReportsMetaDevice(nn.Module):
    """A CPU model that claims to live on the ``meta`` device and accepts only ``meta`` inputs.

    Meta tensors hold no values, so the wrapped model runs on zeros of the same shape. Its
    outputs are CPU tensors marked as living on the model's device, so that a helper may feed
    them straight back (as ``reconstruct`` feeds ``mu`` to the decoder) and still copy them
    to the CPU at the end.
    """

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.anchor = nn.Parameter(torch.empty(0, device="meta"))  # first parameter: the reported device
        self.inner = inner
        self.latent_shape = getattr(inner, "latent_shape", None)

    @staticmethod
    def _on_cpu(*tensors: torch.Tensor | None) -> list[torch.Tensor | None]:
        for t in tensors:
            if t is not None and t.device.type != "meta" and not getattr(t, "on_model_device", False):
                raise RuntimeError(f"Expected all tensors to be on the same device, but found meta and {t.device}")
        return [None if t is None else torch.zeros(t.shape, dtype=t.dtype) for t in tensors]

    @staticmethod
    def _mark(out):
        for t in out if isinstance(out, tuple) else (out,):
            t.on_model_device = True
        return out

    def encode(self, x, y=None):
        x, y = self._on_cpu(x, y)
        return self._mark(self.inner.encode(x, y))

    def code(self, x, y=None):
        x, y = self._on_cpu(x, y)
        return self._mark(self.inner.code(x, y))

    def decode(self, z, y=None):
        z, y = self._on_cpu(z, y)
        return self._mark(self.inner.decode(z, y))

    def reconstruction_logits(self, x, y=None):
        return self.decode(self.code(x, y), y)

    def forward(self, x, *y):
        x, *y = self._on_cpu(x, *y)
        return self._mark(self.inner(x, *y))


class ReportsMetaDeviceVAE(ReportsMetaDevice, models.VariationalAutoencoder):
    """:class:`ReportsMetaDevice` for a VAE: the posterior helpers accept it as one."""


def reports_meta_device(inner: nn.Module) -> ReportsMetaDevice:
    """Wrap ``inner`` in the matching :class:`ReportsMetaDevice` class."""
    return (ReportsMetaDeviceVAE if isinstance(inner, models.VariationalAutoencoder) else ReportsMetaDevice)(inner)


def small_ae():
    return models.MLPAutoencoder(image_shape=(1, 8, 8), hidden=(16,), latent_dim=2)


def small_vae(num_classes=0):
    if num_classes:
        return models.ConditionalVAE(image_shape=(1, 8, 8), hidden=(16,), latent_dim=3, num_classes=num_classes)
    return models.VAE(image_shape=(1, 8, 8), hidden=(16,), latent_dim=3)


X = torch.rand(6, 1, 8, 8)
Y = torch.tensor([0, 1, 2, 0, 1, 2])


def test_the_wrapper_makes_a_forgotten_move_visible():
    model = reports_meta_device(small_ae())
    with pytest.raises(RuntimeError, match="same device"):
        model.encode(X)
    assert model.encode(X.to("meta")).shape == (6, 2)


def test_encode_decode_and_reconstruct_move_inputs_to_the_model():
    model = reports_meta_device(small_ae())
    codes = latent.encode_dataset(model, X)
    assert codes.shape == (6, 2) and codes.device.type == "cpu"
    assert latent.decode_codes(model, codes).shape == X.shape
    assert models.reconstruct(model, X).shape == X.shape
    assert latent.round_trip_error(model, codes).shape == (6,)
    generated, source = latent.generate_near(model, X, 4, 0.5, torch.Generator().manual_seed(0))
    assert generated.shape == (4, 1, 8, 8) and source.shape == (4,)


def test_vae_posterior_helpers_move_inputs_and_labels_to_the_model():
    vae = reports_meta_device(small_vae())
    mu, logvar = latent.encode_posterior(vae, X)
    assert mu.shape == logvar.shape == (6, 3) and mu.device.type == "cpu"
    assert latent.kl_per_dimension(vae, X).shape == (3,)
    assert 0 <= latent.active_dimensions(vae, X) <= 3
    cvae = reports_meta_device(small_vae(num_classes=3))
    assert latent.encode_dataset(cvae, X, Y).shape == (6, 3)
    assert latent.active_dimensions(cvae, X, Y) <= 3
    images, asked = latent.decode_per_class(cvae, torch.zeros(2, 3), num_classes=3)
    assert images.shape == (6, 1, 8, 8) and asked.tolist() == [0, 0, 1, 1, 2, 2]
    assert models.reconstruct(cvae, X, Y).shape == X.shape


def test_classifier_helpers_move_inputs_to_the_model():
    model = reports_meta_device(classifier.ImageClassifier(num_classes=3, width=4, image_size=8))
    assert classifier.predict_proba(model, X).shape == (6, 3)
    assert 0.0 <= classifier.accuracy(model, X, Y) <= 1.0


def test_evaluate_runs_where_the_model_is_not_where_pick_device_points(monkeypatch):
    model = small_ae()  # on the CPU, while the machine's preferred device is another one
    monkeypatch.setattr(train, "pick_device", lambda: torch.device("meta"))
    data = LabelledImages(X, Y, ["a", "b", "c"])
    assert train.evaluate(model, data, objectives.reconstruction_bce)["loss"] > 0


def test_latent_noise_comes_from_a_cpu_generator_whose_stream_it_follows():
    """latent.perturb runs Lab 2's perturb_codes (torch's global CPU generator) on the given generator's
    stream: the same seed gives the same noise as perturb_codes after torch.manual_seed, the generator moves
    on, and torch's global generator is left as it was."""
    codes = torch.rand(4, 3)
    generator = torch.Generator().manual_seed(0)
    before = torch.get_rng_state()
    first, second = latent.perturb(codes, 0.5, generator), latent.perturb(codes, 0.5, generator)
    assert torch.equal(torch.get_rng_state(), before)
    torch.manual_seed(0)
    assert torch.equal(first, lessons.perturb_codes(codes, 0.5))
    assert torch.equal(second, lessons.perturb_codes(codes, 0.5))
    assert not torch.equal(first, second)


def test_code_statistics_work_in_float64_on_the_cpu_whatever_the_codes_dtype():
    codes = torch.rand(10, 4, dtype=torch.float16)
    mean, covariance = latent.code_statistics(codes)
    assert mean.dtype == covariance.dtype == torch.float64 and mean.device.type == "cpu"
