"""data.augment: training batches only, reproducible from the seed (resume included), never cached."""
import json
import logging

import numpy as np
import pytest
import tensorflow as tf

from conftest import QUICK, run_cli
from finetune_lab import cache, data
from finetune_lab.augment import BatchSeeds
from test_model import cfg_with

N = 12  # digits, each labelled by its own index so a batch says which digits it holds


def digits(n=N):
    """n different 'digits': a bright square whose size depends on the index."""
    x = np.zeros((n, 28, 28), np.uint8)
    for i in range(n):
        x[i, 14 - 2 - i // 2:14 + 2 + i // 2, 8:20] = 255
    return x, np.arange(n)


def transforms(**augment):
    """(the run's transform with data.augment set as given, the transform without augmentation)."""
    settings = {f"data__augment__{k}": v for k, v in augment.items()}
    cfg = cfg_with(data__input_size=32, data__preprocess="unit", **settings)
    plain = data.image_transform(32, cfg.data.placement, cfg.data.channels, "unit")
    return data.transform_from_config(cfg.data), plain


def batches(transform, seed=3, first_epoch=0, epochs=2):
    x, y = digits()
    ds = data.training_dataset(x, y, transform, N, 4, seed=seed, first_epoch=first_epoch, epochs=epochs)
    return [(a.numpy(), np.argmax(b.numpy(), axis=1)) for a, b in ds]


def test_with_augment_off_training_batches_are_the_plain_transform_bit_for_bit():
    x, _ = digits()
    run_transform, plain = transforms()  # the default: data.augment.enabled=false
    for images, idx in batches(run_transform):
        assert np.array_equal(images, plain(x[idx]).numpy())


def test_augmented_batches_differ_from_plain_ones_but_keep_labels_shape_and_dtype():
    x, _ = digits()
    augmented, plain = transforms(enabled=True)
    aug_batches, plain_batches = batches(augmented), batches(plain)
    for (images, idx), (plain_images, plain_idx) in zip(aug_batches, plain_batches):
        assert np.array_equal(idx, plain_idx)  # same digits in the same order
        assert images.shape == plain_images.shape == (len(idx), 32, 32, 3) and images.dtype == np.float32
        assert not np.allclose(images, plain(x[idx]).numpy(), atol=1e-3)
        changed = [not np.allclose(a, b, atol=1e-3) for a, b in zip(images, plain_images)]
        assert sum(changed) >= len(idx) - 1  # each image drawn on its own


def test_same_seed_same_augmented_batches_and_a_resumed_run_sees_them_too():
    augmented, _ = transforms(enabled=True)
    full, again = batches(augmented, seed=3), batches(augmented, seed=3)
    assert all(np.array_equal(a, b) for (a, _), (b, _) in zip(full, again))
    resumed = batches(augmented, seed=3, first_epoch=1)
    assert len(full) == 6 and all(np.array_equal(a, b) for (a, _), (b, _) in zip(full[3:], resumed))
    other = batches(augmented, seed=4)
    assert not np.allclose(full[0][0], other[0][0])


def test_epochs_augment_the_same_digits_differently():
    x, _ = digits()
    augmented, _ = transforms(enabled=True)
    (first, idx), *_ = batches(augmented, epochs=1)
    seen = {}
    for images, batch_idx in batches(augmented, first_epoch=1, epochs=2):
        seen.update({int(i): image for i, image in zip(batch_idx, images)})
    assert not any(np.allclose(image, seen[int(i)], atol=1e-3) for i, image in zip(idx, first))


def test_validation_test_and_unseeded_calls_are_never_augmented():
    x, y = digits()
    augmented, plain = transforms(enabled=True, noise=20.0)
    assert np.array_equal(augmented(x).numpy(), plain(x).numpy())
    for (a, la), (b, lb) in zip(data.dataset(x, y, augmented, N, 5), data.dataset(x, y, plain, N, 5)):
        assert np.array_equal(a.numpy(), b.numpy()) and np.array_equal(la.numpy(), lb.numpy())


def test_geometry_fills_what_it_uncovers_with_the_background_0_and_stays_in_pixel_range():
    x = np.full((N, 28, 28), 255, np.uint8)  # resized, the digit covers the whole canvas
    cfg = cfg_with(data__input_size=32, data__placement="resize", data__preprocess="unit",
                   data__augment__enabled=True, data__augment__rotation=0.1, data__augment__zoom=0.0,
                   data__augment__shift=0.1)
    transform = data.transform_from_config(cfg.data)
    ds = data.training_dataset(x, np.arange(N), transform, N, N, seed=1, first_epoch=0, epochs=1)
    images = next(iter(ds))[0].numpy()
    assert images.min() >= 0 and images.max() <= 1 + 1e-6
    assert (images == 0).any(axis=(1, 2, 3)).sum() >= N - 1  # Keras' default "reflect" would leave no 0


def test_noise_is_in_pixel_units_before_preprocessing_and_the_seed_channel_pad_stays_zero():
    x, _ = digits()
    cfg = cfg_with(data__input_size=32, data__preprocess="unit", data__channels="seed",
                   data__augment__enabled=True, data__augment__rotation=0.0, data__augment__shift=0.0,
                   data__augment__zoom=0.0, data__augment__noise=10.0)
    transform = data.transform_from_config(cfg.data)
    plain = data.image_transform(32, cfg.data.placement, "seed", "unit")
    (images, idx), *_ = batches(transform, epochs=1)
    noise = (images - plain(x[idx]).numpy()) * 255
    assert noise[..., 1].std() == pytest.approx(10.0, rel=0.1)
    assert not noise[..., 0].any() and not noise[..., 2].any()  # channels after augmentation: gray stays gray


def test_the_feature_cache_is_off_with_augmentation_and_says_why(caplog):
    frozen = {"model__freeze": "all", "training__cache_features": True}
    assert cache.applies(cfg_with(**frozen))
    with caplog.at_level(logging.INFO, logger="finetune_lab.cache"):
        assert not cache.applies(cfg_with(**frozen, data__augment__enabled=True))
    assert "data.augment" in caplog.text


def test_a_tiny_frozen_run_with_augmentation_completes_uncached_and_records_it(tmp_path):
    args = QUICK + ["model.freeze=all", "data.augment.enabled=true", "data.augment.noise=4"]
    result = run_cli(args, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = list((tmp_path / "outputs" / "runs").iterdir())
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "completed" and "feature_cache" not in metrics
    assert metrics["provenance"]["data"]["augment"] == {"enabled": True, "rotation": 0.05, "shift": 0.1,
                                                        "zoom": 0.1, "noise": 4.0}
    log = (run / "cli.log").read_text()
    assert "augmentation: rotation=0.05" in log and "not cached" in log


def test_each_random_draw_of_a_batch_gets_its_own_seed():
    seeds = BatchSeeds(tf.constant([3, 7], tf.int64))
    first, second = seeds.next().numpy(), seeds.next().numpy()
    assert not np.array_equal(first, second)  # else x and y shifts (and both zoom axes) would move together
    assert np.array_equal(BatchSeeds(tf.constant([3, 7], tf.int64)).next().numpy(), first)
