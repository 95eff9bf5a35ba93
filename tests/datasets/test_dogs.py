"""The Stanford Dogs loader (aecore.datasets.dogs): square photos, their cache, the photo budget and
the origin that identifies a dog set in the model cache."""

import pytest
import torch

from aecore.datasets import dogs
from aecore.datasets.images import DataNotFoundError


def test_dogs_are_square_rgb_in_unit_range(fake_dogs):
    everything = dogs.load_dogs("all", size=32)
    assert everything.images.shape == (10, 3, 32, 32)
    assert 0.0 <= float(everything.images.min()) and float(everything.images.max()) <= 1.0
    assert list(everything.classes) == ["Chihuahua", "Japanese spaniel", "Shih-Tzu"]
    assert everything.class_counts() == {"Chihuahua": 4, "Japanese spaniel": 3, "Shih-Tzu": 3}


def test_dogs_centre_crop_keeps_the_middle(dirs):
    from tests.conftest import write_photo

    folder = dirs[0] / "stanford_dogs" / "Images" / "n0-Test"
    # 200x100: red centre square 100x100, blue bands 50 px wide on both sides.
    write_photo(folder / "wide.jpg", (200, 100), colour=(255, 0, 0), border=(0, 0, 255), border_width=50)
    img = dogs.load_dogs("all", size=16).images[0]
    red, blue = img[0].mean().item(), img[2].mean().item()
    assert red > 0.9 and blue < 0.1


def test_dogs_split_is_seeded_disjoint_and_complete(fake_dogs):
    train = dogs.load_dogs("train", size=16, test_fraction=0.3)
    test = dogs.load_dogs("test", size=16, test_fraction=0.3)
    assert len(train) == 7 and len(test) == 3
    everything = dogs.load_dogs("all", size=16)
    def rows(d):
        return {tuple(x.mean(dim=(1, 2)).round(decimals=3).tolist()) for x in d.images}

    assert len(rows(everything)) == 10  # every photo distinguishable
    assert rows(train) | rows(test) == rows(everything) and not rows(train) & rows(test)
    again = dogs.load_dogs("test", size=16, test_fraction=0.3)
    assert torch.equal(again.images, test.images)
    other_seed = dogs.load_dogs("test", size=16, test_fraction=0.3, seed=5)
    assert not torch.equal(other_seed.images, test.images)


def test_dogs_are_decoded_once_then_loaded_from_cache(fake_dogs, dirs, monkeypatch):
    first = dogs.load_dogs("all", size=16)
    cached = list((dirs[1] / "stanford_dogs").glob("*.pt"))
    assert len(cached) == 1
    monkeypatch.setattr(dogs, "load_square_image", lambda *a: pytest.fail("JPEG decoded again"))
    assert torch.equal(dogs.load_dogs("all", size=16).images, first.images)


def test_dogs_cache_is_rebuilt_when_files_change(fake_dogs, dirs):
    from tests.conftest import write_photo

    assert len(dogs.load_dogs("all", size=16)) == 10
    write_photo(fake_dogs / "n02086240-Shih-Tzu" / "extra.jpg", (50, 60))
    assert len(dogs.load_dogs("all", size=16)) == 11


def test_dogs_corrupt_cache_is_rebuilt_with_a_warning(fake_dogs, dirs):
    dogs.load_dogs("all", size=16)
    (cache_file,) = (dirs[1] / "stanford_dogs").glob("*.pt")
    cache_file.write_bytes(b"not a torch file")
    with pytest.warns(UserWarning, match="rebuilding"):
        assert len(dogs.load_dogs("all", size=16)) == 10


def test_dogs_missing_folder_gives_one_clear_error(dirs):
    with pytest.raises(DataNotFoundError) as info:
        dogs.load_dogs()
    message = str(info.value)
    assert "Stanford Dogs" in message and "AECORE_DATA" in message and "download=True" in message
    assert str(dirs[0] / "stanford_dogs" / "Images") in message


@pytest.mark.parametrize("kwargs, match", [
    ({"split": "val"}, "split"), ({"test_fraction": 1.5}, "test_fraction"), ({"size": 4}, "size"),
])
def test_dogs_bad_arguments_are_rejected(fake_dogs, kwargs, match):
    with pytest.raises(ValueError, match=match):
        dogs.load_dogs(**kwargs)


def test_breed_name_is_readable():
    assert dogs.breed_name("n02085782-Japanese_spaniel") == "Japanese spaniel"


# ------------------------------------------------------------------------ photo budget

