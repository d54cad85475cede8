"""Feature maps of named base layers for one image, drawn as grids."""
from __future__ import annotations

import os

import keras
import numpy as np

from . import plots
from .model import output_of


def eager_outputs(model: keras.Model, x: np.ndarray, batch_size: int = 32) -> list[np.ndarray]:
    """`model`'s outputs on `x` (one array per output), called batch by batch without compiling. For the
    models an analysis builds and runs once: `model.predict` would trace a new tf.function for each of them,
    which costs more than it saves, and TensorFlow warns of retracing after five such models."""
    batches = [model(x[i:i + batch_size], training=False) for i in range(0, len(x), batch_size)]
    batches = [b if isinstance(b, (list, tuple)) else [b] for b in batches]
    return [np.concatenate([np.asarray(b[k]) for b in batches]) for k in range(len(batches[0]))]


def activations(base: keras.Model, layer_names: list[str], image: np.ndarray) -> dict[str, np.ndarray]:
    """Outputs of the named layers (or ops) of `base` for one model-ready image (H, W, C); an unknown name is a
    UserError naming analysis.feature_maps.layers."""
    probe = keras.Model(base.input, [output_of(base, n, "analysis.feature_maps.layers") for n in layer_names])
    return {n: o[0] for n, o in zip(layer_names, eager_outputs(probe, image[np.newaxis]))}


def save_grids(base: keras.Model, layer_names: list[str], image: np.ndarray, out_dir: str, tag: str,
               max_channels: int) -> dict[str, np.ndarray]:
    """One grid per layer, named `<layer>.<tag>.png` so that before/after pairs sort side by side; returns
    the activations drawn."""
    os.makedirs(out_dir, exist_ok=True)
    maps_by_layer = activations(base, layer_names, image)
    for name, maps in maps_by_layer.items():
        path = os.path.join(out_dir, f"{name}.{tag}.png")
        plots.feature_grid(maps, path, f"{name} ({tag}), first {min(max_channels, maps.shape[-1])} channels",
                           max_channels)
    return maps_by_layer


def save_diff_grids(before: dict[str, np.ndarray], after: dict[str, np.ndarray], out_dir: str,
                    max_channels: int) -> list[str]:
    """`<layer>.diff.png`: after - before, per layer (activations from save_grids)."""
    paths = []
    for name, maps in before.items():
        path = os.path.join(out_dir, f"{name}.diff.png")
        plots.feature_grid(after[name] - maps, path, f"{name} (after - before), first "
                           f"{min(max_channels, maps.shape[-1])} channels", max_channels, cmap="coolwarm")
        paths.append(path)
    return paths
