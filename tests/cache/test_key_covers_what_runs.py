"""Issue 33, "a key that covers what runs": the cases a student's notebook meets, each run through fit_or_load.

Each case trains a tiny model once, then changes something the run depends on, as a notebook cell would (a
value the objective uses, code it calls, the data in place, aecore's model or loop code), and asks again with
the same model name: the second call must train a model of its own, never load the first one's. Before the
fix every case loaded the first model (same key, ``from_cache=True``). The cases that need a fresh process or
a Jupyter kernel are in test_key_fresh_processes.py and test_editable_module_kernels.py.
"""

from __future__ import annotations

import functools
import importlib
import sys
import types
from dataclasses import dataclass
from functools import partial

import numpy as np
import pytest
import torch
from torch import nn

import aecore
import aecore.lessons
from aecore import lessons, models, train
from aecore.cache import code_identity
from aecore.cache.code_identity import UndescribableValueError
from aecore.datasets import LabelledImages
from aecore.train import TrainConfig

CPU = torch.device("cpu")
CONFIG = TrainConfig(epochs=1, batch_size=32)
THIS = sys.modules[__name__]


def small_ae():
    return models.MLPAutoencoder(image_shape=(1, 8, 8), hidden=(16,), latent_dim=2)


def bce(model, x):
    return lessons.bce_per_image(model(x), x)


def fit(loss, data, cache, model=None, **kwargs):
    return train.fit_or_load("case", model or small_ae(), data, None, CONFIG, loss=loss, device=CPU, cache_dir=cache,
                             progress=False, **kwargs)


def assert_second_run_trains_its_own_model(tiny_images, tmp_path, loss_before, change, loss_after=None):
    """The notebook's story: train with ``loss_before``; ``change()`` something; run the cell again (with
    ``loss_after()`` where the cell builds the objective anew). The second run must not load the first model."""
    first = fit(loss_before, tiny_images, tmp_path)
    assert not first.from_cache
    change()
    second = fit(loss_after() if loss_after else loss_before, tiny_images, tmp_path)
    assert not second.from_cache, "the second run loaded the model trained before the change"
    assert len(list(tmp_path.glob("case-*.pt"))) == 2


# ----------------------------------------------------------------- values the objective uses

W = torch.tensor(1.0)
NUMPY_SCALE = np.float32(1.0)


@dataclass
class Settings:
    weight: float = 1.0


SETTINGS = Settings()
NAMESPACE = types.SimpleNamespace(weight=1.0)
KEPT_CLASSES = {0, 1}


class Weights:
    recon = 1.0


CRITERION = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(1.0), reduction="none")


def uses_a_global_tensor(model, x, y):
    return bce(model, x) * W


def uses_a_numpy_scalar(model, x, y):
    return bce(model, x) * float(NUMPY_SCALE)


def uses_a_dataclass(model, x, y):
    return bce(model, x) * SETTINGS.weight


def uses_a_namespace(model, x, y):
    return bce(model, x) * NAMESPACE.weight


def uses_a_set(model, x, y):
    kept = torch.tensor([1.0 if int(label) in KEPT_CLASSES else 0.5 for label in y])
    return bce(model, x) * kept


def uses_a_class_attribute(model, x, y):
    return bce(model, x) * Weights.recon


def uses_a_loss_module(model, x, y):
    return CRITERION(model(x), x).flatten(1).sum(1)


VALUE_CASES = {
    "global tensor W = 1. -> 2.": (uses_a_global_tensor, "W", torch.tensor(2.0)),
    "numpy scalar": (uses_a_numpy_scalar, "NUMPY_SCALE", np.float32(2.0)),
    "dataclass of settings": (uses_a_dataclass, "SETTINGS", Settings(weight=2.0)),
    "SimpleNamespace of settings": (uses_a_namespace, "NAMESPACE", types.SimpleNamespace(weight=2.0)),
    "a set": (uses_a_set, "KEPT_CLASSES", {0, 2}),
    "BCEWithLogitsLoss(pos_weight=...) in a global": (
        uses_a_loss_module, "CRITERION", nn.BCEWithLogitsLoss(pos_weight=torch.tensor(3.0), reduction="none")),
}


