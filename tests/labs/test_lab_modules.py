"""aecore.labs' lab modules: their settings, training configs, objectives, networks and cache names, pinned
where the model cache keys see them."""

from dataclasses import asdict

import pytest

from aecore import cache, labs, objectives
from aecore.cache.code_identity import function_identity
from aecore.config import REPO_ROOT
from aecore.labs import common, lab1, lab2, lab3, lab3b, lab4
from aecore.train import TrainConfig
from aecore.utils import stable_hash

LAB_MODULES = {"common": common, "lab1": lab1, "lab2": lab2, "lab3": lab3, "lab3b": lab3b, "lab4": lab4}

# Hashes of the full-profile training configs at seed 0 (every field, as the cache key sees them: asdict(config)).
# A change here retrains those models for every user: make it on purpose, then update the table.
# (Cache schema 3: the configs hold the optimisation only; Lab 1's denoisers train with lab1.train_config and
# Lab 3's AE, VAE and CVAE with lab3.train_config, each with its own objective.) The first five are the pins of
# the former aecore.recipes (digit_classifier_config, lab1_config, plain_dogs_config, dogs_config, lab3_config);
# the others are the configs the notebooks of Labs 3, 3b and 4 built in their own cells before.
BOOK_RECIPES = {
    "common.classifier_config": "e7a290b30b548d77",
    "lab1.train_config": "94724cab097bf294",
    "lab2.plain_config": "884a1a1bf4f64803",
    "lab2.train_config": "496c458ce36774cc",
    "lab3.train_config": "5a6f705978516201",
    "lab3.side_config": "649d42a07494bc45",
    "lab3.vae2_config": "c751391c81f4d7c0",
    "lab3.sweep_config": "ee8a6262dacb8f8d",
    "lab3b.train_config": "a7b84b99de7574fe",
    "lab4.train_config": "1c21cb5cd057a78a",
    # issue 35: 6 epochs, lr 2e-3 along a cosine, at each of 6 seeds (was b20f721ece365d59, before it f824ff161485a44c)
    "lab4.classifier_config": "5b51ff540461095e",
}
# Configs that take an argument: pinned at these values.
CONFIG_ARGS = {"lab3.sweep_config": (3e-3,), "lab4.classifier_config": (0,)}

# The code identities (aecore.cache.code_identity.function_identity, the objective's part of the cache key) of the
# lab modules' objectives. They change when the code of the objective or of a lesson it calls changes (not its
# comments or docstrings): then the models trained with it are retrained, so change them on purpose too.
# Issue 33: read from the objects in memory (their bytecode, so on Python 3.11), no longer from the source files.
BOOK_OBJECTIVES = {
    "lab1.denoising_objective": "9c001f0b757d006f",
    "lab2.objective": "2bdb4157663e4000",  # objectives.mse_ssim calls lessons.mse_ssim_per_image (issue 34)
}


def _get(name):
    module, attribute = name.split(".")
    return getattr(LAB_MODULES[module], attribute)


@pytest.mark.parametrize("name", sorted(BOOK_RECIPES))
def test_full_profile_recipes_keep_the_book_models_cache_keys(name, monkeypatch, tiny_images):
    monkeypatch.setenv("AECORE_PROFILE", "full")
    monkeypatch.delenv("AECORE_SEED", raising=False)
    config = _get(name)(*CONFIG_ARGS.get(name, ()))
    run = cache.describe_run(lab1.autoencoder(2), tiny_images, None, config, objectives.reconstruction_bce)
    assert run["config"] == asdict(config)  # what the key sees
    assert stable_hash(asdict(config)) == BOOK_RECIPES[name]


@pytest.mark.parametrize("name", sorted(BOOK_OBJECTIVES))
def test_recipe_objectives_keep_the_book_models_cache_keys(name):
    objective = _get(name)()
    assert function_identity(objective) == BOOK_OBJECTIVES[name]
    assert cache.loss_description(objective)["identity"] == BOOK_OBJECTIVES[name]


def test_every_recipe_config_and_objective_is_pinned():
    configs = {f"{module_name}.{name}" for module_name, module in LAB_MODULES.items()
               for name, value in vars(module).items() if name.endswith("_config") and callable(value)}
    objective_recipes = {f"{module_name}.{name}" for module_name, module in LAB_MODULES.items()
                         for name, value in vars(module).items()
                         if (name.endswith("_objective") or name == "objective") and callable(value)}
    assert configs == set(BOOK_RECIPES) and objective_recipes == set(BOOK_OBJECTIVES)
    assert all(isinstance(_get(name)(*CONFIG_ARGS.get(name, ())), TrainConfig) for name in configs)