def test_dog_budget_larger_than_the_collection_changes_nothing(fake_dogs, monkeypatch):
    monkeypatch.delenv("AECORE_DOGS", raising=False)
    every = dogs.load_dogs("all", size=16, photos="all")
    budget = dogs.load_dogs("all", size=16)  # 2,700-photo budget > 10 photos on disk
    assert torch.equal(every.images, budget.images) and torch.equal(every.labels, budget.labels)
    train, test = dogs.load_dogs("train", size=16), dogs.load_dogs("test", size=16)
    assert (len(train), len(test)) == (9, 1)


def test_dog_budget_is_a_stratified_subset_then_split(fake_dogs, monkeypatch):
    monkeypatch.setenv("AECORE_DOGS", "5")
    chosen = dogs.load_dogs("all", size=16)
    assert len(chosen) == 5 and sorted(chosen.class_counts().values()) == [1, 2, 2]  # 4/3/3 photos -> 2/2/1 (or 2/1/2)
    train, test = dogs.load_dogs("train", size=16), dogs.load_dogs("test", size=16)
    assert len(train) + len(test) == 5 and len(test) == 1
    every = dogs.load_dogs("all", size=16, photos="all")
    assert len(every) == 10 and len(dogs.load_dogs("all", size=16, photos=3)) == 3


def test_dog_photos_argument_is_checked(fake_dogs):
    with pytest.raises(ValueError, match="'budget', 'all' or a positive integer"):
        dogs.load_dogs("all", size=16, photos=0)


def test_describe_dog_photos_names_the_budget_and_the_switch(fake_dogs, monkeypatch):
    monkeypatch.setenv("AECORE_DOGS", "5")
    train, test = dogs.load_dogs("train", size=16), dogs.load_dogs("test", size=16)
    text = dogs.describe_dog_photos(train, test)
    assert text.startswith("4 training and 1 test photos")
    assert "5 of the 10 photos" in text and "AECORE_DOGS=all" in text
    assert dogs.count_dog_photos() == 10
    monkeypatch.setenv("AECORE_DOGS", "all")
    assert "every photo on disk" in dogs.describe_dog_photos(train, test)


# ------------------------------------------------- dog sets are identified by their source files

def test_dog_sets_are_decoded_bit_identically_on_every_run(fake_dogs, dirs):
    first = dogs.load_dogs("all", size=16)
    for cache_file in (dirs[1] / "stanford_dogs").glob("*.pt"):
        cache_file.unlink()  # decode the JPEGs again, as on a fresh install
    again = dogs.load_dogs("all", size=16)
    assert torch.equal(first.images, again.images) and first.origin == again.origin


def test_dog_origin_follows_the_files_contents_the_split_the_subset_and_the_preprocessing(fake_dogs, dirs,
                                                                                          monkeypatch):
    from aecore.cache import data_fingerprint
    from tests.conftest import write_photo

    train, test = dogs.load_dogs("train", size=16), dogs.load_dogs("test", size=16)
    assert train.origin and test.origin and train.origin != test.origin
    assert dogs.load_dogs("train", size=16, limit=4).origin not in (None, train.origin)
    assert dogs.load_dogs("train", size=32).origin != train.origin
    # The fingerprint stands on the origin: the pixels are not hashed.
    assert data_fingerprint(train) == data_fingerprint(dogs.load_dogs("train", size=16))
    # Replacing a photo by another of the same name changes the origin.
    photo = sorted(fake_dogs.glob("*/*.jpg"))[0]
    write_photo(photo, (120, 80), colour=(1, 2, 3))
    changed = {d.origin for d in (dogs.load_dogs("train", size=16), dogs.load_dogs("test", size=16))}
    assert changed != {train.origin, test.origin}
    before = dogs.load_dogs("train", size=16).origin
    monkeypatch.setitem(dogs.DOGS_PREPROCESSING, "version", 99)
    assert dogs.load_dogs("train", size=16).origin != before


def test_a_photo_over_pillows_decompression_bomb_limit_is_skipped_and_named(fake_dogs, monkeypatch):
    """The issue: one photo that trips Pillow's decompression-bomb limit aborted the whole load without naming the
    file; it is now skipped like the other unreadable photos. (The limit is lowered so that an ordinary test photo
    trips it, as a photo of hundreds of megapixels would.)"""
    from PIL import Image

    from tests.conftest import write_photo

    bomb = fake_dogs / "n02086240-Shih-Tzu" / "huge.jpg"
    write_photo(bomb, (400, 300))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50_000)  # 400 x 300 = 120,000 pixels: over twice the limit
    with pytest.warns(UserWarning, match=r"Skipped 1 of 11 photos .*n02086240-Shih-Tzu/huge.jpg \(more pixels than "
                                         r"Pillow decodes safely \(a decompression bomb"):
        data = dogs.load_dogs("all", size=16, photos="all")
    assert len(data) == 10
