import numpy as np
import pytest
import torch

from aecore import data
from aecore.data import DataNotFoundError, LabelledImages


# ----------------------------------------------------------------------------- MNIST

def test_mnist_loads_images_and_labels_from_the_gz_files(fake_mnist):
    train = data.load_mnist("train")
    test = data.load_mnist("test")
    assert train.images.shape == (12, 1, 28, 28) and test.images.shape == (5, 1, 28, 28)
    assert train.images.dtype == torch.float32
    expected = torch.from_numpy(fake_mnist["t10k-images-idx3-ubyte.gz"].astype(np.float32) / 255.0)
    assert torch.allclose(test.images[:, 0], expected)
    assert test.labels.tolist() == [3, 1, 4, 1, 5]
    assert list(train.classes) == [str(d) for d in range(10)]


def test_mnist_never_writes_beside_the_source(fake_mnist, dirs):
    data_root, cache_root = dirs
    before = sorted(p.name for p in (data_root / "MNIST" / "raw").iterdir())
    data.load_mnist("train")
    assert sorted(p.name for p in (data_root / "MNIST" / "raw").iterdir()) == before
    assert (cache_root / "mnist" / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file()


def test_mnist_second_load_uses_the_unpacked_cache(fake_mnist, dirs, monkeypatch):
    data.load_mnist("train")
    monkeypatch.setattr(data, "file_md5", lambda *_: pytest.fail("source was read again"))
    assert len(data.load_mnist("train")) == 12


def test_mnist_limit_gives_a_seeded_subset(fake_mnist):
    a, b = data.load_mnist("train", limit=5, seed=1), data.load_mnist("train", limit=5, seed=1)
    assert len(a) == 5 and torch.equal(a.labels, b.labels) and torch.equal(a.images, b.images)


def test_mnist_missing_files_give_one_clear_error(dirs):
    with pytest.raises(DataNotFoundError) as info:
        data.load_mnist("train")
    message = str(info.value)
    assert "MNIST" in message and "AECORE_DATA" in message and "download=True" in message
    assert str(dirs[0] / "MNIST" / "raw") in message


def test_mnist_corrupt_file_is_reported_not_used(fake_mnist, dirs, monkeypatch):
    raw = dirs[0] / "MNIST" / "raw"
    (raw / "t10k-labels-idx1-ubyte.gz").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="corrupt"):
        data.load_mnist("test")


def test_mnist_rejects_unknown_split(fake_mnist):
    with pytest.raises(ValueError, match="'train' or 'test'"):
        data.load_mnist("validation")


# ----------------------------------------------------------------------- Stanford Dogs

def test_dogs_are_square_rgb_in_unit_range(fake_dogs):
    everything = data.load_dogs("all", size=32)
    assert everything.images.shape == (10, 3, 32, 32)
    assert 0.0 <= float(everything.images.min()) and float(everything.images.max()) <= 1.0
    assert list(everything.classes) == ["Chihuahua", "Japanese spaniel", "Shih-Tzu"]
    assert everything.class_counts() == {"Chihuahua": 4, "Japanese spaniel": 3, "Shih-Tzu": 3}


def test_dogs_centre_crop_keeps_the_middle(dirs):
    from tests.conftest import write_photo

    folder = dirs[0] / "stanford_dogs" / "Images" / "n0-Test"
    # 200x100: red centre square 100x100, blue bands 50 px wide on both sides.
    write_photo(folder / "wide.jpg", (200, 100), colour=(255, 0, 0), border=(0, 0, 255), border_width=50)
    img = data.load_dogs("all", size=16).images[0]
    red, blue = img[0].mean().item(), img[2].mean().item()
    assert red > 0.9 and blue < 0.1


def test_dogs_split_is_seeded_disjoint_and_complete(fake_dogs):
    train, test = data.load_dogs("train", size=16, test_fraction=0.3), data.load_dogs("test", size=16, test_fraction=0.3)
    assert len(train) == 7 and len(test) == 3
    everything = data.load_dogs("all", size=16)
    rows = lambda d: {tuple(x.mean(dim=(1, 2)).round(decimals=3).tolist()) for x in d.images}
    assert len(rows(everything)) == 10  # every photo distinguishable
    assert rows(train) | rows(test) == rows(everything) and not rows(train) & rows(test)
    again = data.load_dogs("test", size=16, test_fraction=0.3)
    assert torch.equal(again.images, test.images)
    other_seed = data.load_dogs("test", size=16, test_fraction=0.3, seed=5)
    assert not torch.equal(other_seed.images, test.images)


def test_dogs_are_decoded_once_then_loaded_from_cache(fake_dogs, dirs, monkeypatch):
    first = data.load_dogs("all", size=16)
    cached = list((dirs[1] / "stanford_dogs").glob("*.pt"))
    assert len(cached) == 1
    monkeypatch.setattr(data, "load_square_image", lambda *a: pytest.fail("JPEG decoded again"))
    assert torch.equal(data.load_dogs("all", size=16).images, first.images)


