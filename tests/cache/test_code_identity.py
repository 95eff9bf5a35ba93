"""aecore.cache.code_identity: a loss function's fingerprint (part of every model's cache key) follows its code.

The same code written twice, with other comments, docstrings, blank lines or layout, has one identity;
any change that can change what it computes (an operator, a constant, a default, a value it closes
over, a global number it reads, a helper it calls, an aecore function it uses, a partial's keywords)
gives another. Functions written here, in a test module, are followed like a notebook's. The issue's
cases of values and code the key missed are in test_key_covers_what_runs.py.
"""

import importlib
import json
import sys
from functools import partial

import pytest
import torch
from torch.nn import functional as F

import aecore.lessons
from aecore import cache, lessons, objectives
from aecore.cache.code_identity import describe_function, describe_with_libraries, function_identity

SCALE = 2.0
THIS_MODULE = sys.modules[__name__]


# ----------------------------------------------------------------- the same code written twice

def written_twice(model, x, y):
    """The summed BCE, scaled."""
    return lessons.bce_per_image(model(x), x) * SCALE


FIRST_WRITING = written_twice


def written_twice(model, x, y):
    # no docstring this time, but comments,

    # blank lines and another layout
    return lessons.bce_per_image(
        model(x),
        x,
    ) * SCALE   # scaled


SECOND_WRITING = written_twice


def test_the_same_code_written_twice_has_one_identity():
    assert FIRST_WRITING is not SECOND_WRITING
    assert FIRST_WRITING.__code__.co_firstlineno != SECOND_WRITING.__code__.co_firstlineno
    assert function_identity(FIRST_WRITING) == function_identity(SECOND_WRITING)
    assert cache.loss_description(FIRST_WRITING) == cache.loss_description(SECOND_WRITING)
    assert len(function_identity(FIRST_WRITING)) == 16


def keep(fn):
    return fn


def test_decorators_do_not_count():
    def plain():
        def loss(model, x, y):
            return model(x).sum(1)
        return loss

    def decorated():
        @keep
        def loss(model, x, y):
            return model(x).sum(1)
        return loss

    assert describe_function(plain())["code"] == describe_function(decorated())["code"]


# ----------------------------------------------------------------- changes that count
# Each pair below: the same function name and layout, one difference.

def _plus():
    def loss(model, x, y):
        return model(x).flatten(1).sum(1) + 1.0
    return loss


def _minus():
    def loss(model, x, y):
        return model(x).flatten(1).sum(1) - 1.0
    return loss


def _plus_two():
    def loss(model, x, y):
        return model(x).flatten(1).sum(1) + 2.0
    return loss


def _plus_again():
    def loss(model, x, y):
        # a comment
        return model(x).flatten(1).sum(1) + 1.0   # same as _plus
    return loss


def test_an_operator_or_a_constant_changes_the_identity():
    assert function_identity(_plus()) == function_identity(_plus_again())
    assert function_identity(_plus()) != function_identity(_minus())
    assert function_identity(_plus()) != function_identity(_plus_two())


def _with_default(default):
    def loss(model, x, y, weight=default):
        return model(x).flatten(1).sum(1) * weight
    return loss


def _with_keyword_default(default):
    def loss(model, x, y, *, weight=default):
        return model(x).flatten(1).sum(1) * weight
    return loss


def test_a_changed_default_changes_the_identity():
    assert function_identity(_with_default(1.0)) == function_identity(_with_default(1.0))
    assert function_identity(_with_default(1.0)) != function_identity(_with_default(2.0))
    assert function_identity(_with_keyword_default(1.0)) != function_identity(_with_keyword_default(2.0))


def _closing_over(weight):
    def loss(model, x, y):
        return model(x).flatten(1).sum(1) * weight
    return loss


def test_a_changed_closure_value_changes_the_identity():
    assert function_identity(_closing_over(0.5)) == function_identity(_closing_over(0.5))
    assert function_identity(_closing_over(0.5)) != function_identity(_closing_over(0.25))
    assert function_identity(_closing_over((1, 2))) != function_identity(_closing_over((1, 3)))
    assert function_identity(_closing_over("sum")) != function_identity(_closing_over("mean"))


def reads_a_global(model, x, y):
    return model(x).flatten(1).sum(1) * SCALE


