"""Training-time augmentation (data.augment): random rotation, shift and zoom by Keras' preprocessing layers,
then Gaussian noise, applied to the placed digit in pixel units (0..255) before channels and preprocessing.

Every random number comes from the seed data.training_dataset gives each training batch (drawn from
seed, epoch and batch number), not from a layer's own stateful generator: the same seed gives the same
augmented batches in every run, a resumed one included, whatever order tf.data's parallel map takes.
"""
from __future__ import annotations

from typing import Callable, Optional

import keras
import tensorflow as tf

Augment = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


class BatchSeeds(keras.random.SeedGenerator):
    """keras.random.SeedGenerator's interface over one batch's seed: the n-th draw gets (batch seed, n)
    folded into a new seed. It holds no state variable (the base class's __init__ is not run on purpose),
    so nothing carries over from one batch to the next."""

    def __init__(self, batch_seed: tf.Tensor):
        self.batch_seed = batch_seed
        self.draws = 0

    def next(self, ordered: bool = True) -> tf.Tensor:
        self.draws += 1
        return tf.random.experimental.stateless_fold_in(self.batch_seed, self.draws)


def geometry_layers(rotation: float, shift: float, zoom: float) -> list[keras.layers.Layer]:
    """RandomRotation, RandomTranslation and RandomZoom for the settings that are not 0. What they uncover
    is filled with 0, the canvas background; float32 whatever the precision policy. Their own generators go
    unused (BatchSeeds gives every draw); a fixed seed keeps them off Python's global random state."""
    fill = {"fill_mode": "constant", "fill_value": 0.0, "dtype": "float32", "seed": 0}
    layers = []
    if rotation:
        layers.append(keras.layers.RandomRotation(rotation, **fill))
    if shift:
        layers.append(keras.layers.RandomTranslation(shift, shift, **fill))
    if zoom:
        layers.append(keras.layers.RandomZoom(zoom, **fill))  # width follows height: the aspect is kept
    return layers


def augmenter(augment_cfg) -> Optional[Augment]:
    """(pixels, batch seed) -> augmented pixels for data.augment, or None when it is off."""
    if not augment_cfg.enabled:
        return None
    layers = geometry_layers(augment_cfg.rotation, augment_cfg.shift, augment_cfg.zoom)
    noise = float(augment_cfg.noise)

    def augment(images: tf.Tensor, batch_seed: tf.Tensor) -> tf.Tensor:
        seeds = BatchSeeds(batch_seed)
        for layer in layers:
            change = layer.get_random_transformation(images, training=True, seed=seeds)
            images = layer.transform_images(images, change, training=True)
        if noise:  # what keras.layers.GaussianNoise adds, drawn from the batch's seed; not clipped
            images = images + keras.random.normal(tf.shape(images), stddev=noise, seed=seeds)
        return images

    return augment


def describe(augment_cfg) -> str:
    """One line for the run's log."""
    if not augment_cfg.enabled:
        return "off"
    return (f"rotation={augment_cfg.rotation} (of a full turn) shift={augment_cfg.shift} zoom={augment_cfg.zoom} "
            f"noise={augment_cfg.noise} (pixel std), training batches only")