def test_every_lab_module_is_pinned():
    """Labs 1-4 are pinned above; a lab added since pins its configs, objectives and networks in its own
    tests/labs/test_<module>.py with the check_pins fixture (tests/labs/conftest.py)."""
    for entry in labs.LABS:
        if entry.module_name is None or entry.module_name in LAB_MODULES:
            continue
        own = REPO_ROOT / "tests" / "labs" / f"test_{entry.module_name}.py"
        assert own.is_file() and "check_pins(" in own.read_text(), \
            f"aecore/labs/{entry.module_name}.py is not pinned: write tests/labs/test_{entry.module_name}.py " \
            "with check_pins (CONTRIBUTING.md, 'Add a lab')"


def test_recipes_follow_the_profile_and_the_seed(monkeypatch):
    monkeypatch.setenv("AECORE_PROFILE", "quick")
    monkeypatch.setenv("AECORE_SEED", "1")
    config = lab1.train_config()
    assert (config.epochs, config.batch_size, config.seed) == (3, 64, 1)
    assert lab1.denoising_objective().keywords == {"noise_factor": lab1.DENOISING_NOISE}
    assert lab3.train_config().lr == lab3.CHOSEN_LR and lab3.train_config().seed == 1
    assert lab3.train_config().epochs == 2 and lab3b.train_config().epochs == 1
    monkeypatch.setenv("AECORE_PROFILE", "full")
    assert lab2.train_config().epochs == 10 and lab2.train_config(epochs=5).epochs == 5
    assert lab2.objective().keywords == {"ssim_weight": lab2.SSIM_WEIGHT}
    assert lab3.train_config().epochs == 12 and lab3b.train_config().epochs == 5
    assert lab3b.train_config() == lab2.plain_config(epochs=5), "Lab 3b trains with Lab 2's first recipe"


def test_recipe_networks_have_the_labs_shapes():
    assert lab1.autoencoder(32).latent_shape == (32,)
    dogs = lab2.autoencoder(latent_noise=0.1, latent_channels=4)
    assert dogs.latent_shape == (4, 8, 8) and dogs.hparams["latent_noise"] == 0.1
    assert stable_hash(lab1.autoencoder(2).hparams) == "b52f67df88981238"
    assert stable_hash(lab2.autoencoder(0.0, architecture=lab2.PLAIN_ARCHITECTURE).hparams) == "8aff423c40a1a55a"
    assert stable_hash(lab2.autoencoder(0.0).hparams) == "7da317acf6ba1ac5"
    # the networks the notebooks of Labs 3, 3b and 4 built in their own cells before
    assert stable_hash(lab3b.autoencoder(16).hparams) == "8aff423c40a1a55a"
    assert {name: stable_hash(model.hparams) for name, model in [
        ("lab3.autoencoder", lab3.autoencoder()), ("lab3.vae", lab3.vae()), ("lab3.cvae", lab3.cvae()),
        ("lab3.side_vae", lab3.side_vae()), ("lab3b.vae", lab3b.vae(16)), ("lab4.autoencoder", lab4.autoencoder()),
        ("lab4.map_classifier", lab4.map_classifier(9))]} == {
        "lab3.autoencoder": "66e94e3c66f3dcd3", "lab3.vae": "dd4c77b4027bb578", "lab3.cvae": "2b08903bec63758f",
        "lab3.side_vae": "7f8f2efce25f74e9", "lab3b.vae": "3258b004a54bc085", "lab4.autoencoder": "27dd7ba4d1964f6b",
        "lab4.map_classifier": "96ff0e7751ab6c07"}


def test_cache_names_are_the_books():
    """The names of the models' cache files (part of the file name, so a change orphans the cached models)."""
    assert [lab1.ae_run(2), lab1.ae_run(128), lab1.dae_run(2), lab1.dae_run(32), lab1.MSE_RUN] == [
        "mnist-ae-2d", "mnist-ae-128d", "mnist-dae-2d", "mnist-dae-32d", "mnist-ae-2d-mse"]
    assert [lab1.l2_run(kind, s) for kind in ("weight_decay", "l2_penalty") for s in (1e-3, 1e-2)] == [
        "mnist-ae-2d-weight_decay0.001", "mnist-ae-2d-weight_decay0.01", "mnist-ae-2d-l2_penalty0.001",
        "mnist-ae-2d-l2_penalty0.01"]
    assert common.CLASSIFIER_RUN == "mnist-classifier"
    assert [lab2.noise_run(v) for v in (0.0, 0.05, 0.1, 0.15)] == [
        "dogs-cae-noise0", "dogs-cae-noise0.05", "dogs-cae-noise0.1", "dogs-cae-noise0.15"]
    assert [lab3.side_run("sum"), lab3.side_run("mean"), lab3.VAE2_RUN] == [
        "mnist-vae-10d-sum", "mnist-vae-10d-mean", "mnist-vae-2d"]
    assert [lab3.main_run("ae"), lab3.main_run("vae"), lab3.main_run("vae", latent_dim=20), lab3.main_run("cvae")] == [
        "mnist-ae-10d-h512", "mnist-vae-10d-h512", "mnist-vae-20d-h512", "mnist-cvae-10d-h512"]
    assert lab3.sweep_run("CVAE", 256, 3e-4) == "mnist-sweep-cvae-h256-lr0.0003"
    assert [lab3b.run_name(kind, c) for kind in ("AE", "VAE") for c in (4, 64)] == [
        "dogs-ae-c4", "dogs-ae-c64", "dogs-vae-c4", "dogs-vae-c64"]
    assert (lab4.AE_RUN, lab4.classifier_run(0), lab4.augmented_classifier_run(3)) == (
        "wafer-ae", "wafer-classifier-s0", "wafer-classifier-augmented-s3")