def test_a_changed_global_number_changes_the_identity(monkeypatch):
    before = function_identity(reads_a_global)
    assert describe_function(reads_a_global)["globals"]["SCALE"] == 2.0
    monkeypatch.setattr(THIS_MODULE, "SCALE", 3.0)
    assert function_identity(reads_a_global) != before
    monkeypatch.setattr(THIS_MODULE, "SCALE", 2.0)
    assert function_identity(reads_a_global) == before


def helper(logits, x):
    return (torch.sigmoid(logits) - x).pow(2).flatten(1).sum(1)


def calls_a_helper(model, x, y):
    return helper(model(x), x)


def _another_helper():
    def helper(logits, x):
        return (torch.sigmoid(logits) - x).abs().flatten(1).sum(1)  # L1 instead of L2
    return helper


def _the_same_helper():
    def helper(logits, x):
        """Rewritten, same code."""
        return (torch.sigmoid(logits) - x).pow(2).flatten(1).sum(1)
    return helper


def test_a_changed_helper_function_changes_the_identity(monkeypatch):
    before = function_identity(calls_a_helper)
    assert describe_function(calls_a_helper)["globals"]["helper"]["function"] == "helper"
    monkeypatch.setattr(THIS_MODULE, "helper", _another_helper())
    assert function_identity(calls_a_helper) != before
    monkeypatch.setattr(THIS_MODULE, "helper", _the_same_helper())
    assert function_identity(calls_a_helper) == before


def uses_aecore(model, x, y):
    return lessons.bce_per_image(model(x), x)


def test_a_changed_aecore_function_it_uses_changes_the_identity(monkeypatch):
    before = function_identity(uses_aecore)
    described = describe_function(uses_aecore)["globals"]
    assert described["lessons"] == {"module": "aecore.lessons"}
    assert "binary_cross_entropy_with_logits" in described["lessons.bce_per_image"]["code"]["names"]

    def bce_per_image(logits, x):  # the lesson, edited: averaged instead of summed
        return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).mean(1)

    monkeypatch.setattr(aecore.lessons, "bce_per_image", bce_per_image)
    assert function_identity(uses_aecore) != before
    monkeypatch.undo()
    assert function_identity(uses_aecore) == before


def test_an_edited_aecore_helper_changes_the_reference_objectives_too(monkeypatch):
    before = {name: function_identity(getattr(objectives, name)) for name in objectives.__all__}
    monkeypatch.setattr(aecore.lessons, "bce_per_image", lambda logits, x: (logits - x).flatten(1).sum(1))
    after = {name: function_identity(getattr(objectives, name)) for name in objectives.__all__}
    using = {"reconstruction_bce", "denoising_bce", "penalised_bce", "negative_elbo"}
    assert {name for name in before if before[name] != after[name]} == using


def test_partials_with_different_keywords_differ():
    a = partial(objectives.denoising_bce, noise_factor=0.4)
    assert function_identity(a) == function_identity(partial(objectives.denoising_bce, noise_factor=0.4))
    assert function_identity(a) != function_identity(partial(objectives.denoising_bce, noise_factor=0.5))
    assert function_identity(a) != function_identity(objectives.denoising_bce)
    assert function_identity(a) != function_identity(partial(objectives.reconstruction_bce, noise_factor=0.4))
    two = partial(_with_keyword_default(1.0), weight=2.0)
    assert function_identity(two) != function_identity(partial(_with_keyword_default(1.0), weight=3.0))
    assert cache.loss_description(a)["name"] == "denoising_bce"


def test_keyword_order_of_a_partial_does_not_count():
    def loss(model, x, y, *, a, b):
        return model(x).flatten(1).sum(1) * a + b

    assert function_identity(partial(loss, a=1, b=2)) == function_identity(partial(loss, b=2, a=1))


# ----------------------------------------------------------------- library functions enter by name

