"""data.augment: training steps only, inside the step, reproducible from the seed (resume included), never cached."""
import functools
import logging

import keras
import numpy as np
import pytest

from conftest import QUICK, run_in_process
from finetune_lab import cache, data
from test_model import cfg_with

N = 12  # digits


def digits(n=N):
    """n different 'digits': a bright square whose size depends on the index."""
    x = np.zeros((n, 28, 28), np.uint8)
    for i in range(n):
        x[i, 14 - 2 - i // 2:14 + 2 + i // 2, 8:20] = 255
    return x


def layers(seed=3, **augment):
    """(the run's DigitInput with data.augment set as given, the plain transform of the same data config)."""
    settings = {f"data__augment__{k}": v for k, v in augment.items()}
    cfg = cfg_with(data__input_size=32, data__preprocess="unit", **settings)
    plain = functools.partial(data.model_inputs, data.DigitInput(32, cfg.data.placement, cfg.data.channels, "unit"))
    return data.digit_input(cfg.data, seed), plain


def train_call(layer, x):
    return keras.ops.convert_to_numpy(layer(x, training=True))


def states(layer):
    return [keras.ops.convert_to_numpy(v.value) for v in layer.variables if v.path.endswith("seed_generator_state")]


def test_with_augment_off_training_calls_are_the_plain_transform_bit_for_bit():
    x = digits()
    layer, plain = layers()  # the default: data.augment.enabled=false
    assert np.array_equal(train_call(layer, x), plain(x))


def test_augmented_training_calls_differ_from_plain_ones_but_keep_shape_and_dtype():
    x = digits()
    layer, plain = layers(enabled=True)
    images = train_call(layer, x)
    assert images.shape == (N, 32, 32, 3) and images.dtype == np.float32
    changed = [not np.allclose(a, b, atol=1e-3) for a, b in zip(images, plain(x))]
    assert sum(changed) >= N - 1  # each image drawn on its own


def test_same_seed_same_draws_and_restored_generator_states_repeat_them_as_a_resumed_run_does():
    x = digits()
    first, _ = layers(seed=3, enabled=True, noise=5.0)
    again, _ = layers(seed=3, enabled=True, noise=5.0)
    full = [train_call(first, x) for _ in range(3)]
    assert all(np.array_equal(a, train_call(again, x)) for a in full)
    replay, _ = layers(seed=3, enabled=True, noise=5.0)
    train_call(replay, x)  # one step done, then killed: RandomStateBackup kept these states
    resumed, _ = layers(seed=3, enabled=True, noise=5.0)
    for variable, value in zip([v for v in resumed.variables if v.path.endswith("seed_generator_state")],
                               states(replay)):
        variable.assign(value)
    assert all(np.array_equal(a, train_call(resumed, x)) for a in full[1:])
    other, _ = layers(seed=4, enabled=True, noise=5.0)
    assert not np.allclose(full[0], train_call(other, x))


def test_successive_steps_augment_the_same_digits_differently():
    x = digits()
    layer, _ = layers(enabled=True)
    a, b = train_call(layer, x), train_call(layer, x)
    assert not any(np.allclose(i, j, atol=1e-3) for i, j in zip(a, b))


def test_validation_test_and_prediction_are_never_augmented():
    x = digits()
    layer, plain = layers(enabled=True, noise=20.0)
    assert np.array_equal(keras.ops.convert_to_numpy(layer(x, training=False)), plain(x))
    inner = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten()])
    model = data.on_digits(inner, layer)
    assert np.allclose(model.predict(x, batch_size=5, verbose=0), plain(x).reshape(N, -1))


def test_geometry_fills_what_it_uncovers_with_the_background_0_and_stays_in_pixel_range():
    x = np.full((N, 28, 28), 255, np.uint8)  # resized, the digit covers the whole canvas
    cfg = cfg_with(data__input_size=32, data__placement="resize", data__preprocess="unit",
                   data__augment__enabled=True, data__augment__rotation=0.1, data__augment__zoom=0.0,
                   data__augment__shift=0.1)
    images = train_call(data.digit_input(cfg.data, 1), x)
    assert images.min() >= 0 and images.max() <= 1 + 1e-6
    assert (images == 0).any(axis=(1, 2, 3)).sum() >= N - 1  # Keras' default "reflect" would leave no 0


def test_noise_is_in_pixel_units_before_preprocessing_and_the_seed_channel_pad_stays_zero():
    x = digits()
    cfg = cfg_with(data__input_size=32, data__preprocess="unit", data__channels="seed",
                   data__augment__enabled=True, data__augment__rotation=0.0, data__augment__shift=0.0,
                   data__augment__zoom=0.0, data__augment__noise=10.0)
    plain = functools.partial(data.model_inputs, data.DigitInput(32, cfg.data.placement, "seed", "unit"))
    noise = (train_call(data.digit_input(cfg.data, 0), x) - plain(x)) * 255
    assert noise[..., 1].std() == pytest.approx(10.0, rel=0.1)
    assert not noise[..., 0].any() and not noise[..., 2].any()  # channels after augmentation: gray stays gray


def test_the_feature_cache_is_off_with_augmentation_and_says_why(caplog):
    frozen = {"model__freeze": "all", "training__cache_features": True}
    assert cache.applies(cfg_with(**frozen))
    with caplog.at_level(logging.INFO, logger="finetune_lab.cache"):
        assert not cache.applies(cfg_with(**frozen, data__augment__enabled=True))
    assert "data.augment" in caplog.text


def test_a_tiny_frozen_run_with_augmentation_completes_uncached_and_records_it(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="finetune_lab"):
        metrics = run_in_process(tmp_path / "run", *QUICK, "model.freeze=all", "data.augment.enabled=true",
                                 "data.augment.noise=4")
    assert metrics["status"] == "completed" and "feature_cache" not in metrics
    assert metrics["provenance"]["data"]["augment"] == {"enabled": True, "rotation": 0.05, "shift": 0.1,
                                                        "zoom": 0.1, "noise": 4.0}
    assert "augmentation: rotation=0.05" in caplog.text and "not cached" in caplog.text
