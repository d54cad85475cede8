"""Pictures of a run: learning curves, confusion matrix, feature-map grids. Files only, no windows."""
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


def confusion_matrix(matrix: np.ndarray, path: str, title: str) -> None:
    fig, ax = plt.subplots(figsize=(6, 5.5))
    ConfusionMatrixDisplay(np.asarray(matrix)).plot(ax=ax, colorbar=False, values_format="d")
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
