"""Frozen-base feature cache: when the base cannot change, compute its outputs once and train the head on
them, instead of running the base again in every epoch."""
from __future__ import annotations

import logging
import math

import keras
import numpy as np

log = logging.getLogger(__name__)


def applies(cfg) -> bool:
    """Caching gives the same training only when the base is frozen for the whole fit and sees the same
    inputs in every epoch, that is without data.augment."""
    frozen = bool(cfg.training.cache_features) and cfg.model.freeze == "all" and cfg.training.strategy == "finetune"
    if frozen and cfg.data.augment.enabled:
        log.info("frozen base: its outputs are not cached, as data.augment changes its inputs every epoch; "
                 "the base runs every epoch")
        return False
    return frozen


def feature_bytes(base: keras.Model, images: int) -> int:
    return images * math.prod(base.output.shape[1:]) * 4


def features(base_on_digits: keras.Model, images: np.ndarray, batch_size: int) -> np.ndarray:
    """The frozen base's outputs for uint8 digit images (the base behind data.DigitInput), batch by batch."""
    return np.asarray(base_on_digits.predict(images, batch_size=batch_size, verbose=0), np.float32)


def head_model(model: keras.Model, base_name: str) -> keras.Model:
    """The layers after the base, as a model of their own that shares their weights with `model`
    (built as input -> base -> head layers in a chain)."""
    base = model.get_layer(base_name)
    inputs = keras.Input(base.output.shape[1:], name="base_features")
    x = inputs
    for layer in model.layers[model.layers.index(base) + 1:]:
        x = layer(x)
    return keras.Model(inputs, x, name="head")

