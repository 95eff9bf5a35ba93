"""Plotting helpers (matplotlib): image grids, latent scatters, decoded manifolds, loss curves.

Every function draws on a given ``ax`` (or a new figure) and returns the axes, so
notebooks can compose figures freely.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.ticker import MaxNLocator
from torchvision.utils import make_grid

from .latent import Grid2D, decode_codes
from .train import History


def _imshow_array(image: torch.Tensor):
    """One image (C, H, W) in [0, 1] as the array ``imshow`` expects: (H, W) for grey, (H, W, C) for colour."""
    image = image.detach().cpu().clamp(0, 1)
    return (image[0] if image.shape[0] == 1 else image.permute(1, 2, 0)).numpy()


def _bare(ax) -> None:
    """No ticks and no frame, but keep the axis labels (used as row labels and captions)."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def _axes(ax, figsize=(6, 6)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def show_images(images: torch.Tensor, nrow: int = 8, *, ax=None, title: str | None = None,
                padding: int = 2, pad_value: float = 1.0):
    """Tile images (N, C, H, W) in [0, 1] into a grid with ``nrow`` images per row."""
    if images.ndim != 4:
        raise ValueError(f"expected images shaped (N, C, H, W), got {tuple(images.shape)}")
    ax = _axes(ax)
    grid = make_grid(images.detach().cpu().clamp(0, 1), nrow=nrow, padding=padding, pad_value=pad_value)
    ax.imshow(grid.permute(1, 2, 0).numpy(), cmap="gray" if images.shape[1] == 1 else None,
              interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def image_rows(rows: Mapping[str, torch.Tensor], *, captions: Sequence[str] | None = None,
               width: float = 0.9):
    """One row of images per entry of ``rows`` (label -> (N, C, H, W) in [0, 1]); returns the figure.

    ``captions`` (one per column) go under the last row, e.g. per-image PSNR values.
    """
    labels = list(rows)
    n = max(len(v) for v in rows.values())
    fig, axes = plt.subplots(len(labels), n, figsize=(width * n, width * len(labels) + 0.3), squeeze=False)
    for r, label in enumerate(labels):
        for c in range(n):
            ax = axes[r, c]
            _bare(ax)
            if c < len(rows[label]):
                img = rows[label][c]
                ax.imshow(_imshow_array(img), cmap="gray" if img.shape[0] == 1 else None, vmin=0, vmax=1)
            if c == 0:
                ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=13)
            if captions is not None and r == len(labels) - 1 and c < len(captions):
                ax.set_xlabel(captions[c], fontsize=10)
    fig.tight_layout()
    return fig


def code_mosaic(code: torch.Tensor, ncol: int | None = None, padding: int = 1) -> torch.Tensor:
    """Tile the channels of one code (C, H, W) into a 2-D map (rows*H + gaps, ncol*W + gaps).

    ``ncol`` defaults to ceil(sqrt(C)) (16 channels -> 4x4 tiles); gaps are NaN so
    ``imshow`` leaves them blank.
    """
    if code.ndim != 3:
        raise ValueError(f"expected one code shaped (C, H, W), got {tuple(code.shape)}")
    c, h, w = code.shape
    ncol = ncol or math.ceil(math.sqrt(c))
    nrow = math.ceil(c / ncol)
    out = torch.full((nrow * (h + padding) - padding, ncol * (w + padding) - padding), float("nan"))
    for i, channel in enumerate(code.detach().cpu().float()):
        r, k = divmod(i, ncol)
        out[r * (h + padding):r * (h + padding) + h, k * (w + padding):k * (w + padding) + w] = channel
    return out


def reconstructions_with_codes(originals: torch.Tensor, reconstructions: torch.Tensor, codes: torch.Tensor, *,
                               captions: Sequence[str] | None = None, width: float = 1.25):
    """Three rows per image column: original, reconstruction (N, C, H, W) in [0, 1] and its code
    (N, C', H', W') as a :func:`code_mosaic` on one symmetric blue-red scale, clipped at the 99th
    percentile of |code| so that a few extreme entries do not wash out the rest; returns the figure."""
    if not len(originals) == len(reconstructions) == len(codes):
        raise ValueError(f"need as many reconstructions and codes as originals, got "
                         f"{len(originals)}, {len(reconstructions)}, {len(codes)}")
    n = len(originals)
    fig, axes = plt.subplots(3, n, figsize=(width * n + 0.8, width * 3 + 0.4), squeeze=False)
    limit = float(torch.quantile(codes.detach().abs().flatten().float().cpu(), 0.99))
    for c in range(n):
        axes[0, c].imshow(_imshow_array(originals[c]), vmin=0, vmax=1)
        axes[1, c].imshow(_imshow_array(reconstructions[c]), vmin=0, vmax=1)
        mappable = axes[2, c].imshow(code_mosaic(codes[c]).numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit,
                                     interpolation="nearest")
        if captions is not None:
            axes[1, c].set_xlabel(captions[c], fontsize=9)
    for r, label in enumerate(("original", "reconstruction", f"code {tuple(codes.shape[1:])}")):
        axes[r, 0].set_ylabel(label, fontsize=10)
    for ax in axes.flat:
        _bare(ax)
    fig.tight_layout()
    fig.colorbar(mappable, ax=axes[2, :].tolist(), shrink=0.9, pad=0.01, label="code value", extend="both")
    return fig