@pytest.mark.parametrize("case", sorted(VALUE_CASES))
def test_a_changed_value_the_objective_uses_trains_a_model_of_its_own(case, tiny_images, tmp_path, monkeypatch):
    loss, name, new_value = VALUE_CASES[case]
    assert_second_run_trains_its_own_model(tiny_images, tmp_path, loss,
                                           lambda: monkeypatch.setattr(THIS, name, new_value))


def test_a_changed_class_attribute_trains_a_model_of_its_own(tiny_images, tmp_path, monkeypatch):
    assert_second_run_trains_its_own_model(tiny_images, tmp_path, uses_a_class_attribute,
                                           lambda: monkeypatch.setattr(Weights, "recon", 2.0))


def test_a_set_enters_whatever_its_order():
    a = code_identity.describe_value({"x", "y", "zz", 3})
    b = code_identity.describe_value({3, "zz", "y", "x"})
    assert a == b and code_identity.describe_value({"x", "y"}) != a


# ----------------------------------------------------------------- code the objective calls

class Helpers:
    @staticmethod
    def scale(value):
        return value * 1.0


def calls_a_staticmethod(model, x, y):
    return Helpers.scale(bce(model, x))


@functools.cache
def factor():
    return 1.0


def calls_an_lru_cache_helper(model, x, y):
    return bce(model, x) * factor()


class Scaler:
    def __init__(self, weight):
        self.weight = weight

    def __call__(self, value):
        return value * self.weight


SCALER = Scaler(1.0)


def calls_a_callable_object(model, x, y):
    return SCALER(bce(model, x))


def calls_aecore_lessons_by_its_full_name(model, x, y):
    return aecore.lessons.bce_per_image(model(x), x)


def test_an_edited_staticmethod_helper_trains_a_model_of_its_own(tiny_images, tmp_path, monkeypatch):
    assert_second_run_trains_its_own_model(tiny_images, tmp_path, calls_a_staticmethod, lambda: monkeypatch.setattr(
        Helpers, "scale", staticmethod(lambda value: value * 2.0)))


def test_an_edited_lru_cache_helper_trains_a_model_of_its_own(tiny_images, tmp_path, monkeypatch):
    @functools.cache
    def factor():
        return 2.0

    assert_second_run_trains_its_own_model(tiny_images, tmp_path, calls_an_lru_cache_helper,
                                           lambda: monkeypatch.setattr(THIS, "factor", factor))


def test_a_callable_object_with_other_settings_trains_a_model_of_its_own(tiny_images, tmp_path, monkeypatch):
    assert_second_run_trains_its_own_model(tiny_images, tmp_path, calls_a_callable_object,
                                           lambda: monkeypatch.setattr(THIS, "SCALER", Scaler(2.0)))


def test_an_edited_aecore_helper_reached_as_aecore_lessons_fn_trains_a_model_of_its_own(tiny_images, tmp_path,
                                                                                      monkeypatch):
    def averaged(logits, x):  # the lesson, edited: averaged instead of summed
        return nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).mean(1)

    assert_second_run_trains_its_own_model(tiny_images, tmp_path, calls_aecore_lessons_by_its_full_name,
                                           lambda: monkeypatch.setattr(aecore.lessons, "bce_per_image", averaged))