def test_torch_functions_enter_by_name():
    sigmoid = describe_function(torch.sigmoid)  # a builtin: its module, qualified name and library
    assert set(sigmoid) == {"builtin", "library"} and sigmoid["builtin"].startswith("torch") \
        and sigmoid["builtin"].endswith(".sigmoid") and sigmoid["library"] == "torch"
    assert describe_function(F.binary_cross_entropy_with_logits) == {  # a Python function: not followed
        "external": "torch.nn.functional.binary_cross_entropy_with_logits", "library": "torch"}
    assert describe_function(json.dumps) == {"external": "json.dumps", "library": "json"}  # the standard library
    _, libraries = describe_with_libraries(partial(objectives.mse_ssim, ssim_weight=0.1))
    assert {"torch", "pytorch_msssim"} <= libraries  # their versions go into the key (keys.library_versions)
    versions = cache.keys.library_versions(libraries)
    assert versions["pytorch_msssim"].startswith("pytorch_msssim ") and versions["torch"].startswith("torch ")


bce = F.binary_cross_entropy_with_logits


def calls_torch_through_a_global(model, x, y):
    return bce(model(x), x, reduction="none").flatten(1).sum(1)


def test_a_torch_function_a_loss_uses_is_named_not_read():
    described = describe_function(calls_torch_through_a_global)
    assert described["globals"]["bce"]["external"] == "torch.nn.functional.binary_cross_entropy_with_logits"
    assert "def binary_cross_entropy_with_logits" not in json.dumps(described)


def test_tensors_enter_by_their_contents():
    def closing_over(weights):
        def loss(model, x, y):
            return model(x).flatten(1).sum(1) * weights.sum()
        return loss

    described = describe_function(closing_over(torch.ones(3)))["closure"]["weights"]
    assert described["tensor"] == "torch.float32" and described["shape"] == [3] and len(described["sha256"]) == 64
    assert function_identity(closing_over(torch.ones(3))) == function_identity(closing_over(torch.ones(3)))
    assert function_identity(closing_over(torch.ones(3))) != function_identity(closing_over(torch.full((3,), 2.)))
    assert function_identity(closing_over(torch.ones(3))) != function_identity(closing_over(torch.ones(3).double()))


# ----------------------------------------------------------------- what is followed

def recursive(model, x, y, depth=2):
    return model(x).flatten(1).sum(1) if depth == 0 else recursive(model, x, y, depth - 1)


def test_a_recursive_function_is_described_once():
    described = describe_function(recursive)
    assert described["globals"]["recursive"] == {"same as": "loss"}


def test_a_loss_in_a_module_of_ones_own_is_followed_like_a_notebooks(tmp_path, monkeypatch):
    """A loss imported from a .py file next to the notebook is not a library's: its code counts, so editing
    the file (and reloading it) changes the identity."""
    monkeypatch.syspath_prepend(str(tmp_path))
    source = tmp_path / "my_losses_for_identity.py"
    source.write_text("WEIGHT = 1.0\n\ndef my_loss(model, x, y):\n    return model(x).flatten(1).sum(1) * WEIGHT\n")
    module = importlib.import_module("my_losses_for_identity")
    try:
        before = function_identity(module.my_loss)
        assert describe_function(module.my_loss)["globals"] == {"WEIGHT": 1.0}
        assert describe_function(module.my_loss)["function"] == "my_loss"
        source.write_text("WEIGHT = 1.0\n\ndef my_loss(model, x, y):\n    return model(x).flatten(1).mean(1) * WEIGHT"
                          "  # averaged now\n")
        importlib.reload(module)
        assert function_identity(module.my_loss) != before
    finally:
        sys.modules.pop("my_losses_for_identity", None)


def test_code_without_source_is_identified_by_its_instructions_names_and_constants():
    def define(body):
        namespace = {}
        exec(compile(f"def loss(model, x, y):\n    return {body}\n", "<no source>", "exec"), namespace)
        return namespace["loss"]

    a = define("model(x).flatten(1).sum(1) + (lambda t: t)(1.0)")
    b = define("model(x).flatten(1).sum(1) + (lambda t: t)(1.0)")
    assert function_identity(a) == function_identity(b)  # a nested lambda's address does not count
    assert function_identity(a) != function_identity(define("model(x).flatten(1).mean(1) + (lambda t: t)(1.0)"))
    assert function_identity(a) != function_identity(define("model(x).flatten(1).sum(1) + (lambda t: t)(2.0)"))


@pytest.mark.parametrize("fn", [objectives.reconstruction_bce, partial(objectives.mse_ssim, ssim_weight=0.05)])
def test_identity_is_a_plain_json_description(fn):
    assert json.loads(json.dumps(describe_function(fn))) == describe_function(fn)
