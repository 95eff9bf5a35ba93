import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch

from aecore import latent, plots
from aecore.train import History


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_show_images_tiles_with_make_grid():
    images = torch.rand(10, 1, 28, 28)
    ax = plots.show_images(images, nrow=5, title="digits")
    (img,) = ax.get_images()
    grid = torch.from_numpy(img.get_array().data)
    h, w = grid.shape[:2]
    assert (h, w) == (2 * 28 + 3 * 2, 5 * 28 + 6 * 2) and ax.get_title() == "digits"
    # Image 6 is the second of the second row, 2-pixel white gaps around every tile.
    assert torch.equal(grid[32:60, 32:60, 0], images[6, 0]) and (grid[:2] == 1).all() and (grid[:, 30:32] == 1).all()
    with pytest.raises(ValueError):
        plots.show_images(torch.rand(28, 28))


def test_image_rows_has_one_row_per_label_and_captions():
    grey = torch.rand(4, 1, 8, 8)
    colour = torch.rand(3, 3, 8, 8) * 1.4 - 0.2  # a shorter row, with values outside [0, 1]
    fig = plots.image_rows({"clean": grey, "colour": colour}, captions=["a", "b", "c", "d"])
    axes = fig.axes
    assert len(axes) == 8 and axes[0].get_ylabel() == "clean" and axes[4].get_ylabel() == "colour"
    assert [ax.get_ylabel() for ax in axes[1:4] + axes[5:]] == [""] * 6  # one label per row
    assert [ax.get_xlabel() for ax in axes[4:]] == ["a", "b", "c", "d"] and axes[0].get_xlabel() == ""
    for c in range(4):  # the grey row shows each image as it is, on a fixed 0..1 grey scale
        (image,) = axes[c].get_images()
        assert torch.equal(torch.from_numpy(image.get_array().data), grey[c, 0])
        assert image.get_clim() == (0, 1) and image.get_cmap().name == "gray"
    for c in range(3):  # colour images as (H, W, 3), clipped to [0, 1]
        shown = torch.from_numpy(axes[4 + c].get_images()[0].get_array().data)
        assert shown.shape == (8, 8, 3) and torch.equal(shown, colour[c].clamp(0, 1).permute(1, 2, 0))
    assert axes[7].get_images() == []  # the colour row has no fourth image


def test_latent_scatter_one_series_per_class_plus_grid():
    codes, labels = torch.randn(100, 2), torch.arange(100) % 3
    grid = latent.uniform_grid(codes, n=4)
    ax = plots.latent_scatter(codes, labels, classes=["x", "y", "z"], grid=grid)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["x", "y", "z", "grid"]
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        plots.latent_scatter(torch.randn(10, 3), torch.zeros(10, dtype=torch.long))


def test_latent_manifold_places_tiles_on_the_grid_extent():
    grid = latent.uniform_grid(extent=(-2.0, 2.0, -1.0, 1.0), n=3)
    ax = plots.latent_manifold(torch.rand(9, 1, 5, 5), grid)
    left, right, bottom, top = ax.get_images()[0].get_extent()
    assert left < -2 < 2 < right and bottom < -1 < 1 < top
    with pytest.raises(ValueError, match="9 decoded"):
        plots.latent_manifold(torch.rand(8, 1, 5, 5), grid)


def test_loss_curves_draw_train_and_validation():
    h = History()
    h.metrics["train_loss"] += [3.0, 2.0]
    h.metrics["val_loss"] += [3.5, 2.5]
    ax = plots.loss_curves({"run": h})
    assert [line.get_label() for line in ax.get_lines()] == ["run train", "run validation"]
    assert list(ax.get_lines()[1].get_ydata()) == [3.5, 2.5]


def test_bar_counts_draws_one_bar_per_class():
    ax = plots.bar_counts({"0": 5, "1": 7}, title="digits")
    heights = [patch.get_height() for patch in ax.patches]
    assert heights == [5, 7] and ax.get_title() == "digits"


def test_latent_explorer_builds_two_sliders_over_the_extent():
    from aecore import models

    model = models.MLPAutoencoder(image_shape=(1, 8, 8), hidden=(8,), latent_dim=2)
    explorer = plots.latent_explorer(model, (-1.0, 3.0, -2.0, 2.0))
    z1, z2 = explorer.children[:2]
    assert (z1.min, z1.max, z2.min, z2.max) == (-1.0, 3.0, -2.0, 2.0)
    assert (z1.value, z2.value) == (1.0, 0.0)


def test_code_mosaic_tiles_channels_with_blank_gaps():
    code = torch.arange(16 * 2 * 3, dtype=torch.float32).view(16, 2, 3)
    mosaic = plots.code_mosaic(code)
    assert mosaic.shape == (4 * 2 + 3, 4 * 3 + 3)  # 4x4 tiles of 2x3 with 1-pixel gaps
    assert torch.equal(mosaic[:2, :3], code[0]) and torch.equal(mosaic[3:5, 4:7], code[5])
    assert torch.isnan(mosaic[2]).all() and torch.isnan(mosaic[:, 3]).all()
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        plots.code_mosaic(torch.zeros(2, 16, 8, 8))


def test_reconstructions_with_codes_draws_three_rows_on_one_code_scale():
    x, codes = torch.rand(3, 3, 16, 16), torch.randn(3, 16, 4, 4)
    fig = plots.reconstructions_with_codes(x, x.flip(-1), codes, captions=["1 dB", "2 dB", "3 dB"])
    image_axes = fig.axes[:9]
    assert [ax.get_ylabel() for ax in image_axes[::3]] == ["original", "reconstruction", "code (16, 4, 4)"]
    assert [ax.get_xlabel() for ax in image_axes[3:6]] == ["1 dB", "2 dB", "3 dB"]
    limit = float(torch.quantile(codes.abs().flatten(), 0.99))
    assert all(ax.get_images()[0].get_clim() == (-limit, limit) for ax in image_axes[6:])
    assert len(fig.axes) == 10  # plus the colour bar
    with pytest.raises(ValueError, match="as many"):
        plots.reconstructions_with_codes(x, x[:2], codes)
