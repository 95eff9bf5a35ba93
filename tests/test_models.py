import pytest
import torch

from aecore import lessons, models
from aecore.noise import PowerNormalizedLatentNoise


def test_mlp_autoencoder_shapes_and_default_bottleneck():
    model = models.MLPAutoencoder()
    x = torch.rand(5, 1, 28, 28)
    z = model.encode(x)
    assert z.shape == (5, 2) and model.latent_shape == (2,)
    assert model.decode(z).shape == x.shape and model(x).shape == x.shape
    # 784-512-256-2 and mirror: weights + biases
    expected = ((784 * 512 + 512) + (512 * 256 + 256) + (256 * 2 + 2)
                + (2 * 256 + 256) + (256 * 512 + 512) + (512 * 784 + 784))
    assert models.count_parameters(model) == expected


def test_mlp_widths_are_configurable():
    model = models.MLPAutoencoder(hidden=(64, 32), latent_dim=7)
    widths = [m.out_features for m in model.encoder.modules() if isinstance(m, torch.nn.Linear)]
    assert widths == [64, 32, 7]
    assert model.hparams["hidden"] == (64, 32) and model.hparams["latent_dim"] == 7


def test_conv_autoencoder_code_is_exactly_8x8x16_for_64px_rgb():
    model = models.ConvAutoencoder()
    x = torch.rand(2, 3, 64, 64)
    z = model.encode(x)
    assert z.shape == (2, 16, 8, 8) and model.latent_shape == (16, 8, 8)
    assert 64 * 64 * 3 / z[0].numel() == 12  # 12x compression
    assert model(x).shape == x.shape


def test_conv_autoencoder_rejects_sizes_that_do_not_halve_evenly():
    with pytest.raises(ValueError, match="divisible"):
        models.ConvAutoencoder(image_size=60)


def test_latent_noise_layer_sits_between_encoder_and_decoder():
    model = models.ConvAutoencoder(channels=(8, 8, 8), latent_noise=0.1).eval()
    assert isinstance(model.latent, PowerNormalizedLatentNoise)
    x = torch.rand(3, 3, 64, 64)
    z = model.encode(x)
    assert torch.allclose(z.pow(2).flatten(1).mean(1), torch.ones(3), atol=1e-4)  # normalised
    assert torch.equal(z, model.encode(x))  # no noise in eval mode
    model.train()
    torch.manual_seed(0)
    noisy = model.encode(x)  # training mode: normalised code + N(0, 0.1)
    model.latent.variance = 0.0
    clean = model.encode(x)
    assert (noisy - clean).var().item() == pytest.approx(0.1, rel=0.15)


def test_vae_forward_returns_logits_mu_logvar():
    model = models.VAE(latent_dim=6)
    x = torch.rand(4, 1, 28, 28)
    logits, mu, logvar = model(x)
    assert logits.shape == x.shape and mu.shape == (4, 6) and logvar.shape == (4, 6)
    assert isinstance(model, models.VariationalAutoencoder)
    # what a model is trained with is the loss= of train/fit_or_load, not part of the model
    assert not hasattr(model, "trains_with") and not hasattr(model, "training_losses")
    model.eval()
    assert torch.equal(model.code(x), model.encode(x)[0])


def test_vae_reparameterisation_samples_around_mu():
    torch.manual_seed(0)
    mu, logvar = torch.full((20000, 1), 2.0), torch.full((20000, 1), torch.log(torch.tensor(0.25)))
    z = models.VAE.reparameterize(mu, logvar)  # lessons.reparameterize, looked up at each call
    torch.manual_seed(0)
    assert torch.equal(z, lessons.reparameterize(mu, logvar))
    assert abs(z.mean().item() - 2.0) < 0.02 and abs(z.std().item() - 0.5) < 0.02


def test_cvae_uses_the_label_in_the_decoder():
    torch.manual_seed(0)
    model = models.ConditionalVAE(latent_dim=4)
    z = torch.zeros(2, 4)
    a = model.decode(z, torch.tensor([1, 1]))
    b = model.decode(z, torch.tensor([1, 7]))
    assert torch.equal(a[0], b[0]) and not torch.allclose(a[1], b[1])
    with pytest.raises(ValueError, match="labels"):
        model.encode(torch.rand(2, 1, 28, 28))


def test_reconstruct_is_in_unit_range_and_restores_mode():
    model = models.VAE(latent_dim=3).train()
    x = torch.rand(7, 1, 28, 28)
    r1, r2 = models.reconstruct(model, x, batch_size=3), models.reconstruct(model, x)
    assert r1.shape == x.shape and 0 <= r1.min() and r1.max() <= 1
    assert torch.allclose(r1, r2)  # VAE decodes the posterior mean: deterministic
    assert model.training


