"""Image files in, RGB arrays out: one file, a folder, and resizing. Every image comes back as float32 RGB in
0..255 whatever the file held (gray, RGB, RGBA, bool, 16-bit, floats in 0..1)."""
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


def resize(images: list[np.ndarray], size: int | tuple[int, int]) -> np.ndarray:
    """Images of any size (H, W, C) -> float32 (N, size, size, C) (or (N, height, width, C) for a pair), values
    kept (antialiased bilinear)."""
    from skimage.transform import resize as sk_resize

    shape = (size, size) if isinstance(size, int) else tuple(size)
    return np.stack([sk_resize(im, shape, order=1, preserve_range=True, anti_aliasing=True)
                     for im in images]).astype(np.float32)


def as_raw(image: np.ndarray, shape: tuple) -> np.ndarray:
    """An RGB 0..255 image (read_image) as a uint8 image of `shape`, the form of a run's own images that its
    model.keras takes: (H, W) gray (a colour image's luminance) or (H, W, 3) colour; resized (aspect not kept) when
    its size differs, so a 28x28 gray file of a digit stays exactly as it is."""
    height, width = shape[:2]
    x = image if len(shape) == 3 else (image[..., :1] if is_gray(image) else
                                       (image @ np.asarray(LUMINANCE, np.float32))[..., np.newaxis])
    if x.shape[:2] != (height, width):
        x = resize([x], (height, width))[0]
    x = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    return x if len(shape) == 3 else x[..., 0]


def read_folder(folder: str, key: str) -> tuple[list[str], list[np.ndarray]]:
    """Every file of `folder` (sorted) decoded as an RGB image; any file that does not decode is an error."""
    from skimage import io

    if not os.path.isdir(folder):
        raise UserError(f"{key}={folder!r}: no such folder")
    files = sorted(f for f in os.listdir(folder) if not f.startswith(".") and os.path.isfile(os.path.join(folder, f)))
    if not files:
        raise UserError(f"{key}={folder!r}: the folder holds no image file")
    images, bad = [], []
    for name in files:
        try:
            images.append(to_rgb(io.imread(os.path.join(folder, name))))
        except Exception as exc:  # noqa: BLE001 - any decoder error means the same thing to the user
            bad.append(f"{name} ({type(exc).__name__})")
    if bad:
        raise UserError(f"{key}={folder!r}: {len(bad)} file(s) could not be read as images: {', '.join(bad[:5])}"
                        + (" ..." if len(bad) > 5 else "") + f"; {_allowed()}")
    return files, images