def test_an_edited_helper_reached_as_pkg_sub_fn_trains_a_model_of_its_own(tiny_images, tmp_path, monkeypatch):
    """A student's package next to the notebook: the loss calls ``mypkg_for_keys.sub.fn``; the file is edited and
    the module reloaded (as a fresh kernel would import it)."""
    code = tmp_path / "code"
    (code / "mypkg_for_keys").mkdir(parents=True)
    (code / "mypkg_for_keys" / "__init__.py").write_text("from . import sub\n")
    sub = code / "mypkg_for_keys" / "sub.py"
    sub.write_text("def fn(logits, x):\n    return (logits - x).pow(2).flatten(1).sum(1)\n")
    (code / "loss_via_pkg.py").write_text("import mypkg_for_keys\n\n\ndef loss(model, x, y):\n"
                                          "    return mypkg_for_keys.sub.fn(model(x), x)\n")
    monkeypatch.syspath_prepend(str(code))
    try:
        module = importlib.import_module("loss_via_pkg")

        def edit():
            sub.write_text("def fn(logits, x):\n    return (logits - x).pow(2).flatten(1).mean(1)\n")
            importlib.reload(sys.modules["mypkg_for_keys.sub"])

        cache = tmp_path / "cache"
        assert_second_run_trains_its_own_model(tiny_images, cache, module.loss, edit)
    finally:
        for name in ("loss_via_pkg", "mypkg_for_keys", "mypkg_for_keys.sub"):
            sys.modules.pop(name, None)


class ModuleObjective(nn.Module):
    def forward(self, model, x, y):
        return bce(model, x)


SUMMING_MODULE = ModuleObjective


class ModuleObjective(nn.Module):  # the notebook cell edited and run again: forward averages now
    def forward(self, model, x, y):
        return lessons.bce_per_image(model(x), x) / x[0].numel()


AVERAGING_MODULE = ModuleObjective


def test_an_nn_module_objective_whose_forward_changed_trains_a_model_of_its_own(tiny_images, tmp_path):
    assert SUMMING_MODULE.__qualname__ == AVERAGING_MODULE.__qualname__
    assert_second_run_trains_its_own_model(tiny_images, tmp_path, SUMMING_MODULE(), lambda: None, AVERAGING_MODULE)


class Objective:
    def __init__(self, weight):
        self.weight = weight

    def loss(self, model, x, y):
        return bce(model, x) * self.weight


def test_bound_methods_of_two_instances_are_two_objectives(tiny_images, tmp_path):
    """A bound method: the instance's settings count (also the issue's "two instances' bound methods, one key")."""
    assert_second_run_trains_its_own_model(tiny_images, tmp_path, Objective(1.0).loss, lambda: None,
                                           lambda: Objective(2.0).loss)


def test_a_newer_torch_trains_a_model_of_its_own(tiny_images, tmp_path, monkeypatch):
    """A library function that changes with an upgrade: the torch version is part of the key."""
    def upgrade():
        monkeypatch.setattr(torch, "__version__", "99.0.0")
        code_identity.library_version.cache_clear()

    try:
        assert_second_run_trains_its_own_model(tiny_images, tmp_path, uses_a_global_tensor, upgrade)
    finally:
        monkeypatch.undo()
        code_identity.library_version.cache_clear()


# ----------------------------------------------------------------- two different objectives, one key

def weighted(model, x, y, *, w):
    return bce(model, x) * w


def test_partials_binding_different_tensors_are_two_objectives(tiny_images, tmp_path):
    assert_second_run_trains_its_own_model(tiny_images, tmp_path, partial(weighted, w=torch.tensor(1.0)), lambda: None,
                                           lambda: partial(weighted, w=torch.tensor(5.0)))


class BufferObjective(nn.Module):
    def __init__(self, weight):
        super().__init__()
        self.register_buffer("weight", torch.tensor(weight))

    def forward(self, model, x, y):
        return bce(model, x) * self.weight


def test_nn_module_objectives_with_different_buffers_are_two_objectives(tiny_images, tmp_path):
    assert_second_run_trains_its_own_model(tiny_images, tmp_path, BufferObjective(1.0), lambda: None,
                                           lambda: BufferObjective(3.0))


# ----------------------------------------------------------------- data changed in place

def reconstruction(model, x, y):
    return bce(model, x)


