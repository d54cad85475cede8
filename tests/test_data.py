import numpy as np
import pytest
from keras import ops

from finetune_lab import data
from finetune_lab.sources import Digits


def digit_block(value=255.0):
    """One 28x28 'digit' that is `value` everywhere, as a (1, 28, 28, 1) batch."""
    return np.full((1, 28, 28, 1), value, np.float32)


def test_seed_placement_puts_the_digit_near_the_top_left():
    out = ops.convert_to_numpy(data.place(digit_block(), 48, "seed"))[0, ..., 0]
    assert out.shape == (48, 48)
    rows, cols = np.nonzero(out)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (2, 29, 2, 29)


def test_center_placement_centres_the_digit():
    out = ops.convert_to_numpy(data.place(digit_block(), 48, "center"))[0, ..., 0]
    rows, cols = np.nonzero(out)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (10, 37, 10, 37)


def test_seed_placement_at_224_matches_the_study_padding():
    out = ops.convert_to_numpy(data.place(digit_block(), 224, "seed"))[0, ..., 0]
    assert out.shape == (224, 224) and out[2:30, 2:30].all() and out[30:].sum() == 0


def test_resize_fills_the_canvas():
    out = ops.convert_to_numpy(data.place(digit_block(), 56, "resize"))[0, ..., 0]
    assert out.shape == (56, 56) and np.allclose(out, 255.0)


def test_seed_channels_put_gray_in_the_middle_channel_only():
    out = ops.convert_to_numpy(data.to_channels(digit_block(7.0), "seed"))[0]
    assert out.shape == (28, 28, 3)
    assert np.all(out[..., 1] == 7.0) and np.all(out[..., 0] == 0) and np.all(out[..., 2] == 0)


def test_replicate_channels_copy_gray_everywhere():
    out = ops.convert_to_numpy(data.to_channels(digit_block(7.0), "replicate"))[0]
    assert np.all(out == 7.0) and out.shape[-1] == 3


def test_unit_preprocessing_scales_to_zero_one():
    x = np.array([[[[0.0, 127.5, 255.0]]]], np.float32)
    assert np.allclose(ops.convert_to_numpy(data.preprocess(x, "unit")), [0.0, 0.5, 1.0])


def test_vgg16_preprocessing_is_bgr_minus_imagenet_mean():
    rgb = ops.convert_to_tensor(np.array([[[[10.0, 20.0, 30.0]]]], np.float32))  # in the step: a tensor
    out = ops.convert_to_numpy(data.preprocess(rgb, "vgg16")).ravel()
    assert np.allclose(out, [30 - 103.939, 20 - 116.779, 10 - 123.68], atol=1e-3)


def test_full_transform_shape_dtype_and_range():
    out = data.model_inputs(data.DigitInput(48, "seed", "seed", "unit"), np.full((2, 28, 28), 255, np.uint8))
    assert out.shape == (2, 48, 48, 3) and out.dtype == np.float32
    assert out.min() == 0.0 and out.max() == 1.0


def test_one_hot_with_1000_units_pads_990_zeros():
    out = data.one_hot(np.array([3, 9]), 1000)
    assert out.shape == (2, 1000)
    assert out[0, 3] == 1 and out[1, 9] == 1 and out.sum() == 2 and out[:, 10:].sum() == 0


@pytest.mark.parametrize("rate, expected", [(0.9, (43_200, 10_800, 9_000)), (0.0025, (120, 30, 25)),
                                            (0.5, (24_000, 6_000, 5_000))])
def test_cutoff_counts_of_the_study(rate, expected):
    assert data.split_counts(60_000, 10_000, rate, 0.2, cutoff_test=True) == expected


def test_cutoff_keeps_the_full_test_set_by_default():
    assert data.split_counts(60_000, 10_000, 0.9, 0.2, cutoff_test=False)[2] == 10_000


def test_test_images_takes_the_first_n_of_the_test_pool():
    assert data.split_counts(60_000, 10_000, 0.9, 0.2, cutoff_test=False, test_images=1_000)[2] == 1_000
    assert data.split_counts(60_000, 10_000, 0.05, 0.2, cutoff_test=True, test_images=1_000)[2] == 500
    s = data.split(fake_digits(), 0.5, test_images=7)
    assert s.counts()["test"] == 7 and list(s.x_test[:, 0, 0]) == list(range(7))


