import pytest
import torch
from torch import nn

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
