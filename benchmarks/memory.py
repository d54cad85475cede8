"""Peak memory of a 224x224 trainable run against the size of the data set.

    python benchmarks/memory.py                 # 6,000 vs 60,000 synthetic MNIST-shaped images
    python benchmarks/memory.py --steps 20 --batch 16

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
n, steps, batch, size = map(int, sys.argv[1:5])
rng = np.random.default_rng(0)
x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8); y = rng.integers(0, 10, n)
base = keras.applications.VGG16(weights=None, include_top=False, input_shape=(size, size, 3))
inputs = keras.Input((size, size, 3))
out = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(base(inputs)))
model = keras.Model(inputs, out)
model.compile(optimizer="adam", loss="categorical_crossentropy")
ds = data.training_dataset(x, y, data.image_transform(size, "seed", "seed", "unit"), 10, batch, 0, 0, 1)
model.fit(ds.take(steps), verbose=0)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
"""


def peak_gib(n: int, steps: int, batch: int, size: int) -> float:
    out = subprocess.run([sys.executable, "-c", CHILD, str(n), str(steps), str(batch), str(size)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()
    print(f"# VGG16 trainable at {args.size}x{args.size}, batch {args.batch}, {args.steps} steps; peak RSS")
    print("| images | streaming (peak RSS, GiB) | the study's in-memory float32 set (GiB) |")
    print("|---|---|---|")
    peaks = {}
    for n in (6_000, 60_000):
        peaks[n] = peak_gib(n, args.steps, args.batch, args.size)
        whole = n * args.size * args.size * 3 * 4 / 2**30
        print(f"| {n:,} | {peaks[n]:.2f} | {whole:.1f} |", flush=True)
    print(f"ratio 60,000 / 6,000: {peaks[60_000] / peaks[6_000]:.2f}")


if __name__ == "__main__":
    main()