def fake_digits(n_pool=100, n_test=20):
    x = np.arange(n_pool, dtype=np.uint8)[:, None, None] * np.ones((1, 28, 28), np.uint8)
    return Digits(x, np.arange(n_pool) % 10, x[:n_test], np.arange(n_test) % 10, {})


def test_split_takes_the_first_part_and_the_last_fifth_is_validation():
    s = data.split(fake_digits(), cutoff_rate=0.5)
    assert s.counts() == {"train": 40, "val": 10, "test": 20}
    assert list(s.x_train[:, 0, 0]) == list(range(40)) and list(s.x_val[:, 0, 0]) == list(range(40, 50))


def test_split_seed_reorders_the_pool_but_not_the_test_set():
    a, b = data.split(fake_digits(), 0.5, split_seed=1), data.split(fake_digits(), 0.5, split_seed=2)
    assert not np.array_equal(a.y_train, b.y_train)
    assert np.array_equal(a.y_test, b.y_test)


def epoch_batches(batches):
    return [tuple(np.argmax(y, axis=1)) for _, y in batches]


def test_training_order_depends_on_seed_and_epoch_only_so_resume_sees_the_same_batches():
    x, y = np.zeros((12, 28, 28), np.uint8), np.arange(12) % 10
    full = epoch_batches(data.training_batches(x, y, 10, 4, seed=5, first_epoch=0, epochs=3))
    resumed = epoch_batches(data.training_batches(x, y, 10, 4, seed=5, first_epoch=1, epochs=3))
    assert len(full) == 9 and full[3:] == resumed
    assert full[:3] != full[3:6]  # epochs are shuffled differently
    other = epoch_batches(data.training_batches(x, y, 10, 4, seed=6, first_epoch=0, epochs=1))
    assert other != full[:3]


def test_the_host_feeds_uint8_digits_of_784_bytes():
    x, y = np.zeros((12, 28, 28), np.uint8), np.arange(12) % 10
    images, labels = next(data.training_batches(x, y, 10, 4, seed=0, first_epoch=0, epochs=1))
    assert images.dtype == np.uint8 and images.shape == (4, 28, 28) and images[0].nbytes == 784
    assert labels.shape == (4, 10) and labels.dtype == np.float32


def test_an_epoch_of_more_samples_than_the_set_is_whole_shuffled_passes_cut_at_the_size():
    x, y = np.zeros((5, 28, 28), np.uint8), np.arange(5)
    batches = epoch_batches(data.training_batches(x, y, 10, 4, seed=3, first_epoch=0, epochs=2, epoch_size=12))
    assert [len(b) for b in batches] == [4, 4, 4] * 2 and data.steps_per_epoch(12, 4) == 3
    first = [label for b in batches[:3] for label in b]
    assert sorted(first[:5]) == sorted(first[5:10]) == list(range(5))  # two full passes, then 2 of a third
    assert first[:5] != first[5:10]  # each pass in its own order
    again = epoch_batches(data.training_batches(x, y, 10, 4, seed=3, first_epoch=1, epochs=2, epoch_size=12))
    assert again == batches[3:]  # a resumed run sees the same samples


def test_an_epoch_of_fewer_samples_than_the_set_takes_a_different_subset_each_epoch():
    x, y = np.zeros((20, 28, 28), np.uint8), np.arange(20)
    batches = epoch_batches(data.training_batches(x, y, 20, 8, seed=0, first_epoch=0, epochs=2, epoch_size=8))
    assert len(batches) == 2 and len(set(batches[0])) == 8 and set(batches[0]) != set(batches[1])


def test_the_digit_input_layer_is_the_transform_inside_a_model_and_survives_saving(tmp_path):
    import keras

    x = np.random.default_rng(0).integers(0, 256, (3, 28, 28)).astype(np.uint8)
    inner = keras.Sequential([keras.Input((40, 40, 3)), keras.layers.GlobalAveragePooling2D()])
    model = data.on_digits(inner, data.DigitInput(40, "seed", "seed", "vgg16", name="digit_input"))
    expected = data.model_inputs(data.DigitInput(40, "seed", "seed", "vgg16"), x).mean(axis=(1, 2))
    assert np.allclose(model.predict(x, verbose=0), expected, atol=1e-4)
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")
    assert np.allclose(again.predict(x, verbose=0), expected, atol=1e-4)
