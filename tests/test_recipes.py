import pytest

from aecore import recipes
from aecore.cache import config_as_keyed
from aecore.utils import stable_hash

# Hashes of the full-profile recipes at seed 0 (every field, as the cache key sees them).
# A change here retrains those models for every user: make it on purpose, then update the table.
BOOK_RECIPES = {
    "lab1_config": "c53fa49ddfecb279",
    "denoising_config": "11933f084a758de0",
    "digit_classifier_config": "78528e528400ed55",
    "lab3_bce_config": "8c41232f95c00f24",
    "lab3_elbo_config": "5f8db1071ba1b510",
    "plain_dogs_config": "393a52058cb88211",
    "dogs_config": "d3adea807ad3bd26",
}


@pytest.mark.parametrize("name", sorted(BOOK_RECIPES))
def test_full_profile_recipes_keep_the_book_models_cache_keys(name, monkeypatch):
    monkeypatch.setenv("AECORE_PROFILE", "full")
    monkeypatch.delenv("AECORE_SEED", raising=False)
    assert stable_hash(config_as_keyed(getattr(recipes, name)())) == BOOK_RECIPES[name]


def test_recipes_follow_the_profile_and_the_seed(monkeypatch):
    monkeypatch.setenv("AECORE_PROFILE", "quick")
    monkeypatch.setenv("AECORE_SEED", "1")
    config = recipes.lab1_config()
    assert (config.epochs, config.batch_size, config.seed) == (3, 64, 1)
    assert recipes.denoising_config().input_noise == recipes.DENOISING_NOISE
    assert recipes.lab3_elbo_config().loss == "elbo" and recipes.lab3_elbo_config().lr == recipes.VAE_LR
    monkeypatch.setenv("AECORE_PROFILE", "full")
    assert recipes.dogs_config().epochs == 10 and recipes.dogs_config(epochs=5).epochs == 5


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
