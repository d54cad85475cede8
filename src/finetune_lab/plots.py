"""Pictures of a run: learning curves, confusion matrix, feature-map grids, first-layer filters. Files only,
no windows."""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay  # noqa: E402


def learning_curves(history: dict[str, list[float]], path: str) -> None:
    """Loss and accuracy per epoch, train and validation side by side."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for prefix, style in (("", "-o"), ("val_", "--s")):
            values = history.get(prefix + metric)
            if values:
                ax.plot(range(1, len(values) + 1), values, style, label=(prefix or "train_") + metric)
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def confusion_matrix(matrix: np.ndarray, path: str, title: str, class_names: list[str] | None = None) -> None:
    """Rows: true class, columns: predicted class, labelled with `class_names` (their indices when None); the
    counts are written in the cells while there are at most 20 classes."""
    matrix = np.asarray(matrix)
    side = min(6 + 0.25 * max(len(matrix) - 10, 0), 24)
    fig, ax = plt.subplots(figsize=(side, side - 0.5))
    ConfusionMatrixDisplay(matrix, display_labels=class_names).plot(
        ax=ax, colorbar=False, values_format="d", include_values=len(matrix) <= 20,
        xticks_rotation="vertical" if class_names and max(map(len, class_names)) > 3 else "horizontal")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def feature_grid(maps: np.ndarray, path: str, title: str, max_channels: int = 64, cmap: str = "viridis") -> None:
    """Channels of one activation (H, W, C) in a square grid, each channel scaled to its own range."""
    count = min(max_channels, maps.shape[-1])
    side = math.ceil(math.sqrt(count))
    fig, axes = plt.subplots(side, side, figsize=(side * 1.2, side * 1.2 + 0.4), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < count:
            ax.imshow(maps[..., i], cmap=cmap)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def filter_mosaic(kernel: np.ndarray, max_filters: int = 64, zoom: int = 10, gap: int = 1) -> np.ndarray:
    """A first conv layer's kernel (kh, kw, 1 or 3, filters) as one RGB image in 0..1: each filter scaled to
    its own 0..1 (min to max over all its values), `zoom` pixels per weight, filters row by row in a square
    grid with white `gap`-pixel lines between them. Channels are drawn in the kernel's order."""
    kh, kw, channels, filters = kernel.shape
    if channels not in (1, 3):
        raise ValueError(f"a kernel with {channels} input channels has no picture as RGB patches (1 or 3 only)")
    count = min(max_filters, filters)
    side = math.ceil(math.sqrt(count))
    th, tw = kh * zoom, kw * zoom
    mosaic = np.ones((gap + side * (th + gap), gap + side * (tw + gap), 3), np.float32)
    for i in range(count):
        patch = np.asarray(kernel[..., i], np.float64)
        span = patch.max() - patch.min()
        patch = (patch - patch.min()) / span if span > 0 else np.full_like(patch, 0.5)
        patch = np.repeat(np.repeat(patch, zoom, axis=0), zoom, axis=1)
        row, col = divmod(i, side)
        y, x = gap + row * (th + gap), gap + col * (tw + gap)
        mosaic[y:y + th, x:x + tw] = patch  # a 1-channel patch broadcasts to gray
    return mosaic


def filter_patches(kernel: np.ndarray, path: str, max_filters: int = 64, zoom: int = 10) -> np.ndarray:
    """filter_mosaic written as a PNG of exactly its size; returns the mosaic."""
    mosaic = filter_mosaic(kernel, max_filters, zoom)
    plt.imsave(path, mosaic)
    return mosaic