def test_dogs_cache_is_rebuilt_when_files_change(fake_dogs, dirs):
    from tests.conftest import write_photo

    assert len(data.load_dogs("all", size=16)) == 10
    write_photo(fake_dogs / "n02086240-Shih-Tzu" / "extra.jpg", (50, 60))
    assert len(data.load_dogs("all", size=16)) == 11


def test_dogs_corrupt_cache_is_rebuilt_with_a_warning(fake_dogs, dirs):
    data.load_dogs("all", size=16)
    (cache_file,) = (dirs[1] / "stanford_dogs").glob("*.pt")
    cache_file.write_bytes(b"not a torch file")
    with pytest.warns(UserWarning, match="rebuilding"):
        assert len(data.load_dogs("all", size=16)) == 10


def test_dogs_missing_folder_gives_one_clear_error(dirs):
    with pytest.raises(DataNotFoundError) as info:
        data.load_dogs()
    message = str(info.value)
    assert "Stanford Dogs" in message and "AECORE_DATA" in message and "download=True" in message
    assert str(dirs[0] / "stanford_dogs" / "Images") in message


@pytest.mark.parametrize("kwargs, match", [
    ({"split": "val"}, "split"), ({"test_fraction": 1.5}, "test_fraction"), ({"size": 4}, "size"),
])
def test_dogs_bad_arguments_are_rejected(fake_dogs, kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.load_dogs(**kwargs)


def test_breed_name_is_readable():
    assert data.breed_name("n02085782-Japanese_spaniel") == "Japanese spaniel"


# ---------------------------------------------------------------------- LabelledImages

def test_labelled_images_checks_shapes():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        LabelledImages(torch.zeros(3, 28, 28), torch.zeros(3, dtype=torch.long), ["a"])
    with pytest.raises(ValueError, match="labels"):
        LabelledImages(torch.zeros(3, 1, 2, 2), torch.zeros(2, dtype=torch.long), ["a"])


def test_subset_none_returns_everything(tiny_images):
    assert tiny_images.subset(None) is tiny_images
    assert len(tiny_images.subset(10)) == 10
    with pytest.raises(ValueError):
        tiny_images.subset(0)


def test_limit_per_class_keeps_a_seeded_subset_of_each_class_in_order():
    labels = torch.tensor([0, 0, 0, 0, 0, 1, 1, 2])
    images = torch.arange(8, dtype=torch.float32).view(8, 1, 1, 1)  # image i holds the value i
    items = LabelledImages(images, labels, ["a", "b", "c", "d"])
    limited = items.limit_per_class(2, seed=0)
    assert limited.class_counts() == {"a": 2, "b": 2, "c": 1} and limited.classes == items.classes
    kept = limited.images.flatten().long()
    assert torch.equal(limited.labels, labels[kept]) and kept.tolist() == sorted(kept.tolist())
    assert torch.equal(items.limit_per_class(2, seed=0).images, limited.images)
    others = {tuple(items.limit_per_class(2, seed=s).images.flatten().tolist()) for s in range(10)}
    assert len(others) > 1, "the seed picks which items of a large class are kept"
    assert items.limit_per_class(None) is items
    with pytest.raises(ValueError, match="limit per class"):
        items.limit_per_class(0)


# --------------------------------------------------------------------------- splits

def test_stratified_split_keeps_every_class_in_both_parts():
    labels = torch.tensor([0] * 40 + [1] * 8 + [2] * 2)
    items = LabelledImages(torch.arange(50.0).view(50, 1, 1, 1), labels, ["a", "b", "c"])
    train, test = data.stratified_split(items, test_fraction=0.25, seed=0)
    assert test.class_counts() == {"a": 10, "b": 2, "c": 1} and train.class_counts() == {"a": 30, "b": 6, "c": 1}
    ids = sorted(train.images.flatten().tolist() + test.images.flatten().tolist())
    assert ids == list(range(50)), "a partition: nothing lost, nothing twice"
    assert train.images.flatten().tolist() == sorted(train.images.flatten().tolist()), "order kept"
    again, _ = data.stratified_split(items, test_fraction=0.25, seed=0)
    other, _ = data.stratified_split(items, test_fraction=0.25, seed=1)
    assert torch.equal(train.images, again.images) and not torch.equal(train.images, other.images)
    with pytest.raises(ValueError):
        data.stratified_split(items, test_fraction=1.0)


# ------------------------------------------------------------- Stanford Dogs: photo budget

def test_stratified_sample_keeps_each_class_share_and_is_seeded():
    labels = torch.tensor([0] * 60 + [1] * 30 + [2] * 10)
    chosen = data.stratified_sample(labels, 50, seed=3)
    assert torch.equal(chosen, chosen.sort().values) and len(set(chosen.tolist())) == 50
    assert torch.bincount(labels[chosen]).tolist() == [30, 15, 5]
    assert torch.equal(chosen, data.stratified_sample(labels, 50, seed=3))
    assert not torch.equal(chosen, data.stratified_sample(labels, 50, seed=4))


def test_stratified_sample_rounds_to_the_exact_size_and_keeps_everything_when_asked_for_more():
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 2])
    assert len(data.stratified_sample(labels, 4)) == 4
    assert torch.equal(data.stratified_sample(labels, 7), torch.arange(7))
    assert torch.equal(data.stratified_sample(labels, 100), torch.arange(7))


