"""Image files in, RGB arrays out: one file, a folder, the listing of an image folder (its files, or its class
subfolders) and the host's one resize (`scale`). Every image comes back as float32 RGB in 0..255 whatever the
file held (gray, RGB, RGBA, bool, 16-bit, floats in 0..1)."""
from __future__ import annotations

import os

import numpy as np

from .errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
LUMINANCE = (0.2125, 0.7154, 0.0721)  # RGB -> gray, as skimage.color.rgb2gray


def to_rgb(image: np.ndarray) -> np.ndarray:
    """A decoded image (gray, RGB or RGBA, any dtype) as float32 RGB in 0..255; gray is copied to all three."""
    image = np.asarray(image)
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] not in (3, 4):
        raise ValueError(f"shape {image.shape} is not a gray, RGB or RGBA image")
    image = image[..., :3]
    if image.dtype != np.uint8:  # floats in [0, 1] or 16-bit: to 0..255
        image = image.astype(np.float64)
        image = image * 255.0 if image.max() <= 1.0 else image * 255.0 / max(float(image.max()), 1.0)
    return image.astype(np.float32)


def is_gray(image: np.ndarray) -> bool:
    """True when the three channels of an RGB image are equal (a gray file, or a colour file without colour)."""
    return bool(np.array_equal(image[..., 0], image[..., 1]) and np.array_equal(image[..., 1], image[..., 2]))


def _allowed() -> str:
    return f"allowed: image files ({', '.join(IMAGE_SUFFIXES)})"


def read_image(path: str, key: str = "image") -> np.ndarray:
    """One image file as float32 RGB 0..255; a missing file or one that does not decode is a UserError."""
    from skimage import io

    if not os.path.exists(path):
        raise UserError(f"{key} {path!r}: no such file; {_allowed()}")
    if not os.path.isfile(path):
        raise UserError(f"{key} {path!r}: not a file; {_allowed()}")
    try:
        return to_rgb(io.imread(path))
    except Exception as exc:  # noqa: BLE001 - any decoder error means the same thing to the user
        raise UserError(f"{key} {path!r} could not be read as an image ({type(exc).__name__}); {_allowed()}") from None


SCALE_METHOD = "opencv area when no side grows, else bilinear"   # part of a folder run's feature-store key


def scale(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """One image (H, W) or (H, W, C) as (height, width[, C]), dtype kept: the host's resize of data (folder batches,
    inspected images; the model's own input front resizes in the compiled step, data.place; the probe photos keep
    their recorded method, `resize`).

    OpenCV's area averaging when no side grows (each output pixel the mean of the input pixels it covers: no
    aliasing, fine stripes turn to their mean grey), bilinear otherwise. Chosen over scikit-image's antialiased
    resize for speed: a 512x512 photo to 224x224 took 1.1-1.2 ms against 21-23 ms (2-core AVX512-BF16 EPYC, a
    training run beside it, 2026-12-03; astronaut, 20 calls each), which matters where a folder is
    decoded batch by batch in every epoch; the two differ by about half a grey level on average there
    (tests/test_datasets.py)."""
    import cv2

    image = np.asarray(image)
    if image.shape[:2] == (height, width):
        return image
    shrink = height <= image.shape[0] and width <= image.shape[1]
    out = cv2.resize(np.ascontiguousarray(image), (width, height),
                     interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return out[..., None] if image.ndim == 3 and out.ndim == 2 else out  # OpenCV drops a single channel


def resize(images: list[np.ndarray], size: int) -> np.ndarray:
    """Photos of any size (H, W, C) -> float32 (N, size, size, C), values kept: scikit-image's antialiased bilinear.
    The probe photos' resize (original_task, and the ImageNet inputs of finetune-lab-predict without a run): every
    recorded original-task number (edges, CKA, top-3 agreement) was computed through it, so it stays as it was
    while those records are to reproduce and new runs are to join their arms (`scale` differs from it by about
    2 grey levels on average at 128x128, tests/test_datasets.py). A photo set is resized once a run, so its speed
    does not matter."""
    from skimage.transform import resize as sk_resize

    return np.stack([sk_resize(im, (size, size), order=1, preserve_range=True, anti_aliasing=True)
                     for im in images]).astype(np.float32)


def _entries(folder: str, key: str, keep) -> list[str]:
    if not os.path.isdir(folder):
        raise UserError(f"{key}: no such folder {folder!r}")
    return sorted(name for name in os.listdir(folder)
                  if not name.startswith(".") and keep(os.path.join(folder, name)))


def image_files(folder: str, key: str) -> list[str]:
    """The names of the files in `folder`, sorted, hidden ones (.name) left out: how every image folder is listed
    (a folder data source's class folders, probe photos, a labelled folder's classes). A missing folder, or one
    without such a file, is a UserError naming `key` (the setting it came from) and the folder."""
    names = _entries(folder, key, os.path.isfile)
    if not names:
        raise UserError(f"{key}: the folder {folder!r} holds no image file (hidden files are skipped); "
                        f"{_allowed()}")
    return names


def class_folders(folder: str, key: str, fewest: int = 1) -> list[str]:
    """The names of the subfolders of `folder` (one per class), sorted, hidden ones left out. A missing folder, or
    one with fewer than `fewest` subfolders, is a UserError naming `key`, the folder and the subfolders found."""
    names = _entries(folder, key, os.path.isdir)
    if len(names) < fewest:
        found = ", ".join(names) or "none"
        raise UserError(f"{key}: the folder {folder!r} has {len(names)} class subfolder(s) ({found}); allowed: a "
                        f"folder with one subfolder per class, at least {fewest}")
    return names


def as_raw(image: np.ndarray, shape: tuple) -> np.ndarray:
    """An RGB 0..255 image (read_image) as a uint8 image of `shape`, the form of a run's own images that its
    model.keras takes: (H, W) gray (a colour image's luminance) or (H, W, 3) colour; resized (aspect not kept) when
    its size differs, so a 28x28 gray file of a digit stays exactly as it is."""
    height, width = shape[:2]
    x = image if len(shape) == 3 else (image[..., :1] if is_gray(image) else
                                       (image @ np.asarray(LUMINANCE, np.float32))[..., np.newaxis])
    if x.shape[:2] != (height, width):
        x = scale(np.asarray(x, np.float32), height, width)
    x = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    return x if len(shape) == 3 else x[..., 0]


def read_folder(folder: str, key: str) -> tuple[list[str], list[np.ndarray]]:
    """Every file of `folder` (`image_files`) decoded as an RGB image; any file that does not decode is an error."""
    from skimage import io

    files = image_files(folder, key)
    images, bad = [], []
    for name in files:
        try:
            images.append(to_rgb(io.imread(os.path.join(folder, name))))
        except Exception as exc:  # noqa: BLE001 - any decoder error means the same thing to the user
            bad.append(f"{name} ({type(exc).__name__})")
    if bad:
        raise UserError(f"{key}: in the folder {folder!r}, {len(bad)} file(s) could not be read as images: "
                        f"{', '.join(bad[:5])}" + (" ..." if len(bad) > 5 else "") + f"; {_allowed()}")
    return files, images
