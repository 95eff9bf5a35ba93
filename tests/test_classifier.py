import pytest
import torch

from aecore import classifier, objectives, train
from aecore.datasets import LabelledImages
from aecore.train import TrainConfig


def two_class_digits(n=200):
    """Bright top half = class 0, bright bottom half = class 1 (1x28x28)."""
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % 2
    images = 0.1 * torch.rand(n, 1, 28, 28, generator=gen)
    images[labels == 0, :, :14] += 0.8
    images[labels == 1, :, 14:] += 0.8
    return LabelledImages(images.clamp(0, 1), labels, ["top", "bottom"])


def test_classifier_learns_a_simple_task_through_the_shared_loop():
    digits = two_class_digits()
    model = classifier.DigitClassifier(num_classes=2, width=8)
    history = train.train(model, digits, digits, TrainConfig(epochs=3, batch_size=32), loss=objectives.cross_entropy,
                          device=torch.device("cpu"), progress=False)
    assert history.final("val_acc") == 1.0
    assert classifier.accuracy(model, digits.images, digits.labels) == 1.0
    probs = classifier.predict_proba(model, digits.images)
    assert probs.shape == (200, 2) and torch.allclose(probs.sum(1), torch.ones(200))


def test_the_classifiers_objective_is_the_cross_entropy_and_logs_the_accuracy():
    digits = two_class_digits(20)
    model = classifier.DigitClassifier(2, width=4).eval()
    out = objectives.cross_entropy(model, digits.images, digits.labels)
    logits = model(digits.images)
    assert torch.allclose(out["loss"], torch.nn.functional.cross_entropy(logits, digits.labels, reduction="none"))
    assert torch.equal(out["acc"], (logits.argmax(1) == digits.labels).float())
    scores = train.evaluate(model, digits, objectives.cross_entropy)
    assert set(scores) == {"loss", "acc"} and scores["acc"] == pytest.approx(
        classifier.accuracy(model, digits.images, digits.labels))


def test_an_autoencoders_objective_on_a_classifier_fails_at_once():
    digits = two_class_digits(20)
    with pytest.raises(ValueError, match="Target size"):  # logits (N, 2) against images (N, 1, 28, 28)
        train.train(classifier.DigitClassifier(2, width=4), digits, config=TrainConfig(epochs=1),
                    loss=objectives.reconstruction_bce, device=torch.device("cpu"), progress=False)


def test_confident_share():
    probs = torch.tensor([[0.95, 0.05], [0.6, 0.4], [0.1, 0.9], [0.5, 0.5]])
    assert classifier.confident_share(probs, 0.9) == 0.5
    with pytest.raises(ValueError):
        classifier.confident_share(probs, 0)


def test_image_classifier_takes_other_sizes_and_channels():
    model = classifier.ImageClassifier(num_classes=9, width=8, in_channels=3, image_size=32)
    assert model(torch.rand(4, 3, 32, 32)).shape == (4, 9)
    assert model.hparams == dict(num_classes=9, width=8, in_channels=3, image_size=32)
    with pytest.raises(ValueError, match="divisible by 4"):
        classifier.ImageClassifier(image_size=30)


def test_digit_classifier_keeps_its_identity_for_cached_models():
    model = classifier.DigitClassifier(num_classes=10, width=8)
    assert model.hparams == dict(num_classes=10, width=8)  # part of fit_or_load's cache key
    assert isinstance(model, classifier.ImageClassifier) and model(torch.rand(2, 1, 28, 28)).shape == (2, 10)