@pytest.mark.parametrize("change", ["images.mul_(0.5)", "labels.fill_(3)"])
def test_data_changed_in_place_trains_a_model_of_its_own(change, tmp_path):
    gen = torch.Generator().manual_seed(0)
    data = LabelledImages(torch.rand(64, 1, 8, 8, generator=gen), torch.arange(64) % 4, ["a", "b", "c", "d"])
    namespace = {"images": data.images, "labels": data.labels}
    assert_second_run_trains_its_own_model(data, tmp_path, reconstruction, lambda: eval(change, namespace))


# ----------------------------------------------------------------- aecore's model and training-loop code edited

def test_a_relu_turned_into_a_tanh_in_aecore_models_trains_a_model_of_its_own(tiny_images, tmp_path, monkeypatch):
    def tanh_mlp(sizes, final_activation=False):
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2 or final_activation:
                layers.append(nn.Tanh())
        return nn.Sequential(*layers)

    assert_second_run_trains_its_own_model(tiny_images, tmp_path, reconstruction,
                                           lambda: monkeypatch.setattr(models, "_mlp", tanh_mlp))


def test_adam_turned_into_sgd_in_the_training_loop_trains_a_model_of_its_own(tiny_images, tmp_path, monkeypatch):
    def sgd(model, config, device):
        return torch.optim.SGD(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)

    assert_second_run_trains_its_own_model(tiny_images, tmp_path, reconstruction,
                                           lambda: monkeypatch.setattr(train, "adam", sgd))


def test_the_key_holds_the_library_versions_and_the_code_fingerprints(tiny_images):
    run = aecore.cache.describe_run(small_ae(), tiny_images, None, CONFIG, reconstruction)
    assert run["versions"]["torch"] == f"torch {torch.__version__.split('+')[0]}"
    assert run["versions"]["numpy"] == f"numpy {np.__version__}"
    assert run["versions"]["python"] == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert set(run["code"]) == {"model", "architecture", "loop"}


# ----------------------------------------------------------------- what cannot be described is named, not guessed

GENERATOR = torch.Generator().manual_seed(0)


def draws_from_a_global_generator(model, x, y):
    return bce(model, x) + torch.rand(len(x), generator=GENERATOR)


def test_a_value_that_cannot_be_described_stops_with_its_path_and_the_fix(tiny_images, tmp_path):
    with pytest.raises(UndescribableValueError) as raised:
        fit(draws_from_a_global_generator, tiny_images, tmp_path)
    message = str(raised.value)
    assert "loss -> globals -> GENERATOR" in message and "torch" in message and "Generator" in message
    assert 'cache_token="' in message
    assert not list(tmp_path.glob("*.pt"))


def test_a_cache_token_names_what_cannot_be_described(tiny_images, tmp_path):
    """With a token the run is keyed by it; the generator's draws, which the key cannot see, differ at the next
    call, and the load check notices."""
    key = train.cache_key(small_ae(), tiny_images, None, CONFIG, draws_from_a_global_generator, "seeded 0")
    assert key != train.cache_key(small_ae(), tiny_images, None, CONFIG, draws_from_a_global_generator, "seeded 1")
    first = fit(draws_from_a_global_generator, tiny_images, tmp_path, cache_token="seeded 0")
    assert not first.from_cache and (tmp_path / f"case-{key}.pt").is_file()
    with pytest.warns(UserWarning, match="is not loaded: it does not fit this run"):
        again = fit(draws_from_a_global_generator, tiny_images, tmp_path, cache_token="seeded 0")
    assert not again.from_cache
    with pytest.raises(ValueError, match="cache_token"):
        fit(reconstruction, tiny_images, tmp_path, cache_token="")


def test_a_cycle_and_shared_values_are_described_once():
    a: dict = {"weight": 1.0}
    a["self"] = a
    described = code_identity.describe_value(a, root="settings")
    assert described["dict"]["self"] == {"same as": "settings"}
    deep: list = []
    for _ in range(code_identity.MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(UndescribableValueError, match=r"nested more than \d+ levels"):
        code_identity.describe_value(deep)
