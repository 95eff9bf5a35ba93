import pytest
import torch

from aecore import latent, models


def test_encode_and_decode_dataset_in_batches():
    model = models.MLPAutoencoder(image_shape=(1, 8, 8), hidden=(16,), latent_dim=2)
    x = torch.rand(25, 1, 8, 8)
    codes = latent.encode_dataset(model, x, batch_size=7)
    assert codes.shape == (25, 2) and torch.allclose(codes, model.encode(x), atol=1e-6)
    images = latent.decode_codes(model, codes, batch_size=4)
    assert images.shape == x.shape and 0 <= images.min() and images.max() <= 1


def test_encode_dataset_gives_the_vae_posterior_mean():
    model = models.VAE(image_shape=(1, 8, 8), hidden=(16,), latent_dim=3)
    x = torch.rand(5, 1, 8, 8)
    assert torch.allclose(latent.encode_dataset(model, x), model.encode(x)[0], atol=1e-6)
    cvae = models.ConditionalVAE(image_shape=(1, 8, 8), hidden=(16,), latent_dim=3, num_classes=3)
    with pytest.raises(ValueError, match="labels"):
        latent.encode_dataset(cvae, x)
    assert latent.encode_dataset(cvae, x, torch.tensor([0, 1, 2, 0, 1])).shape == (5, 3)


def test_uniform_grid_covers_the_codes_row_major_top_first():
    codes = torch.tensor([[0.0, 0.0], [4.0, 2.0], [2.0, 1.0]])
    grid = latent.uniform_grid(codes, n=5, quantile=0.0)
    assert grid.points.shape == (25, 2) and grid.extent == (0.0, 4.0, 0.0, 2.0)
    assert grid.points[0].tolist() == [0.0, 2.0]  # top-left: smallest z1, largest z2
    assert grid.points[4].tolist() == [4.0, 2.0]
    assert grid.points[-1].tolist() == [4.0, 0.0]


def test_uniform_grid_quantile_ignores_outliers():
    codes = torch.cat([torch.rand(1000, 2), torch.tensor([[100.0, -100.0]])])
    x0, x1, y0, y1 = latent.uniform_grid(codes, n=3, quantile=0.01).extent
    assert x1 < 2 and y0 > -1


def test_uniform_grid_errors():
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        latent.uniform_grid(torch.rand(10, 3))
    with pytest.raises(ValueError, match="n must"):
        latent.uniform_grid(extent=(0, 1, 0, 1), n=1)
    assert latent.uniform_grid(extent=(-1, 1, -2, 2), n=4).points.shape == (16, 2)


def test_gaussian_fit_with_fewer_samples_than_dimensions_is_usable():
    gen = torch.Generator().manual_seed(0)
    codes = torch.randn(64, 4, 4, 8, generator=gen)  # 64 samples, 128 dimensions
    fit = latent.GaussianFit(codes)
    assert 0 < fit.shrinkage <= 1
    assert torch.linalg.eigvalsh(fit.covariance).min() > 0  # positive definite despite N < D
    samples = fit.sample(9, generator=gen)
    assert samples.shape == (9, 4, 4, 8) and torch.isfinite(samples).all()
    with pytest.raises(torch.linalg.LinAlgError):  # the unshrunk covariance is singular
        torch.linalg.cholesky(latent.GaussianFit(codes.flatten(1)[:, :64].repeat(1, 2), shrinkage=0.0).covariance)


def test_gaussian_fit_recovers_a_known_distribution_with_many_samples():
    gen = torch.Generator().manual_seed(1)
    cov = torch.tensor([[2.0, 0.8], [0.8, 1.0]])
    codes = torch.randn(20000, 2, generator=gen) @ torch.linalg.cholesky(cov).T + torch.tensor([3.0, -1.0])
    fit = latent.GaussianFit(codes)
    assert fit.shrinkage < 0.01
    assert torch.allclose(fit.mean.float(), torch.tensor([3.0, -1.0]), atol=0.05)
    assert torch.allclose(fit.covariance.float(), cov, atol=0.08)
    drawn = fit.sample(20000, generator=gen)
    assert torch.allclose(torch.cov(drawn.T), cov, atol=0.1)


