"""The pins of a lab module, for a lab whose tests are its own file ``tests/labs/test_<module>.py`` (Labs 1-4 keep
theirs in test_lab_modules.py): ``check_pins(module, configs={...}, objectives={...}, networks={...})``."""

from __future__ import annotations

from dataclasses import asdict
from types import ModuleType

import pytest

from aecore.cache.code_identity import function_identity
from aecore.train import TrainConfig
from aecore.utils import stable_hash


@pytest.fixture
def check_pins(monkeypatch):
    """A function that checks, in the full profile at seed 0, that the lab ``module``'s training configs (its
    ``*_config`` functions, called without arguments) hash to ``configs`` (name -> stable_hash of asdict(config),
    what the cache key sees), its objectives (``objective`` and ``*_objective``) have the code identities
    ``objectives``, and the networks ``networks`` (name of a function of the module -> stable_hash of the built
    network's hparams); every config and objective of the module must be pinned. A pin that changes retrains the
    models built with it: change it on purpose."""
    def check(module: ModuleType, configs: dict[str, str], objectives: dict[str, str] | None = None,
              networks: dict[str, str] | None = None) -> None:
        monkeypatch.setenv("AECORE_PROFILE", "full")
        monkeypatch.delenv("AECORE_SEED", raising=False)
        objectives, networks = objectives or {}, networks or {}
        found_configs = {name for name, value in vars(module).items() if name.endswith("_config") and callable(value)}
        found_objectives = {name for name, value in vars(module).items()
                            if (name.endswith("_objective") or name == "objective") and callable(value)}
        assert found_configs == set(configs), f"{module.__name__}: pin every training config (and only those)"
        assert found_objectives == set(objectives), f"{module.__name__}: pin every objective (and only those)"
        for name, pin in configs.items():
            config = getattr(module, name)()
            assert isinstance(config, TrainConfig) and stable_hash(asdict(config)) == pin, f"{module.__name__}.{name}"
        for name, pin in objectives.items():
            assert function_identity(getattr(module, name)()) == pin, f"{module.__name__}.{name}"
        for name, pin in networks.items():
            assert stable_hash(getattr(module, name)().hparams) == pin, f"{module.__name__}.{name}"
    return check