def latent_scatter(codes: torch.Tensor, labels: torch.Tensor, *, classes: Sequence[str] | None = None,
                   ax=None, s: float = 2.0, alpha: float = 0.6, grid: Grid2D | None = None):
    """Scatter 2-D codes (N, 2) coloured by label; optionally draw a :class:`Grid2D`'s points on top."""
    if codes.ndim != 2 or codes.shape[1] != 2:
        raise ValueError(f"latent_scatter needs 2-D codes shaped (N, 2), got {tuple(codes.shape)}")
    ax = _axes(ax)
    cmap = plt.get_cmap("tab10")
    labels = labels.cpu()
    for k in torch.unique(labels).tolist():
        mask = labels == k
        name = classes[k] if classes is not None else str(k)
        ax.scatter(codes[mask, 0], codes[mask, 1], s=s, alpha=alpha, color=cmap(k % 10), label=name,
                   rasterized=True)
    if grid is not None:
        ax.scatter(grid.points[:, 0], grid.points[:, 1], s=18, marker="+", color="black", linewidths=0.8,
                   label="grid")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.legend(markerscale=4 / max(s, 0.5) * 2, fontsize=8, loc="best", ncol=2, framealpha=0.8)
    return ax


def latent_manifold(decoded: torch.Tensor, grid: Grid2D, *, ax=None, title: str | None = None):
    """Show images decoded from a :class:`Grid2D` (n*n, C, H, W) tiled at their latent positions."""
    if len(decoded) != grid.n ** 2:
        raise ValueError(f"expected {grid.n ** 2} decoded images for a {grid.n}x{grid.n} grid, got {len(decoded)}")
    ax = _axes(ax)
    tiles = make_grid(decoded.detach().cpu().clamp(0, 1), nrow=grid.n, padding=0)
    x0, x1, y0, y1 = grid.extent
    dx, dy = (x1 - x0) / (grid.n - 1) / 2, (y1 - y0) / (grid.n - 1) / 2
    ax.imshow(tiles.permute(1, 2, 0).numpy(), extent=(x0 - dx, x1 + dx, y0 - dy, y1 + dy), aspect="auto",
              cmap="gray" if decoded.shape[1] == 1 else None)
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    if title:
        ax.set_title(title)
    return ax


def loss_curves(histories: History | Mapping[str, History], *, metric: str = "loss", ax=None,
                ylabel: str | None = None, logy: bool = False):
    """Train (solid) and validation (dashed) curves of ``metric`` per epoch for one or more runs."""
    if isinstance(histories, History):
        histories = {"": histories}
    ax = _axes(ax, figsize=(6, 4))
    cmap = plt.get_cmap("tab10")
    for i, (name, history) in enumerate(histories.items()):
        prefix = f"{name} " if name else ""
        for split, style in (("train", "-"), ("val", "--")):
            values = history.metrics.get(f"{split}_{metric}")
            if values:
                ax.plot(range(1, len(values) + 1), values, style, color=cmap(i % 10), marker=".",
                        label=f"{prefix}{'validation' if split == 'val' else split}")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(ylabel or metric)
    if logy:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def bar_counts(counts: Mapping[str, int], *, ax=None, title: str | None = None, rotate: int = 0):
    """Bar chart of a class -> count mapping (e.g. ``LabelledImages.class_counts()``)."""
    ax = _axes(ax, figsize=(6, 3.5))
    bars = ax.bar(list(counts), list(counts.values()), color="tab:blue")
    ax.bar_label(bars, fontsize=7)
    ax.set_ylabel("count")
    if rotate:
        ax.tick_params(axis="x", labelrotation=rotate)
    if title:
        ax.set_title(title)
    return ax


def latent_explorer(model, extent: tuple[float, float, float, float], *, step: float | None = None):
    """Interactive ipywidgets sliders for (z1, z2) that redraw the image decoded from that code.

    Works in Jupyter (returns an ``ipywidgets.interactive``; display it). A static page
    cannot run it, so the book shows a static figure instead.
    """
    import ipywidgets as widgets

    x0, x1, y0, y1 = extent
    step = step or max(x1 - x0, y1 - y0) / 100

    def draw(z1: float, z2: float) -> None:
        image = decode_codes(model, torch.tensor([[z1, z2]], dtype=torch.float32))[0]
        fig, ax = plt.subplots(figsize=(2.6, 2.6))
        ax.imshow(_imshow_array(image), cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"z = ({z1:.2f}, {z2:.2f})", fontsize=9)
        ax.set_axis_off()
        plt.show()

    def slider(lo: float, hi: float, name: str) -> widgets.FloatSlider:
        return widgets.FloatSlider(value=(lo + hi) / 2, min=lo, max=hi, step=step, description=name,
                                   continuous_update=True)

    return widgets.interactive(draw, z1=slider(x0, x1, "z1"), z2=slider(y0, y1, "z2"))
