"""Peak memory of a 224x224 trainable run against the size of the data set, over real digits.

    python benchmarks/memory.py                 # 6,000 vs 60,000 MNIST digits (data.source=mnist), 2 rounds
    python benchmarks/memory.py --steps 20 --batch 16
    python benchmarks/memory.py --input-only --steps 500 --batch 64   # the input pipeline alone, E9's batch

The digits come from data.source=mnist (the official 60,000 training images); where that cannot load, from
mnist_embedded's 4,000-image pool repeated to each size, and the output says so. Each size runs in a fresh
process (its peak RSS is its own), the sizes alternating within each round: the digits are held as uint8
28x28 and placed, channelled and preprocessed per batch by the run's own pipeline (E9's input: the study's
placement, channels and /255), the model is the project's VGG16 (finetune_lab.model.build). The study's
approach (the whole padded float32 set in memory) is computed for the same sizes.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile

import numpy as np

import harness

SIZES = (6_000, 60_000)

CHILD = r"""
import os, resource, sys
sys.path.insert(0, sys.argv[1])
import harness, numpy as np
from finetune_lab import data, model as models, train
digits, steps, batch, size, with_model = sys.argv[2], *map(int, sys.argv[3:7])
with np.load(digits) as f:
    x, y = f["x"], f["y"]
cfg = harness.config(f"data.input_size={size}", "data.placement=seed", "data.channels=seed", "data.preprocess=unit",
                     "model.weights=null", f"training.batch_size={batch}")
batches = data.training_batches(x, y, 10, batch, 0, 0, 1, steps * batch)
layer = data.digit_input(cfg.data)
if with_model:
    model, _ = models.build(cfg)
    on_digits = data.on_digits(model, layer)
    train.compile_model(on_digits, cfg.training)
    on_digits.fit(batches, steps_per_epoch=steps, verbose=0)
else:  # the input path alone: host batches through DigitInput's transforms
    rss = lambda: int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30
    for step, (images, _) in enumerate(batches, start=1):
        layer(images)
        if step in (steps // 10, steps):
            print(f"rss after {step} steps: {rss():.2f}")
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
"""


def real_digits(sizes: tuple[int, ...]) -> tuple[dict, str]:
    """{size: (x, y)} of real digits, and where they come from."""
    from finetune_lab import sources
    from finetune_lab.errors import UserError

    try:
        digits, note = sources.load_digits("mnist"), "data.source=mnist (the official training images)"
    except UserError as exc:
        digits = sources.load_digits("mnist_embedded")
        note = (f"NOTE: data.source=mnist is not available here ({sources.first_line(exc)}); the "
                f"{len(digits.y_pool):,} real digits of mnist_embedded's pool, repeated to each size")
    pick = {n: [i % len(digits.y_pool) for i in range(n)] for n in sizes}
    return {n: (digits.x_pool[idx], digits.y_pool[idx]) for n, idx in pick.items()}, note


def peak_gib(path: str, n: int, args) -> float:
    out = subprocess.run([sys.executable, "-c", CHILD, os.path.dirname(os.path.abspath(__file__)), path,
                          str(args.steps), str(args.batch), str(args.size), str(int(not args.input_only))],
                         capture_output=True, text=True, check=True)
    lines = out.stdout.strip().splitlines()
    for line in lines[:-1]:
        print(f"  {n:,} images, {line} GiB", flush=True)
    return float(lines[-1])


def main(argv: list[str] | None = None) -> None:
    p = harness.parser(__doc__, rounds=2)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--input-only", action="store_true", help="the training input pipeline alone, no model")
    args = p.parse_args(argv)
    harness.start(argv)
    sets, note = real_digits(SIZES)
    print(f"# digits: {note}")
    what = "the training input pipeline alone" if args.input_only else "VGG16 trainable"
    print(f"# {what} at {args.size}x{args.size}, batch {args.batch}, {args.steps} steps; peak RSS, each size in "
          f"a fresh process, {args.rounds} interleaved rounds")
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for n, (x, y) in sets.items():
            paths[n] = os.path.join(tmp, f"{n}.npz")
            np.savez(paths[n], x=x, y=y)
        values = harness.interleave({n: (lambda n=n: peak_gib(paths[n], n, args)) for n in SIZES}, args.rounds)
    row = harness.table("images", "streaming, peak RSS per round (GiB)", "median (GiB)",
                        "the study's in-memory float32 set (GiB)")
    for n in SIZES:
        row(f"{n:,}", " ".join(f"{v:.2f}" for v in values[n]), f"{statistics.median(values[n]):.2f}",
            f"{n * args.size * args.size * 3 * 4 / 2**30:.1f}")
    print(f"ratio {SIZES[1]:,} / {SIZES[0]:,}: {harness.spread(harness.per_round(values, SIZES[1], SIZES[0]))}")


if __name__ == "__main__":
    main()
