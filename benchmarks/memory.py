"""Peak memory of a 224x224 trainable run against the size of the data set.

    python benchmarks/memory.py                 # 6,000 vs 60,000 synthetic MNIST-shaped images
    python benchmarks/memory.py --steps 20 --batch 16
    python benchmarks/memory.py --input-only --steps 500 --batch 64   # the input pipeline alone, E9's batch

Each size runs in a fresh process (its peak RSS is its own): the digits are held as uint8 28x28 and placed,
channelled and preprocessed per batch by finetune_lab.data, as every run does. The study's approach (the
whole padded float32 set in memory) is computed for the same sizes.
"""
from __future__ import annotations

import argparse
import subprocess
import sys

CHILD = r"""
import os, resource, sys
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1"); os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np, keras
from finetune_lab import data
n, steps, batch, size, with_model = map(int, sys.argv[1:6])
rng = np.random.default_rng(0)
x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8); y = rng.integers(0, 10, n)
ds = data.training_dataset(x, y, data.image_transform(size, "seed", "seed", "unit"), 10, batch, 0, 0, 1,
                           steps * batch).take(steps)
if with_model:
    base = keras.applications.VGG16(weights=None, include_top=False, input_shape=(size, size, 3))
    inputs = keras.Input((size, size, 3))
    out = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(base(inputs)))
    model = keras.Model(inputs, out)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.fit(ds, verbose=0)
else:
    rss = lambda: int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30
    for step, _ in enumerate(ds, start=1):
        if step in (steps // 10, steps):
            print(f"rss after {step} steps: {rss():.2f}")
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
"""


def peak_gib(n: int, steps: int, batch: int, size: int, with_model: bool) -> float:
    out = subprocess.run([sys.executable, "-c", CHILD, str(n), str(steps), str(batch), str(size), str(int(with_model))],
                         capture_output=True, text=True, check=True)
    lines = out.stdout.strip().splitlines()
    for line in lines[:-1]:
        print(f"  {n:,} images, {line} GiB", flush=True)
    return float(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--input-only", action="store_true", help="the training input pipeline alone, no model")
    args = parser.parse_args()
    what = "the training input pipeline alone" if args.input_only else "VGG16 trainable"
    print(f"# {what} at {args.size}x{args.size}, batch {args.batch}, {args.steps} steps; peak RSS")
    print("| images | streaming (peak RSS, GiB) | the study's in-memory float32 set (GiB) |")
    print("|---|---|---|")
    peaks = {}
    for n in (6_000, 60_000):
        peaks[n] = peak_gib(n, args.steps, args.batch, args.size, not args.input_only)
        whole = n * args.size * args.size * 3 * 4 / 2**30
        print(f"| {n:,} | {peaks[n]:.2f} | {whole:.1f} |", flush=True)
    print(f"ratio 60,000 / 6,000: {peaks[60_000] / peaks[6_000]:.2f}")


if __name__ == "__main__":
    main()
