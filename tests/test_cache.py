"""Frozen base + feature cache: the head trains on the base's outputs computed once, and ends where the
uncached run ends."""
import logging

import numpy as np
import pytest

from conftest import QUICK, run_in_process
from finetune_lab import cache, model as models
from test_model import cfg_with


def test_head_model_shares_the_head_weights_with_the_full_model():
    cfg = cfg_with(model__weights=None, model__freeze="all", data__input_size=32, model__head__units=[8])
    model, _ = models.build(cfg)
    head = cache.head_model(model, "vgg16")
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    features = model.get_layer("vgg16").predict(x, verbose=0)
    assert np.allclose(head.predict(features, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    dense = model.get_layer("head_dense1")
    dense.kernel.assign(dense.kernel * 2)
    assert np.allclose(head.predict(features, verbose=0), model.predict(x, verbose=0), atol=1e-5)


def test_cache_applies_only_to_a_base_frozen_for_the_whole_fit():
    assert cache.applies(cfg_with(model__freeze="all"))
    assert not cache.applies(cfg_with(model__freeze="block3"))
    assert not cache.applies(cfg_with(model__freeze="all", training__cache_features=False))


def test_cached_and_uncached_frozen_runs_end_alike(tmp_path):
    results = {flag: run_in_process(tmp_path / flag, *QUICK, "model.freeze=all", "training.epochs=2", "seed=4",
                                    "training.deterministic=true", f"training.cache_features={flag}")
               for flag in ("true", "false")}
    assert "feature_cache" in results["true"] and "feature_cache" not in results["false"]
    assert results["true"]["test"]["accuracy"] == pytest.approx(results["false"]["test"]["accuracy"], abs=0.05)
    assert results["true"]["test"]["loss"] == pytest.approx(results["false"]["test"]["loss"], rel=0.02)


def test_a_cache_over_its_limit_is_not_made_and_the_run_says_so(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="finetune_lab"):
        metrics = run_in_process(tmp_path / "run", *QUICK, "model.freeze=all", "training.cache_max_gb=1e-9")
    assert metrics["status"] == "completed" and metrics["feature_cache"]["used"] is False
    assert "cache_max_gb" in caplog.text
