"""Training-time augmentation (data.augment): random rotation, shift and zoom by Keras' preprocessing layers,
then Gaussian noise, applied to the placed digit in pixel units (0..255) before channels and preprocessing.

It runs inside the training step (data.DigitInput holds it) and only there: validation, test and prediction
calls are not training calls. Every draw comes from seed generators seeded by the run's seed; their state is
model state, which train.RandomStateBackup keeps beside the resume checkpoint, so a resumed run augments its
remaining epochs exactly as an uninterrupted one would.
"""
from __future__ import annotations

import keras
from keras import ops


def geometry_layers(rotation: float, shift: float, zoom: float, seed: int) -> list[keras.layers.Layer]:
    """RandomRotation, RandomTranslation and RandomZoom for the settings that are not 0, each with its own
    seed. What they uncover is filled with 0, the canvas background; float32 whatever the precision policy."""
    fill = {"fill_mode": "constant", "fill_value": 0.0, "dtype": "float32"}
    layers = []
    if rotation:
        layers.append(keras.layers.RandomRotation(rotation, seed=seed, **fill))
    if shift:
        layers.append(keras.layers.RandomTranslation(shift, shift, seed=seed + 1, **fill))
    if zoom:
        layers.append(keras.layers.RandomZoom(zoom, seed=seed + 2, **fill))  # width follows height: aspect kept
    return layers


class Augment(keras.layers.Layer):
    """(pixels, training) -> augmented pixels in training calls, the pixels unchanged otherwise."""

    def __init__(self, rotation: float, shift: float, zoom: float, noise: float, seed: int = 0, **kwargs):
        super().__init__(dtype="float32", **kwargs)
        self.geometry = geometry_layers(rotation, shift, zoom, seed)
        self.noise = float(noise)
        self.noise_seed = keras.random.SeedGenerator(seed + 3) if self.noise else None

    def build(self, input_shape):
        for layer in self.geometry:
            layer.build(input_shape)

    def call(self, images, training=None):
        if not training:
            return images
        for layer in self.geometry:
            images = layer(images, training=True)
        if self.noise:  # what keras.layers.GaussianNoise adds, drawn from our own generator; not clipped
            images = images + keras.random.normal(ops.shape(images), stddev=self.noise, seed=self.noise_seed)
        return images

    def compute_output_shape(self, input_shape):
        return input_shape


def describe(augment_cfg) -> str:
    """One line for the run's log."""
    if not augment_cfg.enabled:
        return "off"
    return (f"rotation={augment_cfg.rotation} (of a full turn) shift={augment_cfg.shift} zoom={augment_cfg.zoom} "
            f"noise={augment_cfg.noise} (pixel std), training batches only")
