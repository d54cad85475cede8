"""Split the images, feed them as uint8 batches, and turn them into model inputs inside the model's step.

The host side is NumPy: the split, the order of each epoch and the batches, 784 bytes per digit (the digits and
the Keras datasets are uint8 arrays in memory; a folder's files are decoded and scaled batch by batch,
datasets.FileImages). Placement, augmentation (training only), channels and preprocessing are Keras ops in a
layer (`DigitInput`, for digits and any other uint8 images) in front of the model, so they run inside the
compiled step on whatever device the backend trains on, and memory does not grow with input_size x dataset size.
The model a run saves (model.keras) is the model behind that layer, so it takes the run's own uint8 images.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import keras
import numpy as np
from keras import ops
from keras.applications import vgg16

from . import catalog
from .augment import Augment
from .catalog import DIGIT_SIZE
from .datasets import Digits
from .images import LUMINANCE


@dataclass(frozen=True)
class Split:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def counts(self) -> dict:
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}


def split_counts(pool_size: int, test_size: int, cutoff_rate: float, validation_fraction: float,
                 cutoff_test: bool, test_images: int | None = None) -> tuple[int, int, int]:
    """(train, val, test) sizes: take `cutoff_rate` of the pool, the last `validation_fraction` of it is
    validation; the test pool is cut by the same rate only when `cutoff_test`, and to its first
    `test_images` when that is set."""
    taken = round(pool_size * cutoff_rate)
    val = round(taken * validation_fraction)
    test = round(test_size * cutoff_rate) if cutoff_test else test_size
    return taken - val, val, min(test, test_images) if test_images else test


def split(digits: Digits, cutoff_rate: float, validation_fraction: float = 0.2, cutoff_test: bool = False,
          split_seed: int = 0, test_images: int | None = None) -> Split:
    """The study's split (docs/study.md#data): the first part of the train pool (reordered by `split_seed` when it
    is not 0). It works on indices: images are taken with `take` (a copy of arrays in memory, a list of files for
    a folder)."""
    n_train, n_val, n_test = split_counts(len(digits.y_pool), len(digits.y_test), cutoff_rate,
                                          validation_fraction, cutoff_test, test_images)
    n = len(digits.y_pool)
    order = np.random.default_rng(split_seed).permutation(n) if split_seed else np.arange(n)
    train, val, test = order[:n_train], order[n_train:n_train + n_val], np.arange(n_test)
    return Split(digits.x_pool.take(train, axis=0), digits.y_pool[train], digits.x_pool.take(val, axis=0),
                 digits.y_pool[val], digits.x_test.take(test, axis=0), digits.y_test[test])


def split_from_config(digits: Digits, data_cfg) -> Split:
    """`split` as the data config asks."""
    return split(digits, data_cfg.cutoff_rate, data_cfg.validation_fraction, data_cfg.cutoff_test,
                 data_cfg.split_seed, data_cfg.test_images)


# ----- host side: labels and the order of the training batches -----

def one_hot(labels: np.ndarray, units: int) -> np.ndarray:
    """Digit labels as one-hot vectors of `units` classes: with 1000 units, the study's 10 one-hot
    columns followed by 990 zeros."""
    return np.eye(units, dtype=np.float32)[np.asarray(labels)]


def epoch_order(seed: int, epoch: int, n: int, size: int) -> np.ndarray:
    """The indices of epoch `epoch`, drawn from (seed, epoch) alone: whole shuffled passes over the n samples
    back to back, cut at `size`."""
    rng = np.random.default_rng([seed, epoch])
    return np.concatenate([rng.permutation(n) for _ in range(-(-size // n))])[:size]


def training_batches(x: np.ndarray, y: np.ndarray, units: int, batch_size: int, seed: int, first_epoch: int,
                     epochs: int, epoch_size: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(inputs, one-hot labels) of epochs first_epoch..epochs-1 back to back, each in epoch_order, so a resumed
    run sees exactly the batches an uninterrupted one would. An epoch is `epoch_size` samples (default: one
    pass). Use with fit(steps_per_epoch=steps_per_epoch(epoch_size or len(y), batch_size))."""
    size = epoch_size or len(y)
    for epoch in range(first_epoch, epochs):
        order = epoch_order(seed, epoch, len(y), size)
        for start in range(0, size, batch_size):
            idx = order[start:start + batch_size]
            yield x[idx], one_hot(y[idx], units)


