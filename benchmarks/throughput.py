"""Training throughput of VGG16 on this machine, as ratios against a baseline measured in the same run.

    python benchmarks/throughput.py            # every figure, medians over 3 repetitions
    python benchmarks/throughput.py --quick    # 1 repetition, fewer images

Prints one table row per figure: what was run, images/s (median), GFLOP/s, ratio to its baseline.
Figures: our streaming input pipeline vs Keras fit on pre-built tensors (trainable base, 48x48); bf16 vs
fp32 (Keras mixed precision); XLA (jit_compile) vs not; cost by input size (32, 48, 96, 224).
Memory flat in data size: see benchmarks/memory.py.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from finetune_lab import data, sources  # noqa: E402

VGG16_GMAC_224 = 15.35  # multiply-accumulates of the conv base per 224x224 image
TRAIN_FLOPS_PER_MAC = 6  # forward 2 FLOPs per MAC, backward about twice the forward


def model_for(size: int, trainable: bool = True) -> keras.Model:
    base = keras.applications.VGG16(weights=None, include_top=False, input_shape=(size, size, 3))
    base.trainable = trainable
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Flatten()(base(inputs))
    x = keras.layers.Dense(256, activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))


def images_per_second(fit, images: int) -> float:
    start = time.perf_counter()
    fit()
    return images / (time.perf_counter() - start)


def measure(size: int, n: int, batch: int, pipeline: bool, precision: str = "fp32", jit: bool = False,
            repeats: int = 3) -> float:
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if precision == "bf16" else "float32")
    keras.utils.set_random_seed(0)
    model = model_for(size)
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="categorical_crossentropy", jit_compile=jit)
    digits = sources.load_digits("mnist_embedded")
    x, y = digits.x_pool[:n], digits.y_pool[:n]
    transform = data.image_transform(size, "center", "replicate", "vgg16")
    steps = data.steps_per_epoch(n, batch)
    if pipeline:
        def fit():
            model.fit(data.training_dataset(x, y, transform, 10, batch, 0, 0, 1), steps_per_epoch=steps,
                      verbose=0)
    else:
        tensors, labels = transform(x).numpy(), np.eye(10, dtype="float32")[y]

        def fit():
            model.fit(tensors, labels, batch_size=batch, epochs=1, verbose=0, shuffle=True)
    warm_n = min(n, 2 * batch)
    model.fit(transform(x[:warm_n]).numpy(), np.eye(10, dtype="float32")[y[:warm_n]], batch_size=batch,
              verbose=0)  # build and trace outside the timing
    rates = [images_per_second(fit, n) for _ in range(repeats)]
    keras.mixed_precision.set_global_policy("float32")
    return statistics.median(rates)


def gflops(size: int, rate: float) -> float:
    return rate * VGG16_GMAC_224 * (size / 224) ** 2 * TRAIN_FLOPS_PER_MAC


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 repetition and fewer images")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--figures", default="pipeline,xla,sizes,bf16",
                        help="comma-separated, from pipeline, xla, sizes, bf16 (the baseline always runs)")
    parser.add_argument("--bf16-images", type=int, default=64,
                        help="images per bf16 repetition (bf16 is slow where the CPU lacks native kernels)")
    args = parser.parse_args()
    repeats, n = (1, 192) if args.quick else (3, 384)
    gpus = tf.config.list_physical_devices("GPU")
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, GPUs: {len(gpus)}; "
          f"TF {tf.__version__}, Keras {keras.__version__}; batch {args.batch}, {n} images, "
          f"median of {repeats}")
    print("| figure | images/s | GFLOP/s | ratio |")
    print("|---|---|---|---|")

    def row(name, size, rate, baseline=None):  # ratios of GFLOP/s, so input sizes compare too
        ratio = f"{gflops(size, rate) / gflops(48, baseline):.2f}x" if baseline else "1.00x (baseline)"
        print(f"| {name} | {rate:.1f} | {gflops(size, rate):.0f} | {ratio} |", flush=True)

    figures = set(args.figures.split(","))
    raw = measure(48, n, args.batch, pipeline=False, repeats=repeats)
    row("raw fit, pre-built tensors, 48x48, trainable", 48, raw)
    if "pipeline" in figures:
        row("streaming pipeline (tf.data transforms), 48x48", 48, measure(48, n, args.batch, True, repeats=repeats),
            raw)
    if "xla" in figures:
        row("XLA jit_compile, pipeline, 48x48", 48, measure(48, n, args.batch, True, jit=True, repeats=repeats), raw)
    if "sizes" in figures:
        for size in (32, 96, 224):
            count = max(args.batch, n * 48 * 48 // (size * size))
            row(f"pipeline, {size}x{size}", size, measure(size, count, args.batch, True, repeats=repeats), raw)
    if "bf16" in figures:
        row(f"bf16 mixed precision, pipeline, 48x48 ({args.bf16_images} images)", 48,
            measure(48, args.bf16_images, args.batch, True, "bf16", repeats=repeats), raw)

if __name__ == "__main__":
    main()
