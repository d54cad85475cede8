"""Split the digits, then stream them through small pure transforms into model inputs.

Images stay uint8 28x28 in memory; placement, channels, preprocessing and label encoding happen per batch
inside tf.data, so memory does not grow with input_size x dataset size.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf
from keras.applications import vgg16

from .augment import Augment, augmenter
from .catalog import DIGIT_SIZE
from .sources import Digits


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
                 cutoff_test: bool) -> tuple[int, int, int]:
    """(train, val, test) sizes: take `cutoff_rate` of the pool, the last `validation_fraction` of it is
    validation; the test pool is cut by the same rate only when `cutoff_test`."""
    taken = round(pool_size * cutoff_rate)
    val = round(taken * validation_fraction)
    test = round(test_size * cutoff_rate) if cutoff_test else test_size
    return taken - val, val, test


def split(digits: Digits, cutoff_rate: float, validation_fraction: float = 0.2, cutoff_test: bool = False,
          split_seed: int = 0) -> Split:
    """The seed's split: the first part of the train pool (reordered by `split_seed` when it is not 0)."""
    n_train, n_val, n_test = split_counts(len(digits.y_pool), len(digits.y_test), cutoff_rate,
                                          validation_fraction, cutoff_test)
    order = np.random.default_rng(split_seed).permutation(len(digits.y_pool)) if split_seed else slice(None)
    x, y = digits.x_pool[order], digits.y_pool[order]
    end = n_train + n_val
    return Split(x[:n_train], y[:n_train], x[n_train:end], y[n_train:end],
                 digits.x_test[:n_test], digits.y_test[:n_test])


# ----- transforms: (batch, 28, 28, 1) float32 in 0..255 -> model input -----

def place(images: tf.Tensor, size: int, mode: str) -> tf.Tensor:
    """Put 28x28 digits into a size x size canvas: `seed` pads as the study did (2 px top/left, the rest
    bottom/right), `center` pads evenly, `resize` scales bilinearly."""
    if mode == "resize":
        return tf.image.resize(images, (size, size), method="bilinear")
    extra = size - DIGIT_SIZE
    before = 2 if mode == "seed" else extra // 2
    pad = [[0, 0], [before, extra - before], [before, extra - before], [0, 0]]
    return tf.pad(images, pad)


def to_channels(images: tf.Tensor, mode: str) -> tf.Tensor:
    """`seed`: gray in the middle channel, zeros in the others (the study's channel pad); `replicate`:
    gray in all three; `gray`: one channel."""
    if mode == "gray":
        return images
    if mode == "replicate":
        return tf.concat([images, images, images], axis=-1)
    zeros = tf.zeros_like(images)
    return tf.concat([zeros, images, zeros], axis=-1)


def preprocess(images: tf.Tensor, mode: str) -> tf.Tensor:
    """`unit`: divide by 255 (the study); `vgg16`: keras.applications.vgg16.preprocess_input (BGR, mean
    subtracted), the input convention of the pretrained weights."""
    if mode == "vgg16":
        return vgg16.preprocess_input(images)
    return images / 255.0


def one_hot(labels: tf.Tensor, units: int) -> tf.Tensor:
    """Digit labels as one-hot vectors of `units` classes: with 1000 units, the study's 10 one-hot
    columns followed by 990 zeros."""
    return tf.one_hot(labels, units, dtype=tf.float32)


def image_transform(size: int, placement: str, channels: str, preprocessing: str, augment: Augment | None = None):
    """uint8 (batch, 28, 28) -> float32 (batch, size, size, C): place -> [augment] -> channels -> preprocess.

    `augment(pixels, batch_seed)` runs only when the caller gives a batch seed, and only training_dataset
    does: validation, test, feature maps and probes see the digits unchanged."""

    def transform(images: tf.Tensor, batch_seed: tf.Tensor | None = None) -> tf.Tensor:
        x = place(tf.cast(images, tf.float32)[..., tf.newaxis], size, placement)
        if augment is not None and batch_seed is not None:
            x = augment(x, batch_seed)
        return preprocess(to_channels(x, channels), preprocessing)

    return transform


def transform_from_config(data_cfg) -> callable:
    return image_transform(data_cfg.input_size, data_cfg.placement, data_cfg.channels, data_cfg.preprocess,
                           augmenter(data_cfg.augment))


def dataset(x: np.ndarray, y: np.ndarray, transform, units: int, batch_size: int) -> tf.data.Dataset:
    """Batches in the given order (for validation, test and prediction)."""
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)
    return ds.map(lambda a, b: (transform(a), one_hot(b, units)),
                  num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def training_dataset(x: np.ndarray, y: np.ndarray, transform, units: int, batch_size: int, seed: int,
                     first_epoch: int, epochs: int, epoch_size: int | None = None) -> tf.data.Dataset:
    """Epochs first_epoch..epochs-1 back to back, each in an order drawn from (seed, epoch) alone, so a
    resumed run sees exactly the batches an uninterrupted one would. An epoch is `epoch_size` samples
    (default: one pass): whole shuffled passes back to back, the last one cut short. Use with
    steps_per_epoch(epoch_size or len(y), batch_size).

    `transform(images, batch_seed)` gets each batch's own seed, drawn from (seed, epoch, batch number)
    alone, for augmentation: a resumed run augments exactly as an uninterrupted one would."""
    images, labels = tf.constant(x), tf.constant(y)
    size = epoch_size or len(y)
    passes = -(-size // len(y))

    def epoch_order(epoch):
        epoch_seed = tf.stack([tf.constant(seed, tf.int64), epoch])
        keys = tf.random.stateless_uniform([passes, len(y)], seed=epoch_seed)
        order = tf.reshape(tf.argsort(keys, axis=-1), [-1])[:size]
        batches = tf.data.Dataset.from_tensor_slices(order).batch(batch_size).enumerate()
        return batches.map(lambda step, idx: (tf.random.experimental.stateless_fold_in(epoch_seed, step), idx))

    ds = tf.data.Dataset.range(first_epoch, epochs).flat_map(epoch_order)
    return ds.map(lambda batch_seed, idx: (transform(tf.gather(images, idx), batch_seed),
                                           one_hot(tf.gather(labels, idx), units)),
                  num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def steps_per_epoch(n: int, batch_size: int) -> int:
    return -(-n // batch_size)