def steps_per_epoch(n: int, batch_size: int) -> int:
    return -(-n // batch_size)


class Batches(keras.utils.PyDataset):
    """`x` (with `y`) in order, `batch_size` rows at a time, each read when Keras asks for it: an array on disk
    (a memory-mapped store entry) or a folder's images (datasets.FileImages) are never read into memory whole."""

    def __init__(self, x, batch_size: int, y: np.ndarray | None = None):
        super().__init__()
        self.x, self.batch_size, self.y = x, batch_size, y

    def __len__(self) -> int:
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, i: int):
        part = slice(i * self.batch_size, (i + 1) * self.batch_size)
        x = np.asarray(self.x[part])
        return x if self.y is None else (x, self.y[part])


def as_dataset(x, batch_size: int, y: np.ndarray | None = None):
    """`x` (with `y`) as Keras' fit (validation_data) and predict take them: arrays in memory as they are (Keras
    batches them), anything read batch by batch (a folder's images) as Batches."""
    if isinstance(x, np.ndarray):
        return x if y is None else (x, y)
    return Batches(x, batch_size, y)


# ----- in the step: (batch, H, W, C) pixels 0..255 -> model input, Keras ops only -----

def place(images, size: int, mode: str):
    """Put (batch, H, W, C) images into a size x size float32 canvas: `seed` pads as the study did (2 px
    top/left, the rest bottom/right), `center` pads evenly, `resize` scales bilinearly, `center_crop` scales the
    shorter side to `size` and keeps the centre. Images already size x size are left as they are (a folder's
    images are placed on the host, datasets.fit)."""
    images = ops.cast(images, "float32")
    height, width = images.shape[1], images.shape[2]
    if (height, width) == (size, size) and mode != "seed":
        return images
    if mode == "resize":
        return ops.image.resize(images, (size, size), interpolation="bilinear")
    if mode == "center_crop":
        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        return ops.image.resize(images[:, top:top + side, left:left + side], (size, size), interpolation="bilinear")
    before = 2 if mode == "seed" else (size - height) // 2
    left = 2 if mode == "seed" else (size - width) // 2
    return ops.pad(images, [[0, 0], [before, size - height - before], [left, size - width - left], [0, 0]])


def to_channels(images, mode: str):
    """`seed`: gray in the middle channel, zeros in the others (the study's channel pad); `replicate`: gray in
    all three; `gray`: one channel. Colour images (3 channels) stay as they are under `replicate`, and are
    turned to gray (luminance) first under `seed` and `gray`."""
    if images.shape[-1] == 3:
        if mode == "replicate":
            return images
        images = ops.sum(images * ops.convert_to_tensor(LUMINANCE, images.dtype), axis=-1, keepdims=True)
    if mode == "gray":
        return images
    if mode == "replicate":
        return ops.concatenate([images, images, images], axis=-1)
    zeros = ops.zeros_like(images)
    return ops.concatenate([zeros, images, zeros], axis=-1)


def preprocess(images, mode: str, base: str | None = None):
    """`unit`: divide by 255 (the study); `vgg16`: keras.applications.vgg16.preprocess_input (BGR, mean
    subtracted), the input convention of the pretrained weights; `base`: the preprocess_input of `base`'s own
    module (catalog.BASES: caffe-style for VGG and ResNet, -1..1 for ResNetV2 and MobileNetV2, 0..255 unchanged
    for MobileNetV3, EfficientNet and ConvNeXt, which rescale inside the model)."""
    images = ops.convert_to_tensor(images, "float32")  # a tensor: preprocess_input works on NumPy arrays in place
    if mode == "vgg16":
        return vgg16.preprocess_input(images)
    if mode == "base":
        module = getattr(keras.applications, catalog.BASES[base].preprocessing)
        return module.preprocess_input(images)
    return images / 255.0


