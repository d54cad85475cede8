"""Frozen-base feature cache: when the base cannot change, compute its outputs once and train the head on
them, instead of running the base again in every epoch. With training.feature_store set, the outputs of each
set (train, validation, test) come from the store on disk when an earlier run asked the same question, and go
into it otherwise."""
from __future__ import annotations

import logging
import math
import time

import keras
import numpy as np

from .data import Batches, as_dataset
from .images import SCALE_METHOD
from .store import SHORT, FeatureStore, digest

log = logging.getLogger(__name__)
STORE_FORMAT = 1  # part of every key: a change in what an entry holds or how it is computed misses old entries


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


def features(base_on_digits: keras.Model, images, batch_size: int) -> np.ndarray:
    """The frozen base's outputs for uint8 images (the base behind data.DigitInput), batch by batch."""
    return np.asarray(base_on_digits.predict(as_dataset(images, batch_size), batch_size=batch_size, verbose=0),
                      np.float32)


def head_model(model: keras.Model, base_name: str) -> keras.Model:
    """The layers after the base, as a model of their own that shares their weights with `model`
    (built as input -> base -> head layers in a chain)."""
    base = model.get_layer(base_name)
    inputs = keras.Input(base.output.shape[1:], name="base_features")
    x = inputs
    for layer in model.layers[model.layers.index(base) + 1:]:
        x = layer(x)
    return keras.Model(inputs, x, name="head")


def key_fields(cfg, output_layer: str, weights_provenance: dict) -> dict | None:
    """Everything a frozen base's outputs depend on besides the digits: the weights file's sha256, the base
    and its output layer, the input settings, the precision, the Keras backend and version. None when the
    weights have no file to name them by (random initialisation, different for every seed: nothing to share)."""
    if not weights_provenance.get("sha256"):
        return None
    d = cfg.data
    fields = {"format": STORE_FORMAT, "weights_sha256": weights_provenance["sha256"], "base": cfg.model.base,
              "output_layer": output_layer, "input_size": d.input_size, "placement": d.placement,
              "channels": d.channels, "preprocess": d.preprocess, "precision": cfg.training.precision,
              "backend": keras.config.backend(), "keras": keras.version()}
    if d.source == "folder":   # a folder's images are placed on the host: how they are scaled is in every entry
        fields["host_scale"] = SCALE_METHOD
    return fields


def store_for(cfg, output_layer: str, weights_provenance: dict) -> tuple[FeatureStore | None, dict | None, str]:
    """(the store, the key fields, a few words on it) for this run; (None, None, why not) when there is none."""
    if cfg.training.feature_store is None:
        return None, None, "no store (training.feature_store=null)"
    fields = key_fields(cfg, output_layer, weights_provenance)
    if fields is None:
        return None, None, "not stored: a randomly initialised base (model.weights=null) differs with the seed"
    return FeatureStore(cfg.training.feature_store), fields, f"store {cfg.training.feature_store}"


def base_outputs(base_on_digits: keras.Model, sets: dict[str, np.ndarray], batch_size: int,
                 store: FeatureStore | None, fields: dict | None) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
    """The frozen base's outputs for each named set of uint8 digits, from `store` when it holds them, else
    computed (and stored when there is a store); with, per set, whether it was a store hit, its short key and
    the seconds it took."""
    outputs, report = {}, {}
    for name, images in sets.items():
        start = time.perf_counter()

        def compute(images=images):
            return features(base_on_digits, images, batch_size)

        if store is None:
            outputs[name], k, hit = compute(), None, False
        else:
            outputs[name], k, hit = store.fetch({**fields, "images": digest(images)}, compute)
        report[name] = {"status": "hit" if hit else "computed", "key": k[:SHORT] if k else None,
                        "seconds": time.perf_counter() - start}
    return outputs, report


def describe(report: dict[str, dict], where: str) -> str:
    """One log line: each set's status, key and seconds, and where the store is."""
    sets = ", ".join(f"{name} {r['status']} ({r['key'] + ', ' if r['key'] else ''}{r['seconds']:.1f} s)"
                     for name, r in report.items())
    return f"frozen base outputs: {sets}; {where}"


def predict(model: keras.Model, x: np.ndarray, batch_size: int) -> np.ndarray:
    """`model`'s predictions for `x` (base outputs, possibly on disk), batch by batch."""
    return model.predict(Batches(x, batch_size), verbose=0)
