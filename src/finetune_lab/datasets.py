"""What every data source gives (Digits: a train pool and a held-out test pool, split by stratified_split), and
data.source=folder: an image folder as a data source, streamed from disk.

The folder holds one subfolder per class (its name is the class name), or `train/` and `test/` subfolders that
each hold the same class subfolders. Without them, `data.test_fraction` of each class is held out, drawn with a
fixed seed, so every run of the folder tests on the same images. Images may be of any size and of any format
OpenCV reads (gray, colour, with alpha, 16-bit: all come out as 8-bit RGB).

Nothing is decoded when the folder is read: the split and the batch order work on indices into the list of
files (`FileImages`), and each batch is decoded and scaled to data.input_size on the host when it is asked for
(data.placement `resize`: both sides scaled; `center_crop`: the shorter side scaled, the centre cut out). The
rest of the input transform (channels, preprocessing, augmentation) runs in the compiled step, as for digits.
Memory thus stays flat in the number of images.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import numpy as np

from . import files, images
from .catalog import DIGIT_NAMES
from .errors import UserError

KEY = "data.path"
SPLIT_SEED = 20240102  # the held-out part of a folder without train/ and test/, and the order of both parts
SPLIT_FOLDERS = ("train", "test")


@dataclass(frozen=True)
class Digits:
    """Labelled uint8 images, a train pool and a held-out test pool, with the name of each label: the digits
    (N, 28, 28) of the MNIST sources, a Keras dataset ((N, 28, 28) or (N, 32, 32, 3)), or a folder's files
    read batch by batch (FileImages, (N, size, size, 3) once decoded)."""

    x_pool: np.ndarray
    y_pool: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    provenance: dict
    class_names: tuple[str, ...] = DIGIT_NAMES


def stratified_split(labels: np.ndarray, per_class: int | dict[int, int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of `per_class` random items of each class (an int for all, or {class: count}) and of the rest,
    each part in a random order; both fixed by `seed`."""
    rng = np.random.default_rng(seed)
    taken = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        count = per_class[int(label)] if isinstance(per_class, dict) else per_class
        taken[rng.choice(np.flatnonzero(labels == label), count, replace=False)] = True
    return rng.permutation(np.flatnonzero(taken)), rng.permutation(np.flatnonzero(~taken))


class FileImages:
    """Image files as a read-only uint8 array of shape (N, size, size, 3) whose items are decoded when they are
    indexed: `images[index]` (a slice or an integer array) decodes those files; `images.take(index, axis=0)`,
    as NumPy's, picks files without decoding any."""

    def __init__(self, paths, size: int, placement: str):
        self.paths = np.asarray(paths, dtype=object)
        self.size, self.placement = size, placement

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.paths), self.size, self.size, 3)

    def take(self, index, axis: int = 0) -> FileImages:
        return FileImages(self.paths[np.asarray(index, dtype=np.int64)], self.size, self.placement)

    def __getitem__(self, index) -> np.ndarray:
        paths = self.paths[index]
        out = np.empty((len(paths), self.size, self.size, 3), np.uint8)
        for i, path in enumerate(paths):
            out[i] = fit(decode(path), self.size, self.placement)
        return out

    def digest(self) -> dict:
        """The set's identity for the feature store: the sha256 of every file's content in order, and how the
        files become images (size, placement)."""
        digest = hashlib.sha256()
        for path in self.paths:
            digest.update(files.sha256(path).encode())
        return {"sha256": digest.hexdigest(), "files": len(self.paths), "size": self.size,
                "placement": self.placement}


