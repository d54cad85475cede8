"""VGG16 throughput on this machine, as interleaved ratios and as a fraction of the machine's own matmul rate.

    python benchmarks/throughput.py                            # every figure, 5 rounds
    python benchmarks/throughput.py --figures bf16 --sizes 48,224 --rounds 5
    python benchmarks/throughput.py --figures probe,infer --rounds 3

Figures (each an interleaved block: the variants alternate within every round, the ratio is the median of
the per-round ratios with their range; models are the project's own, finetune_lab.model.build(cfg) with
model.weights=null, compiled by finetune_lab.train, trained with Keras fit on real digits already placed
and preprocessed, except `pipeline`):
  probe     a 2048x2048 matmul through keras.ops, fp32 and bf16: the machine's limit in GFLOP/s
  bf16      training.precision=bf16 vs fp32 training at each of --sizes; the probe runs in the same rounds,
            so each rate is also a fraction of the probe's rate in the same dtype, measured minutes apart at most
  pipeline  the run's input path (host uint8 batches, DigitInput in the step) vs fit on pre-built tensors, fp32, 48x48
  xla       jit_compile=True vs Keras' default (no XLA on CPU), fp32, 48x48
  infer     forward only (Keras predict: what the frozen-feature cache and inference do), bf16 vs fp32
VGG16's conv base costs 15.35 GMAC per 224x224 image (0.705 at 48x48), scaled by area; 1 MAC = 2 FLOP;
training counts 3x the forward pass.
"""
from __future__ import annotations

import statistics

import harness

VGG16_GMAC_224 = 15.35  # multiply-accumulates of the conv base per 224x224 image
FLOPS_PER_MAC = {"train": 6, "infer": 2}  # forward 2 FLOPs per MAC; backward about twice the forward
FIGURES = ("probe", "bf16", "pipeline", "xla", "infer")


def vgg16_gflop(size: int, mode: str) -> float:
    """GFLOP per image of VGG16's conv base at `size`x`size`, for training or inference."""
    return VGG16_GMAC_224 * (size / 224) ** 2 * FLOPS_PER_MAC[mode]


class Bench:
    """One VGG16 (the project's model for data.input_size=size, training.precision=precision) and real digits
    prepared for it; its measurements return images/s."""

    def __init__(self, size: int, precision: str, images: int, batch: int, jit: bool = False):
        import keras

        from finetune_lab import data, model as models, sources, train

        self.cfg = harness.config(f"data.input_size={size}", f"training.precision={precision}",
                                  "model.weights=null", f"training.batch_size={batch}")
        self.model, _ = models.build(self.cfg)
        train.compile_model(self.model, self.cfg.training)
        self.model.jit_compile = jit
        digits = sources.load_digits("mnist_embedded")
        self.digits, self.labels = digits.x_pool[:images], digits.y_pool[:images]
        self.x = data.model_inputs(data.digit_input(self.cfg.data), self.digits)
        self.y = keras.utils.to_categorical(self.labels, 10)
        self.images, self.batch = images, batch
        self.model.fit(self.x[:batch], self.y[:batch], batch_size=batch, verbose=0)  # trace outside the timing
        self.model.predict(self.x[:batch], batch_size=batch, verbose=0)

    def train(self):
        return harness.rate(lambda: self.model.fit(self.x, self.y, batch_size=self.batch, verbose=0,
                                                   shuffle=False), self.images)

    def pipeline(self):
        """The run's own input path: uint8 digits fed from the host, DigitInput's transforms in the step."""
        from finetune_lab import data, train

        on_digits = data.on_digits(self.model, data.digit_input(self.cfg.data))
        train.compile_model(on_digits, self.cfg.training)
        steps = data.steps_per_epoch(self.images, self.batch)

        def fit(n=steps):
            batches = data.training_batches(self.digits, self.labels, 10, self.batch, 0, 0, 1)
            on_digits.fit(batches, steps_per_epoch=n, verbose=0)

        fit(1)  # trace outside the timing, as for raw fit
        return harness.rate(fit, self.images)

    def infer(self):
        return harness.rate(lambda: self.model.predict(self.x, batch_size=self.batch, verbose=0), self.images)


