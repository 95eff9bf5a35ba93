"""The shared container LabelledImages and the seeded splits (aecore.datasets.images)."""

import pytest
import torch

from aecore.datasets import images
from aecore.datasets.images import LabelledImages

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
    train, test = images.stratified_split(items, test_fraction=0.25, seed=0)
    assert test.class_counts() == {"a": 10, "b": 2, "c": 1} and train.class_counts() == {"a": 30, "b": 6, "c": 1}
    ids = sorted(train.images.flatten().tolist() + test.images.flatten().tolist())
    assert ids == list(range(50)), "a partition: nothing lost, nothing twice"
    assert train.images.flatten().tolist() == sorted(train.images.flatten().tolist()), "order kept"
    again, _ = images.stratified_split(items, test_fraction=0.25, seed=0)
    other, _ = images.stratified_split(items, test_fraction=0.25, seed=1)
    assert torch.equal(train.images, again.images) and not torch.equal(train.images, other.images)
    with pytest.raises(ValueError):
        images.stratified_split(items, test_fraction=1.0)


def test_stratified_sample_keeps_each_class_share_and_is_seeded():
    labels = torch.tensor([0] * 60 + [1] * 30 + [2] * 10)
    chosen = images.stratified_sample(labels, 50, seed=3)
    assert torch.equal(chosen, chosen.sort().values) and len(set(chosen.tolist())) == 50
    assert torch.bincount(labels[chosen]).tolist() == [30, 15, 5]
    assert torch.equal(chosen, images.stratified_sample(labels, 50, seed=3))
    assert not torch.equal(chosen, images.stratified_sample(labels, 50, seed=4))


def test_stratified_sample_rounds_to_the_exact_size_and_keeps_everything_when_asked_for_more():
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 2])
    assert len(images.stratified_sample(labels, 4)) == 4
    assert torch.equal(images.stratified_sample(labels, 7), torch.arange(7))
    assert torch.equal(images.stratified_sample(labels, 100), torch.arange(7))


# ------------------------------------------------------- sets without an origin: their pixels

def test_derived_sets_without_an_origin_are_identified_by_their_pixels(tiny_images):
    from aecore.cache import data_fingerprint

    assert tiny_images.origin is None and tiny_images.subset(10).origin is None
    changed = LabelledImages(tiny_images.images.clone(), tiny_images.labels, tiny_images.classes)
    changed.images[0, 0, 0, 0] += 0.5
    assert data_fingerprint(changed) != data_fingerprint(tiny_images)