@keras.saving.register_keras_serializable(package="finetune_lab")
class DigitInput(keras.layers.Layer):
    """uint8 images (batch, H, W) or (batch, H, W, 3) (digits first of all) -> float32 (batch, size, size, C):
    place -> [augment] -> channels -> preprocess. Augmentation (`augment`: data.augment's settings) runs only in
    training steps; validation, test, feature maps and probes see the images unchanged. Its random draws come from
    seed generators seeded by `seed`, state the model carries (train.RandomStateBackup keeps it for resume).
    `base` names the base whose preprocessing `preprocessing=base` applies."""

    def __init__(self, size: int, placement: str, channels: str, preprocessing: str, augment: dict | None = None,
                 seed: int = 0, base: str | None = None, **kwargs):
        super().__init__(dtype="float32", **{k: v for k, v in kwargs.items() if k != "dtype"})
        self.size, self.placement, self.channels, self.preprocessing = size, placement, channels, preprocessing
        self.augment_settings, self.seed, self.base = dict(augment) if augment else None, seed, base
        self.augment = Augment(**self.augment_settings, seed=seed) if self.augment_settings else None

    def build(self, input_shape):
        if self.augment is not None:
            colours = input_shape[-1] if len(input_shape) == 4 else 1
            self.augment.build((input_shape[0], self.size, self.size, colours))

    def call(self, images, training=None):
        x = place(images if len(images.shape) == 4 else ops.expand_dims(images, -1), self.size, self.placement)
        if self.augment is not None:
            x = self.augment(x, training=training)
        return preprocess(to_channels(x, self.channels), self.preprocessing, self.base)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.size, self.size, 1 if self.channels == "gray" else 3)

    def get_config(self):
        return {**super().get_config(), "size": self.size, "placement": self.placement, "channels": self.channels,
                "preprocessing": self.preprocessing, "augment": self.augment_settings, "seed": self.seed,
                "base": self.base}


def digit_input(data_cfg, seed: int = 0, base: str | None = None) -> DigitInput:
    """The DigitInput layer of the `data` config (data.augment included when it is enabled); `base`: model.base."""
    aug = data_cfg.augment
    settings = ({"rotation": float(aug.rotation), "shift": float(aug.shift), "zoom": float(aug.zoom),
                 "noise": float(aug.noise)} if aug.enabled else None)
    return DigitInput(data_cfg.input_size, data_cfg.placement, data_cfg.channels, data_cfg.preprocess, settings,
                      seed, base, name="digit_input")


def on_digits(model: keras.Model, layer: DigitInput, image_shape: tuple = (DIGIT_SIZE, DIGIT_SIZE)) -> keras.Model:
    """`model` (on model inputs) behind `layer`: a model on uint8 images of `image_shape` (the digits' 28x28 by
    default) that shares `model`'s weights, for fit, predict, the feature cache and model.keras."""
    digits = keras.Input(tuple(image_shape), dtype="uint8", name="digits")
    return keras.Model(digits, model(layer(digits)), name=f"{model.name}_on_digits")


def parts(whole: keras.Model) -> tuple[DigitInput | None, keras.Model]:
    """(its DigitInput, the model on model inputs behind it) of a model that on_digits built, a run's model.keras
    read back included; (None, `whole`) for a model without that layer (a model.keras saved before it carried
    one)."""
    fronts = [layer for layer in whole.layers if isinstance(layer, DigitInput)]
    return (fronts[0], whole.layers[-1]) if fronts else (None, whole)


def model_inputs(layer: DigitInput, images) -> np.ndarray:
    """uint8 (batch, H, W[, 3]) -> what `layer` hands the model, float32 (batch, size, size, C) as a NumPy array,
    outside any model (feature maps, the layer change): its inference path, never augmented."""
    return ops.convert_to_numpy(layer(np.asarray(images)))