def test_diagonal_fit_and_ridge():
    codes = torch.randn(50, 6)
    diag = latent.GaussianFit(codes, covariance="diagonal", ridge=0.5)
    off_diagonal = diag.covariance - torch.diag(torch.diag(diag.covariance))
    assert torch.count_nonzero(off_diagonal) == 0
    assert torch.allclose(torch.diag(diag.covariance), codes.double().var(0, unbiased=False) + 0.5)
    with pytest.raises(ValueError, match="covariance"):
        latent.GaussianFit(codes, covariance="banded")


def test_perturbation_is_relative_to_each_code():
    gen = torch.Generator().manual_seed(0)
    codes = torch.randn(8, 16, 8, 8, generator=gen) * torch.arange(1, 9).view(8, 1, 1, 1)
    assert torch.equal(latent.perturb(codes, 0.0), codes)
    noise = latent.perturb(codes, 0.5, generator=gen) - codes
    rms = codes.pow(2).flatten(1).mean(1).sqrt()
    ratio = noise.pow(2).flatten(1).mean(1).sqrt() / rms
    assert torch.allclose(ratio, torch.full((8,), 0.5), atol=0.05)


def test_nearest_distances():
    ref = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    assert latent.nearest_distances(torch.tensor([[0.0, 1.0]]), ref).tolist() == [1.0]
    assert latent.nearest_distances(ref, ref, exclude_self=True).tolist() == [5.0, 5.0]


def test_interpolate_includes_both_ends():
    a, b = torch.tensor([0.0, 0.0]), torch.tensor([2.0, 4.0])
    path = latent.interpolate(a, b, 3)
    assert path.tolist() == [[0.0, 0.0], [1.0, 2.0], [2.0, 4.0]]
    with pytest.raises(ValueError):
        latent.interpolate(a, b, 1)


def test_knn_label_agreement_separated_versus_mixed_classes():
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(300) % 3
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    separated = centres[labels] + torch.randn(300, 2, generator=gen)
    mixed = torch.randn(300, 2, generator=gen)
    assert latent.knn_label_agreement(separated, labels, k=5, batch_size=64) == 1.0
    assert latent.knn_label_agreement(mixed, labels, k=5) < 0.5
    assert latent.knn_label_agreement(separated * 100, labels, k=5) == 1.0  # scale-free
    with pytest.raises(ValueError):
        latent.knn_label_agreement(separated, labels, k=0)


def test_class_spread_ratio_is_small_for_tight_clusters_and_scale_free():
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(300) % 3
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    tight = centres[labels] + 0.1 * torch.randn(300, 2, generator=gen)
    loose = centres[labels] + 5.0 * torch.randn(300, 2, generator=gen)
    assert latent.class_spread_ratio(tight, labels) < 0.05 < latent.class_spread_ratio(loose, labels)
    assert latent.class_spread_ratio(tight * 7, labels) == pytest.approx(latent.class_spread_ratio(tight, labels),
                                                                         rel=1e-5)


def test_layout_metrics_collects_scale_separation_and_spread():
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(200) % 2
    codes = torch.tensor([[3.0, 0.0], [-3.0, 0.0]])[labels] + 0.1 * torch.randn(200, 2, generator=gen)
    m = latent.layout_metrics(codes, labels, k=5)
    assert m["rms_radius"] == pytest.approx(3.0, abs=0.05)
    assert m["knn_agreement"] == 100.0
    assert m["class_spread"] == pytest.approx(latent.class_spread_ratio(codes, labels))


def test_code_statistics_mean_and_singular_covariance_of_few_codes():
    codes = torch.randn(20, 4, 2, 2)  # 20 codes of 16 numbers: full rank possible
    mean, cov = latent.code_statistics(codes)
    assert mean.shape == (16,) and cov.shape == (16, 16) and cov.dtype == torch.float64
    assert torch.allclose(cov, torch.cov(codes.flatten(1).double().T, correction=0))
    few = codes[:6]  # 6 codes -> rank at most 5 < 16: singular
    assert torch.linalg.matrix_rank(latent.code_statistics(few)[1]) == 5
    with pytest.raises(ValueError, match="at least 2 codes"):
        latent.code_statistics(torch.randn(1, 16))