def test_reconstruct_conditional_model_needs_labels():
    torch.manual_seed(0)
    model = models.ConditionalVAE(latent_dim=3).train()
    x = torch.rand(2, 1, 28, 28)
    with pytest.raises(ValueError, match="conditional model needs the labels y"):
        models.reconstruct(model, x)
    assert model.training, "the failed call leaves the model in its previous mode"
    out = models.reconstruct(model, x, torch.tensor([0, 9]))
    swapped = models.reconstruct(model, x, torch.tensor([9, 0]))
    assert out.shape == (2, 1, 28, 28) and not torch.allclose(out, swapped), "the labels reach the model"


def test_latent_noise_at_eval_is_reproducible_and_switched_off_afterwards():
    model = models.ConvAutoencoder(channels=(8, 8, 8), latent_noise=0.1).eval()
    x = torch.rand(2, 3, 64, 64)
    clean = model.encode(x)
    with models.latent_noise_at_eval(model, seed=3):
        first = model.encode(x)
    with models.latent_noise_at_eval(model, seed=3):
        second = model.encode(x)
    assert torch.equal(first, second) and not torch.allclose(first, clean)
    assert (first - clean).var().item() == pytest.approx(0.1, rel=0.3)
    assert torch.equal(model.encode(x), clean)  # off again
    with pytest.raises(ValueError, match="no latent noise layer"):
        with models.latent_noise_at_eval(models.ConvAutoencoder(channels=(8, 8, 8))):
            pass


def test_conv_vae_shares_the_conv_autoencoder_layout():
    model = models.ConvVAE(channels=(32, 64, 128), latent_channels=16, blocks=0)
    x = torch.rand(2, 3, 64, 64)
    logits, mu, logvar = model(x)
    assert logits.shape == x.shape and mu.shape == logvar.shape == (2, 16, 8, 8)
    assert model.latent_shape == (16, 8, 8) and isinstance(model, models.VariationalAutoencoder)
    assert model.decode(mu).shape == x.shape
    assert model.hparams == dict(image_size=64, in_channels=3, channels=(32, 64, 128), latent_channels=16, blocks=0)
    ae = models.ConvAutoencoder(channels=(32, 64, 128), latent_channels=16, blocks=0)
    # Same decoder; the encoder differs only in its last 1x1 convolution (2 x 16 output maps).
    assert models.count_parameters(model.decoder) == models.count_parameters(ae.decoder)
    assert models.count_parameters(model.encoder) - models.count_parameters(ae.encoder) == 128 * 16 + 16
    recon = models.reconstruct(model, x)
    assert torch.allclose(recon, torch.sigmoid(model.eval().decode(model.encode(x)[0])))


def test_conv_vae_rejects_an_empty_code():
    with pytest.raises(ValueError, match="latent_channels"):
        models.ConvVAE(latent_channels=0)


def test_hparams_are_captured_from_the_outermost_constructor_and_rebuild_the_model():
    ae = models.MLPAutoencoder(image_shape=[1, 8, 8], hidden=[16], latent_dim=3)
    assert ae.hparams == dict(image_shape=(1, 8, 8), hidden=(16,), latent_dim=3, latent_noise=None)
    cvae = models.ConditionalVAE(image_shape=(1, 8, 8), hidden=(16,), latent_dim=3, num_classes=4)
    assert cvae.hparams == dict(image_shape=(1, 8, 8), hidden=(16,), latent_dim=3, num_classes=4)
    rebuilt = models.build_model("ConditionalVAE", cvae.hparams)
    assert type(rebuilt) is models.ConditionalVAE and rebuilt.hparams == cvae.hparams
    rebuilt.load_state_dict(cvae.state_dict())  # same layout
    with pytest.raises(ValueError, match="unknown model class 'Nope'"):
        models.build_model("Nope", {})


def test_a_model_built_from_modules_works_but_says_why_it_cannot_be_cached():
    from aecore import cache
    model = models.Autoencoder(torch.nn.Flatten(), torch.nn.Unflatten(1, (1, 2, 2)))
    assert model(torch.rand(3, 1, 2, 2)).shape == (3, 1, 2, 2)
    assert model.hparams is None
    with pytest.raises(ValueError, match="Autoencoder cannot be cached: hyper-parameter value Flatten"):
        cache.describe_run(model, None, None, None, None)