def test_dog_budget_larger_than_the_collection_changes_nothing(fake_dogs, monkeypatch):
    monkeypatch.delenv("AECORE_DOGS", raising=False)
    every = data.load_dogs("all", size=16, photos="all")
    budget = data.load_dogs("all", size=16)  # 2,700-photo budget > 10 photos on disk
    assert torch.equal(every.images, budget.images) and torch.equal(every.labels, budget.labels)
    train, test = data.load_dogs("train", size=16), data.load_dogs("test", size=16)
    assert (len(train), len(test)) == (9, 1)


def test_dog_budget_is_a_stratified_subset_then_split(fake_dogs, monkeypatch):
    monkeypatch.setenv("AECORE_DOGS", "5")
    chosen = data.load_dogs("all", size=16)
    assert len(chosen) == 5 and sorted(chosen.class_counts().values()) == [1, 2, 2]  # 4/3/3 photos -> 2/2/1 (or 2/1/2)
    train, test = data.load_dogs("train", size=16), data.load_dogs("test", size=16)
    assert len(train) + len(test) == 5 and len(test) == 1
    every = data.load_dogs("all", size=16, photos="all")
    assert len(every) == 10 and len(data.load_dogs("all", size=16, photos=3)) == 3


def test_dog_photos_argument_is_checked(fake_dogs):
    with pytest.raises(ValueError, match="'budget', 'all' or a positive integer"):
        data.load_dogs("all", size=16, photos=0)


def test_describe_dog_photos_names_the_budget_and_the_switch(fake_dogs, monkeypatch):
    monkeypatch.setenv("AECORE_DOGS", "5")
    train, test = data.load_dogs("train", size=16), data.load_dogs("test", size=16)
    text = data.describe_dog_photos(train, test)
    assert text.startswith("4 training and 1 test photos") and "5 of the 10 photos" in text and "AECORE_DOGS=all" in text
    assert data.count_dog_photos() == 10
    monkeypatch.setenv("AECORE_DOGS", "all")
    assert "every photo on disk" in data.describe_dog_photos(train, test)


# ------------------------------------------------- dog sets are identified by their source files

def test_dog_sets_are_decoded_bit_identically_on_every_run(fake_dogs, dirs):
    first = data.load_dogs("all", size=16)
    for cache_file in (dirs[1] / "stanford_dogs").glob("*.pt"):
        cache_file.unlink()  # decode the JPEGs again, as on a fresh install
    again = data.load_dogs("all", size=16)
    assert torch.equal(first.images, again.images) and first.origin == again.origin


def test_dog_origin_follows_the_files_contents_the_split_the_subset_and_the_preprocessing(fake_dogs, dirs,
                                                                                          monkeypatch):
    from aecore.cache import data_fingerprint
    from tests.conftest import write_photo

    train, test = data.load_dogs("train", size=16), data.load_dogs("test", size=16)
    assert train.origin and test.origin and train.origin != test.origin
    assert data.load_dogs("train", size=16, limit=4).origin not in (None, train.origin)
    assert data.load_dogs("train", size=32).origin != train.origin
    # The fingerprint stands on the origin: the pixels are not hashed.
    assert data_fingerprint(train) == data_fingerprint(data.load_dogs("train", size=16))
    # Replacing a photo by another of the same name changes the origin.
    photo = sorted(fake_dogs.glob("*/*.jpg"))[0]
    write_photo(photo, (120, 80), colour=(1, 2, 3))
    changed = {d.origin for d in (data.load_dogs("train", size=16), data.load_dogs("test", size=16))}
    assert changed != {train.origin, test.origin}
    before = data.load_dogs("train", size=16).origin
    monkeypatch.setitem(data.DOGS_PREPROCESSING, "version", 99)
    assert data.load_dogs("train", size=16).origin != before


def test_derived_sets_without_an_origin_are_identified_by_their_pixels(tiny_images):
    from aecore.cache import data_fingerprint

    assert tiny_images.origin is None and tiny_images.subset(10).origin is None
    changed = LabelledImages(tiny_images.images.clone(), tiny_images.labels, tiny_images.classes)
    changed.images[0, 0, 0, 0] += 0.5
    assert data_fingerprint(changed) != data_fingerprint(tiny_images)
