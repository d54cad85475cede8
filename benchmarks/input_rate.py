"""Input-only images/s next to training images/s, on the backend chosen (TensorFlow or JAX).

    python benchmarks/input_rate.py                          # tensorflow, 48 and 224, fp32
    python benchmarks/input_rate.py --backend jax --sizes 48 --steps 10
    python benchmarks/input_rate.py --backend jax --sizes 224 --precisions fp32,bf16 --batch 256 --peak-tflops 790

Input only: the host feed (data.training_batches: uint8 28x28 digits, 784 bytes each) and the in-step
transform (data.DigitInput: place -> channels -> VGG16 preprocessing) compiled into a predict step whose output
is reduced to one number per image, so no model and no large copy back. Training: the same feed into a trainable
VGG16 (random weights) with a 256-unit head, Adam, fit. Each rate is images / wall seconds over --steps steps
after the first (compiling) one, inside one fit / predict call. TFLOP/s counts VGG16's conv base only: 15.35 GMAC per 224x224 image (scaled by area),
2 FLOPs per MAC, training ~3x the forward pass.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from types import SimpleNamespace

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

VGG16_GMAC_224 = 15.35
TRAIN_OVER_FORWARD = 3
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


def cpu_description() -> str:
    """The CPU model and which of CPU_FLAGS it has, from /proc/cpuinfo (Linux)."""
    model, flags = platform.processor() or "unknown", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
    except OSError:
        pass
    have = " ".join(f"{flag}={'yes' if flag in flags else 'no'}" for flag in CPU_FLAGS)
    return f"{model}, {os.cpu_count()} logical CPUs; {have}"


def header(backend_name: str) -> list[str]:
    import keras

    from finetune_lab import backend, sources

    versions = {p: sources.package_version(p) for p in ("keras", "tensorflow", "jax", "jaxlib", "numpy")}
    return [f"cpu: {cpu_description()}",
            f"python {platform.python_version()}; " + ", ".join(f"{p} {v}" for p, v in versions.items() if v),
            f"backend: {backend_name} on {', '.join(backend.devices_used())} (keras {keras.__version__})"]


def digits_feed(batch: int, seed: int = 0):
    """Every epoch's uint8 batches back to back, from the embedded digits (the run's host side)."""
    from finetune_lab import data, sources

    digits = sources.load_digits("mnist_embedded")
    return data.training_batches(digits.x_pool, digits.y_pool, 10, batch, seed, 0, 10**6)


def input_layer(size: int):
    from finetune_lab import data

    return data.DigitInput(size, "center", "replicate", "vgg16", name="digit_input")


def batch_clock():
    """A callback that notes the time at the end of every train / predict batch."""
    import keras

    class Clock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.ends = []

        def on_train_batch_end(self, batch, logs=None):
            self.ends.append(time.perf_counter())

        on_predict_batch_end = on_train_batch_end

        def rate(self, batch_size: int) -> float:
            """Images/s from the end of the first batch (compilation included there) to the end of the last."""
            return (len(self.ends) - 1) * batch_size / (self.ends[-1] - self.ends[0])

    return Clock()


def input_rate(size: int, batch: int, steps: int) -> float:
    """Images/s of the host feed + the in-step transform alone."""
    import keras

    digits = keras.Input((28, 28), dtype="uint8")
    model = keras.Model(digits, keras.ops.mean(input_layer(size)(digits), axis=(1, 2, 3)))
    clock = batch_clock()
    model.predict(((x,) for x, _ in digits_feed(batch)), steps=steps + 1, verbose=0, callbacks=[clock])
    return clock.rate(batch)


def train_rate(size: int, batch: int, steps: int, precision: str = "fp32") -> float:
    """Images/s of training a trainable VGG16 + 256-unit head on the same feed."""
    import keras

    from finetune_lab import data, model as models

    keras.mixed_precision.set_global_policy("mixed_bfloat16" if precision == "bf16" else "float32")
    try:
        base = models.build_base("vgg16", (size, size, 3))
        inputs = keras.Input((size, size, 3))
        x = keras.layers.Dense(256, activation="relu")(keras.layers.Flatten()(base(inputs)))
        net = keras.Model(inputs, keras.layers.Dense(10, activation="softmax", dtype="float32")(x))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    model = data.on_digits(net, input_layer(size))
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="categorical_crossentropy")
    clock = batch_clock()
    model.fit(digits_feed(batch), steps_per_epoch=steps + 1, epochs=1, verbose=0, shuffle=False, callbacks=[clock])
    return clock.rate(batch)


def train_tflops(images_per_second: float, size: int) -> float:
    return images_per_second * VGG16_GMAC_224 * (size / 224) ** 2 * 2 * TRAIN_OVER_FORWARD / 1000


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default=os.environ.get("KERAS_BACKEND", "tensorflow"), choices=("tensorflow", "jax"))
    parser.add_argument("--sizes", default="48,224", help="comma-separated input sizes")
    parser.add_argument("--precisions", default="fp32", help="training precisions: fp32, bf16 (comma-separated)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per figure (after a warm-up)")
    parser.add_argument("--input-steps", type=int, default=None, help="timed steps of the input-only figure")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the chip's matrix rate, for a fraction")
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    args = parser.parse_args(argv)

    from finetune_lab import backend

    backend.start(SimpleNamespace(backend=args.backend, gpus=None, memory_growth=True, onednn=True))
    for line in header(args.backend):
        print(line)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        feed = input_rate(size, args.batch, args.input_steps or args.steps * 5)
        for precision in args.precisions.split(","):
            trained = train_rate(size, args.batch, args.steps, precision)
            tflops = train_tflops(trained, size)
            row = {"backend": args.backend, "size": size, "batch": args.batch, "precision": precision,
                   "input_images_per_s": round(feed, 1), "train_images_per_s": round(trained, 1),
                   "input_over_train": round(feed / trained, 1), "train_tflops": float(f"{tflops:.3g}")}
            if args.peak_tflops:
                row["fraction_of_peak"] = float(f"{tflops / args.peak_tflops:.3g}")
            rows.append(row)
            print("  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"header": header(args.backend), "rows": rows}, f, indent=1)
    return rows


if __name__ == "__main__":
    main()