def test_lab4_trains_its_classifiers_over_seeds_that_other_global_seeds_do_not_share(monkeypatch):
    monkeypatch.setenv("AECORE_PROFILE", "full")
    monkeypatch.setenv("AECORE_SEED", "0")
    seeds = lab4.classifier_seeds()
    assert seeds == list(range(lab4.FULL.classifier_seeds)) and len(seeds) >= 5
    assert [lab4.classifier_config(s).seed for s in seeds] == seeds
    assert len({lab4.classifier_run(s) for s in seeds}) == len(seeds), "one cache file per seed"
    monkeypatch.setenv("AECORE_SEED", "7")
    assert not set(lab4.classifier_seeds()) & set(seeds)
    monkeypatch.setenv("AECORE_PROFILE", "quick")
    assert len(lab4.classifier_seeds()) == lab4.QUICK.classifier_seeds >= 2


def test_lab4_holds_out_enough_synthetic_maps_and_keeps_the_training_imbalance():
    from aecore.datasets.wafer import SYNTHETIC_COUNTS

    assert lab4.FULL.held_out_per_class >= 300 and lab4.QUICK.held_out_per_class < lab4.FULL.held_out_per_class
    assert lab4.HELD_OUT_SEED != 0, "the held-out maps are drawn apart from the training maps (seed 0)"
    for settings in (lab4.FULL, lab4.QUICK):
        assert settings.counts["Near-full"] == min(settings.counts.values())
        assert max(settings.counts, key=settings.counts.get) == max(SYNTHETIC_COUNTS, key=SYNTHETIC_COUNTS.get)
    rare = [name for name, n in lab4.FULL.counts.items() if n < lab4.FULL.target]
    assert sorted(rare) == ["Donut", "Near-full", "Random", "Scratch"]


@pytest.mark.parametrize("settings_class", [lab.module.Settings for lab in labs.LABS if lab.module is not None])
def test_lab_settings_are_frozen_documented_and_chosen_by_profile(settings_class, monkeypatch):
    import dataclasses

    from aecore import choose

    fields = dataclasses.fields(settings_class)
    quick = settings_class(**{f.name: 1 for f in fields})
    full = settings_class(**{f.name: 2 for f in fields})
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(quick, fields[0].name, 3)
    monkeypatch.setenv("AECORE_PROFILE", "quick")
    assert choose(quick=quick, full=full) is quick
    monkeypatch.setenv("AECORE_PROFILE", "full")
    assert choose(quick=quick, full=full) is full
    with pytest.raises(TypeError, match="settings class"):
        choose(quick=quick, full=dataclasses.asdict(full))
    source = __import__("inspect").getsource(settings_class)
    assert all(f'{f.name}:' in source and f'{f.name}: ' in source for f in fields)
    assert source.count('"""') >= 2 * (len(fields) + 1), "a docstring per field"


@pytest.mark.parametrize("entry", [lab for lab in labs.LABS if lab.module is not None], ids=lambda lab: lab.stem)
def test_every_lab_module_follows_one_scheme(entry, monkeypatch):
    module = entry.module
    assert isinstance(module.QUICK, module.Settings) and isinstance(module.FULL, module.Settings)
    assert module.QUICK != module.FULL
    monkeypatch.setenv("AECORE_PROFILE", "quick")
    assert module.settings() is module.QUICK
    monkeypatch.setenv("AECORE_PROFILE", "full")
    assert module.settings() is module.FULL
    assert isinstance(module.train_config(), TrainConfig)
    assert isinstance(module.TARGETS, dict)
    assert all(key.startswith(f"lab{entry.number}_") and comparison in ("<=", ">=")
               for key, (_, comparison, _, _) in module.TARGETS.items())
