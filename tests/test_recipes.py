from dataclasses import asdict

import pytest

from aecore import cache, objectives, recipes
from aecore.cache.code_identity import function_identity
from aecore.train import TrainConfig
from aecore.utils import stable_hash

# Hashes of the full-profile recipes at seed 0 (every field, as the cache key sees them: asdict(config)).
# A change here retrains those models for every user: make it on purpose, then update the table.
# (Cache schema 3: the configs hold the optimisation only; Lab 1's denoisers train with lab1_config and
# Lab 3's AE, VAE and CVAE with lab3_config, each with its own objective.)
BOOK_RECIPES = {
    "lab1_config": "94724cab097bf294",
    "digit_classifier_config": "e7a290b30b548d77",
    "lab3_config": "5a6f705978516201",
    "plain_dogs_config": "884a1a1bf4f64803",
    "dogs_config": "496c458ce36774cc",
}

# The code identities (aecore.cache.code_identity.function_identity, the objective's part of the cache key) of the
# recipes' objectives. They change when the code of the objective or of a lesson it calls changes (not its
# comments or docstrings): then the models trained with it are retrained, so change them on purpose too.
BOOK_OBJECTIVES = {
    "denoising_objective": "077efb6d1721702c",
    "dogs_objective": "f0cffca348b1cd87",
}


@pytest.mark.parametrize("name", sorted(BOOK_RECIPES))
def test_full_profile_recipes_keep_the_book_models_cache_keys(name, monkeypatch, tiny_images):
    monkeypatch.setenv("AECORE_PROFILE", "full")
    monkeypatch.delenv("AECORE_SEED", raising=False)
    config = getattr(recipes, name)()
    run = cache.describe_run(recipes.digit_autoencoder(2), tiny_images, None, config,
                             objectives.reconstruction_bce)
    assert run["config"] == asdict(config)  # what the key sees
    assert stable_hash(asdict(config)) == BOOK_RECIPES[name]


@pytest.mark.parametrize("name", sorted(BOOK_OBJECTIVES))
def test_recipe_objectives_keep_the_book_models_cache_keys(name):
    objective = getattr(recipes, name)()
    assert function_identity(objective) == BOOK_OBJECTIVES[name]
    assert cache.loss_description(objective)["identity"] == BOOK_OBJECTIVES[name]


def test_every_recipe_config_and_objective_is_pinned():
    configs = {name for name, value in vars(recipes).items() if name.endswith("_config") and callable(value)}
    objective_recipes = {name for name, value in vars(recipes).items()
                         if name.endswith("_objective") and callable(value)}
    assert configs == set(BOOK_RECIPES) and objective_recipes == set(BOOK_OBJECTIVES)
    assert all(isinstance(getattr(recipes, name)(), TrainConfig) for name in configs)


def test_recipes_follow_the_profile_and_the_seed(monkeypatch):
    monkeypatch.setenv("AECORE_PROFILE", "quick")
    monkeypatch.setenv("AECORE_SEED", "1")
    config = recipes.lab1_config()
    assert (config.epochs, config.batch_size, config.seed) == (3, 64, 1)
    assert recipes.denoising_objective().keywords == {"noise_factor": recipes.DENOISING_NOISE}
    assert recipes.lab3_config().lr == recipes.VAE_LR and recipes.lab3_config().seed == 1
    monkeypatch.setenv("AECORE_PROFILE", "full")
    assert recipes.dogs_config().epochs == 10 and recipes.dogs_config(epochs=5).epochs == 5
    assert recipes.dogs_objective().keywords == {"ssim_weight": recipes.DOGS_SSIM_WEIGHT}


def test_recipe_networks_have_the_labs_shapes():
    assert recipes.digit_autoencoder(32).latent_shape == (32,)
    dogs = recipes.dogs_autoencoder(latent_noise=0.1, latent_channels=4)
    assert dogs.latent_shape == (4, 8, 8) and dogs.hparams["latent_noise"] == 0.1
    assert stable_hash(recipes.digit_autoencoder(2).hparams) == "b52f67df88981238"
    assert stable_hash(recipes.dogs_autoencoder(0.0, architecture=recipes.PLAIN_DOGS_ARCHITECTURE).hparams) \
        == "8aff423c40a1a55a"
    assert stable_hash(recipes.dogs_autoencoder(0.0).hparams) == "7da317acf6ba1ac5"


@pytest.mark.parametrize("settings_class", [recipes.Lab3Settings, recipes.Lab3bSettings, recipes.WaferSettings])
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