def images_at(size: int, images: int, batch: int) -> int:
    """`images` at 48x48, fewer at larger sizes (the same pixels), whole batches, at least one."""
    return max(batch, images * 48 * 48 // (size * size) // batch * batch)


def probe_block(rounds: int) -> None:
    values = harness.interleave({p: harness.matmul_gflops(d) for p, d in (("fp32", "float32"),
                                                                          ("bf16", "bfloat16"))}, rounds)
    row = harness.table("probe (2048x2048 matmul, keras.ops)", "fp32 GFLOP/s", "bf16 GFLOP/s", "bf16 / fp32")
    row("median of rounds", *(f"{statistics.median(values[p]):.0f}" for p in ("fp32", "bf16")),
        harness.spread(harness.per_round(values, "bf16", "fp32")))


def precision_block(mode: str, size: int, images: int, batch: int, rounds: int) -> None:
    """bf16 vs fp32 (training or inference) at one size, with the probe in the same rounds."""
    n = images_at(size, images, batch)
    benches = {p: Bench(size, p, n, batch) for p in ("fp32", "bf16")}
    variants = {}
    for precision, dtype in (("fp32", "float32"), ("bf16", "bfloat16")):
        variants[precision] = getattr(benches[precision], mode)()
        variants[f"probe {precision}"] = harness.matmul_gflops(dtype)
    values = harness.interleave(variants, rounds)
    flop = vgg16_gflop(size, mode)
    print(f"\n{mode} at {size}x{size}, batch {batch}, {n} images per round, {rounds} rounds")
    row = harness.table("precision", "images/s (median)", "GFLOP/s", "% of the probe (same rounds)",
                        "ratio to fp32")
    for p in ("fp32", "bf16"):
        rate = statistics.median(values[p])
        percent = [100 * r * flop / g for r, g in zip(values[p], values[f"probe {p}"])]
        ratio = harness.spread(harness.per_round(values, p, "fp32")) if p == "bf16" else "1 (baseline)"
        row(p, f"{rate:.1f}", f"{rate * flop:.0f}", harness.spread(percent, "%", 0), ratio)


def option_block(name: str, images: int, batch: int, rounds: int) -> None:
    """The streaming pipeline or XLA against fit on pre-built tensors, fp32 at 48x48."""
    base = Bench(48, "fp32", images, batch)
    other = base.pipeline() if name == "pipeline" else Bench(48, "fp32", images, batch, jit=True).train()
    values = harness.interleave({"raw": base.train(), name: other}, rounds)
    label = {"pipeline": "the run's input path (DigitInput in the step)", "xla": "XLA jit_compile=True"}[name]
    print(f"\n{label} vs fit on pre-built tensors, fp32 48x48, batch {batch}, {images} images, {rounds} rounds")
    row = harness.table("variant", "images/s (median)", "ratio to raw fit")
    for key in ("raw", name):
        row(key, f"{statistics.median(values[key]):.1f}",
            harness.spread(harness.per_round(values, key, "raw")) if key != "raw" else "1 (baseline)")


def main(argv: list[str] | None = None) -> None:
    p = harness.parser(__doc__)
    p.add_argument("--figures", default=",".join(FIGURES), help=f"comma-separated, from {', '.join(FIGURES)}")
    p.add_argument("--sizes", default="48,224", help="input sizes of the bf16 and infer figures")
    p.add_argument("--images", type=int, default=128, help="images per round at 48x48 (fewer, same pixels, "
                                                           "at larger sizes; one batch at least)")
    p.add_argument("--batch", type=int, default=32)
    args = p.parse_args(argv)
    figures = args.figures.split(",")
    unknown = set(figures) - set(FIGURES)
    if unknown:
        p.error(f"--figures: {', '.join(sorted(unknown))} unknown; allowed: {', '.join(FIGURES)}")
    harness.start(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    if "probe" in figures:
        probe_block(args.rounds)
    for mode in ("train", "infer"):
        if (mode if mode == "infer" else "bf16") in figures:
            for size in sizes:
                precision_block(mode, size, args.images, args.batch, args.rounds)
    for name in ("pipeline", "xla"):
        if name in figures:
            option_block(name, args.images, args.batch, args.rounds)


if __name__ == "__main__":
    main()