def decode(path: str) -> np.ndarray:
    """One image file as uint8 RGB (H, W, 3); a file OpenCV cannot decode is a UserError that names it."""
    import cv2

    image = cv2.imread(path, cv2.IMREAD_COLOR)  # gray copied to 3 channels, alpha dropped, 16-bit to 8-bit
    if image is None:
        raise UserError(f"{KEY}: {path} could not be read as an image (OpenCV cannot decode it); "
                        "allowed: image files OpenCV reads (png, jpg, bmp, tif, webp, ...)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def fit(image: np.ndarray, size: int, placement: str) -> np.ndarray:
    """An image of any size as size x size: `resize` scales both sides (aspect not kept); `center_crop` scales
    the shorter side to `size` and cuts out the centre; `center` scales the longer side to `size` and centres
    the image on a black canvas (aspect kept, nothing cut). Scaled by images.scale, the host's one resize."""
    height, width = image.shape[:2]
    if placement == "resize":
        image = images.scale(image, size, size)
    else:
        factor = size / (min(height, width) if placement == "center_crop" else max(height, width))
        image = images.scale(image, max(1, round(height * factor)), max(1, round(width * factor)))
    if placement == "center":
        canvas = np.zeros((size, size, 3), np.uint8)
        top, left = (size - image.shape[0]) // 2, (size - image.shape[1]) // 2
        canvas[top:top + image.shape[0], left:left + image.shape[1]] = image
        return canvas
    top, left = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
    return image[top:top + size, left:left + size]


def scan(folder: str) -> tuple[list[str], list[str], np.ndarray]:
    """(class names, file paths, labels) of a folder with one subfolder per class, every file checked to be one
    OpenCV can read (by its header); folders listed by images.class_folders and images.image_files. Bad folders
    are one UserError each: no folder, fewer than two classes, an empty class folder, a file that is not an image."""
    import cv2

    classes = images.class_folders(folder, KEY, fewest=2)
    paths, labels = [], []
    for label, name in enumerate(classes):
        sub = os.path.join(folder, name)
        for f in images.image_files(sub, KEY):
            path = os.path.join(sub, f)
            if not cv2.haveImageReader(path):
                raise UserError(f"{KEY}={folder!r}: {os.path.join(name, f)} is not an image file OpenCV reads "
                                "(png, jpg, bmp, tif, webp, ...)")
            paths.append(path)
            labels.append(label)
    return classes, paths, np.asarray(labels, np.int64)


def load_folder(path: str, test_fraction: float, size: int, placement: str) -> Digits:
    """The folder as a train pool and a test pool of FileImages (mixed classes, in a fixed order)."""
    root = os.path.abspath(os.path.expanduser(path))
    rng = np.random.default_rng(SPLIT_SEED)
    if all(os.path.isdir(os.path.join(root, part)) for part in SPLIT_FOLDERS):
        (classes, pool, y_pool), (test_classes, test, y_test) = (scan(os.path.join(root, p)) for p in SPLIT_FOLDERS)
        if test_classes != classes:
            raise UserError(f"{KEY}={path!r}: train/ and test/ hold different classes ({', '.join(classes)} vs "
                            f"{', '.join(test_classes)}); allowed: the same class subfolders in both")
        pool_idx, test_idx = rng.permutation(len(pool)), rng.permutation(len(test))
        split = "the folder's train/ and test/"
    else:
        classes, pool, y_pool = scan(root)
        test = pool
        counts = np.bincount(y_pool)
        held = {c: int(round(n * test_fraction)) for c, n in enumerate(counts)}
        short = [classes[c] for c, n in enumerate(counts) if held[c] < 1 or held[c] >= n]
        if short:
            raise UserError(f"{KEY}={path!r}: data.test_fraction={test_fraction} leaves class {short[0]!r} "
                            f"({counts[classes.index(short[0])]} images) without a training or a test image; allowed: "
                            "more images per class, another test_fraction, or train/ and test/ subfolders")
        test_idx, pool_idx = stratified_split(y_pool, held, SPLIT_SEED)
        y_test = y_pool
        split = f"data.test_fraction={test_fraction} of each class held out (seed {SPLIT_SEED})"
    pool_images, test_images = FileImages(pool, size, placement), FileImages(test, size, placement)
    provenance = {"source": "folder", "path": root, "classes": list(classes), "split": split,
                  "files": {"pool": int(len(pool_idx)), "test": int(len(test_idx))},
                  "decode": f"OpenCV {cv2_version()}, data.placement={placement} to {size}x{size} on the host"}
    return Digits(pool_images.take(pool_idx), np.asarray(y_pool)[pool_idx], test_images.take(test_idx),
                  np.asarray(y_test)[test_idx], provenance, tuple(classes))


def cv2_version() -> str:
    import cv2

    return cv2.__version__