def test_generate_near_decodes_perturbed_codes_of_picked_sources():
    torch.manual_seed(0)
    model = models.MLPAutoencoder(image_shape=(1, 8, 8), hidden=(16,), latent_dim=4)
    x = torch.rand(6, 1, 8, 8)
    plain, source = latent.generate_near(model, x, 10, 0.0, torch.Generator().manual_seed(1))
    assert plain.shape == (10, 1, 8, 8) and source.shape == (10,) and int(source.max()) < 6
    assert torch.allclose(plain, models.reconstruct(model, x)[source], atol=1e-6), "strength 0 = reconstruction"
    noisy, same_source = latent.generate_near(model, x, 10, 0.5, torch.Generator().manual_seed(1))
    assert torch.equal(source, same_source) and not torch.allclose(noisy, plain)
    with pytest.raises(ValueError):
        latent.generate_near(model, x[:0], 3, 0.1)
    given, given_source = latent.generate_near(model, None, 10, 0.5, torch.Generator().manual_seed(1),
                                               codes=latent.encode_dataset(model, x))
    assert torch.equal(given, noisy) and torch.equal(given_source, source), "codes given = codes computed"
    with pytest.raises(ValueError, match="source images or their codes"):
        latent.generate_near(model, None, 3, 0.1)


def test_augment_rare_classes_tops_up_only_the_rare_ones():
    from aecore.datasets import LabelledImages

    model = models.MLPAutoencoder(image_shape=(1, 8, 8), hidden=(16,), latent_dim=4)
    labels = torch.tensor([0] * 10 + [1] * 3 + [2] * 1)
    items = LabelledImages(torch.rand(14, 1, 8, 8), labels, ["common", "rare", "rarest"])
    augmented = latent.augment_rare_classes(model, items, target=6, strength=0.2, seed=0,
                                            postprocess=lambda im: (im > 0.5).float())
    assert augmented.class_counts() == {"common": 10, "rare": 6, "rarest": 6}
    assert torch.equal(augmented.images[:14], items.images), "originals first, unchanged"
    assert set(augmented.images[14:].unique().tolist()) <= {0.0, 1.0}, "postprocess applied to generated ones"
    assert augmented.labels[14:].tolist() == [1, 1, 1, 2, 2, 2, 2, 2]


def test_round_trip_error_is_zero_for_fixed_points_and_relative():
    class Scale(torch.nn.Module):  # encode = identity, decode = logit(z * factor): round trip scales z
        def __init__(self, factor):
            super().__init__()
            self.factor = factor
            self.anchor = torch.nn.Parameter(torch.zeros(()))  # gives the module a device

        def encode(self, x, y=None):
            return x

        def code(self, x, y=None):
            return x

        def decode(self, z, y=None):
            return torch.logit((z * self.factor).clamp(1e-6, 1 - 1e-6))

    codes = torch.rand(4, 1, 3, 3) * 0.5 + 0.25
    assert torch.allclose(latent.round_trip_error(Scale(1.0), codes), torch.zeros(4), atol=1e-4)
    assert torch.allclose(latent.round_trip_error(Scale(1.2), codes), torch.full((4,), 0.2), atol=1e-4)


def test_active_dimensions_count_the_dimensions_whose_mean_kl_exceeds_the_threshold():
    from aecore.lessons import kl_divergence

    vae = models.VAE(image_shape=(1, 8, 8), hidden=(16,), latent_dim=4)
    x = torch.rand(30, 1, 8, 8)
    with torch.no_grad():
        vae.to_logvar.weight.zero_()
        vae.to_logvar.bias.zero_()         # unit variance everywhere
        vae.to_mu.weight.zero_()
        vae.to_mu.bias.copy_(torch.tensor([0.0, 0.2, 1.0, 2.0]))  # KL = mu^2 / 2 = 0, 0.02, 0.5, 2
    per_dim = latent.kl_per_dimension(vae, x)
    assert torch.allclose(per_dim, torch.tensor([0.0, 0.02, 0.5, 2.0]), atol=1e-6)
    mu, logvar = latent.encode_posterior(vae, x)
    assert torch.allclose(per_dim.sum(), kl_divergence(mu, logvar).mean(), atol=1e-5)
    assert latent.active_dimensions(vae, x) == 2 and latent.active_dimensions(vae, x, threshold=0.01) == 3


def test_posterior_helpers_refuse_a_deterministic_model():
    with pytest.raises(ValueError, match="not variational"):
        latent.encode_posterior(models.MLPAutoencoder(image_shape=(1, 8, 8), hidden=(16,)), torch.rand(2, 1, 8, 8))