def test_every_autoencoder_offers_the_same_interface():
    x, y = torch.rand(2, 1, 8, 8), torch.tensor([0, 1])
    for model in (models.MLPAutoencoder(image_shape=(1, 8, 8), hidden=(8,), latent_dim=3),
                  models.VAE(image_shape=(1, 8, 8), hidden=(8,), latent_dim=3),
                  models.ConditionalVAE(image_shape=(1, 8, 8), hidden=(8,), latent_dim=3, num_classes=2)):
        model.eval()
        code = model.code(x, y)
        assert code.shape == (2, *model.latent_shape)
        assert model.decode(code, y).shape == x.shape
        assert torch.equal(model.reconstruction_logits(x, y), model.decode(code, y))


def test_stage_activations_add_norm_and_silu_after_inner_convolutions_and_keep_old_keys():
    plain = models.ConvAutoencoder(channels=(32, 64, 128), blocks=0)
    active = models.ConvAutoencoder(channels=(32, 64, 128), blocks=0, stage_activations=True)
    assert "stage_activations" not in plain.hparams  # as before the option existed: same cache key
    assert active.hparams["stage_activations"] is True
    assert models.build_model("ConvAutoencoder", plain.hparams).hparams == plain.hparams
    assert models.build_model("ConvAutoencoder", active.hparams).hparams == active.hparams
    convolutions = [m for m in active.modules() if isinstance(m, torch.nn.Conv2d)]
    silus = [m for m in active.modules() if isinstance(m, torch.nn.SiLU)]
    assert len(silus) == len(convolutions) - 2  # all but the code and output convolutions
    assert sum(isinstance(m, torch.nn.SiLU) for m in plain.modules()) == 2
    assert active(torch.rand(2, 3, 64, 64)).shape == (2, 3, 64, 64) and active.latent_shape == (16, 8, 8)


def test_a_conv_autoencoder_refuses_images_of_another_size_so_its_latent_shape_always_holds():
    """The issue: ConvAutoencoder(image_size=64) took 32x32 images (a multiple of its 8x halving), and its codes
    (16, 4, 4) then disagreed with its latent_shape (16, 8, 8)."""
    model = models.ConvAutoencoder(image_size=64, channels=(8, 8, 8), latent_channels=4, blocks=0)
    with pytest.raises(models.ModelInputError, match=r"built for batches \(N, 3, 64, 64\) \(in_channels=3, "
                                                     r"image_size=64\), got \(2, 3, 32, 32\)"):
        model.code(torch.rand(2, 3, 32, 32))
    assert model.code(torch.rand(2, 3, 64, 64)).shape == (2, *model.latent_shape)
    vae = models.ConvVAE(image_size=32, channels=(8, 8), latent_channels=4, blocks=0)
    with pytest.raises(models.ModelInputError, match="image_size=32"):
        vae.code(torch.rand(2, 3, 64, 64))
    assert vae.code(torch.rand(2, 3, 32, 32)).shape == (2, *vae.latent_shape)


def test_a_conditional_vae_names_the_label_range_and_num_classes_of_labels_out_of_range(tiny_images):
    """The issue: a CVAE trained on labels beyond its num_classes failed inside one_hot, with a note blaming the
    choice of objective. The model now names its label range and num_classes."""
    from aecore import objectives, train
    from aecore.datasets.images import LabelledImages

    data = LabelledImages(tiny_images.images, tiny_images.labels * 4, list("abcdefghijklm"))  # labels 0..12
    model = models.ConditionalVAE(image_shape=(1, 8, 8), hidden=(16,), latent_dim=2, num_classes=10)
    with pytest.raises(models.ModelInputError, match=r"ConditionalVAE was built with num_classes=10, so its labels "
                                                     r"must lie in 0..9, but this batch holds labels from 0 to 12\. "
                                                     r"Build the model with num_classes=13") as failure:
        train.train(model, data, None, train.TrainConfig(epochs=1, batch_size=128), loss=objectives.negative_elbo,
                    device=torch.device("cpu"), progress=False)
    assert not getattr(failure.value, "__notes__", None)  # no note blaming the choice of objective
    with pytest.raises(models.ModelInputError, match=r"one integer label per image, int64 of shape \(3,\); got "
                                                     r"torch.float32"):
        model.code(torch.rand(3, 1, 8, 8), torch.ones(3))
    with pytest.raises(models.ModelInputError, match="labels from -1 to 1"):
        model.code(torch.rand(3, 1, 8, 8), torch.tensor([0, 1, -1]))
