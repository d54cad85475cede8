"""Write the shapes dataset of docs/any-base-any-data.md: an image folder (one subfolder per class) of filled
shapes drawn with OpenCV, each at a random size, position, rotation and colour on a random background, with a
little pixel noise. Deterministic for a given --seed.

    python experiments/make_shapes.py outputs/shapes --per-class 150            # OUT/<class>/<n>.png
    python experiments/make_shapes.py OUT --per-class 40 --test-per-class 10   # OUT/train/<class>, OUT/test/<class>
"""
from __future__ import annotations

import argparse
import os

import cv2
import numpy as np

CLASSES = ("circle", "square", "triangle", "cross", "star")


def polygon(kind: str, centre: np.ndarray, radius: float, angle: float) -> np.ndarray:
    """The corners of a square, triangle, cross or five-pointed star around `centre`, turned by `angle`."""
    if kind == "square":
        points = [(1, 1), (-1, 1), (-1, -1), (1, -1)]
        radius /= np.sqrt(2)
    elif kind == "triangle":
        points = [(np.cos(a), np.sin(a)) for a in np.radians([90, 210, 330])]
    elif kind == "cross":
        w = 0.33
        points = [(w, 1), (-w, 1), (-w, w), (-1, w), (-1, -w), (-w, -w), (-w, -1), (w, -1), (w, -w), (1, -w),
                  (1, w), (w, w)]
    else:  # star: outer and inner corners in turn
        points = [(r * np.cos(a), r * np.sin(a))
                  for i, a in enumerate(np.radians(np.arange(90, 450, 36))) for r in [(1.0, 0.45)[i % 2]]]
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return np.round(centre + radius * np.asarray(points) @ turn.T).astype(np.int32)


def draw(kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """One RGB uint8 image of `kind`: background and shape colours at least 80 apart in some channel."""
    background = rng.integers(0, 256, 3)
    colour = rng.integers(0, 256, 3)
    while np.max(np.abs(colour - background)) < 80:
        colour = rng.integers(0, 256, 3)
    image = np.empty((size, size, 3), np.uint8)
    image[:] = background
    radius = rng.uniform(0.18, 0.42) * size
    centre = rng.uniform(radius, size - radius, 2)
    fill = tuple(int(c) for c in colour)
    if kind == "circle":
        cv2.circle(image, tuple(np.round(centre).astype(int)), int(round(radius)), fill, -1, cv2.LINE_AA)
    else:
        cv2.fillPoly(image, [polygon(kind, centre, radius, rng.uniform(0, 2 * np.pi))], fill, cv2.LINE_AA)
    noisy = image.astype(np.float32) + rng.normal(0, 8, image.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def write(folder: str, per_class: int, size: int, rng: np.random.Generator, classes=CLASSES) -> int:
    for kind in classes:
        os.makedirs(os.path.join(folder, kind), exist_ok=True)
        for i in range(per_class):
            cv2.imwrite(os.path.join(folder, kind, f"{i:04d}.png"), cv2.cvtColor(draw(kind, size, rng), cv2.COLOR_RGB2BGR))
    return per_class * len(classes)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="the folder to write (created; must not hold a dataset already)")
    parser.add_argument("--per-class", type=int, default=150, help="images per class (default 150)")
    parser.add_argument("--test-per-class", type=int, default=0,
                        help="N > 0: also N test images per class, in OUT/train/ and OUT/test/ (default: one folder)")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels (default 64)")
    parser.add_argument("--classes", type=int, default=len(CLASSES), choices=range(2, len(CLASSES) + 1),
                        help=f"the first N of {', '.join(CLASSES)} (default all)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if os.path.isdir(args.out) and os.listdir(args.out):
        parser.error(f"{args.out} is not empty")
    rng, classes = np.random.default_rng(args.seed), CLASSES[:args.classes]
    if args.test_per_class:
        n = write(os.path.join(args.out, "train"), args.per_class, args.size, rng, classes)
        n += write(os.path.join(args.out, "test"), args.test_per_class, args.size, rng, classes)
    else:
        n = write(args.out, args.per_class, args.size, rng, classes)
    print(f"wrote {n} images of {len(classes)} classes ({', '.join(classes)}) into {args.out}")


if __name__ == "__main__":
    main()
