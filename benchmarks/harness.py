"""What every benchmark shares: its command line, the machine header, interleaved rounds, ratio summaries and
the matmul probe that is the machine's own yardstick.

A shared machine's speed drifts from one minute to the next, so a ratio of two medians taken minutes apart
can read either way. Here the variants alternate within each round (A B, then B A, ...), each round's
ratio is kept, and the median of those ratios is reported with its range.
"""
from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import time
from typing import Callable, TypeVar

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # as a run sets it (device.onednn)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MATMUL_SIZE = 2048
T = TypeVar("T")


def parser(doc: str, rounds: int | None = 5) -> argparse.ArgumentParser:
    """The benchmarks' common command line: the script's docstring as help, and --rounds (unless None)."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if rounds is not None:
        p.add_argument("--rounds", type=int, default=rounds, help=f"interleaved rounds (default {rounds})")
    return p


def start(argv: list[str] | None = None) -> None:
    """The first lines of every output: the machine, and the command that gave the figures (the script's
    arguments: `argv`, or the command line's)."""
    from finetune_lab import machine

    print(machine.header(machine.describe()))
    print(f"# $ python {shlex.join(sys.argv[:1] + (sys.argv[1:] if argv is None else argv))}", flush=True)


def interleave(variants: dict[str, Callable[[], T]], rounds: int) -> dict[str, list[T]]:
    """Each variant's measurement once per round, the order reversed every other round; {name: [per round]}."""
    names = list(variants)
    values: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            values[name].append(variants[name]())
    return values


def per_round(values: dict[str, list[float]], name: str, baseline: str) -> list[float]:
    return [a / b for a, b in zip(values[name], values[baseline])]


def spread(values: list[float], unit: str = "x", digits: int = 2) -> str:
    """Median of per-round values and their range, e.g. "2.13x (1.98-2.31, 5 rounds)"."""
    lo, mid, hi = (f"{v:.{digits}f}" for v in (min(values), statistics.median(values), max(values)))
    return f"{mid}{unit} ({lo}-{hi}, {len(values)} rounds)"


def rate(work: Callable[[], object], amount: float) -> Callable[[], float]:
    """A measurement: `amount` (images, FLOPs) over the seconds `work()` takes."""
    def measure() -> float:
        begin = time.perf_counter()
        work()
        return amount / (time.perf_counter() - begin)

    return measure


def matmul_gflops(dtype: str, size: int = MATMUL_SIZE, repeats: int = 4) -> Callable[[], float]:
    """A measurement of this machine's matrix-multiply rate in GFLOP/s: `repeats` size x size products in
    `dtype` through keras.ops (the framework the models run in), warmed up once."""
    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    a, b = (keras.ops.convert_to_tensor(rng.standard_normal((size, size)), dtype=dtype) for _ in range(2))

    def work():
        for _ in range(repeats):
            out = keras.ops.matmul(a, b)
        keras.ops.convert_to_numpy(keras.ops.cast(out[0, 0], "float32"))  # wait for the last product

    work()
    return rate(work, repeats * 2 * size ** 3 / 1e9)


def table(*columns: str) -> Callable[..., None]:
    """Print a Markdown table header; return the function that prints its rows."""
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns), flush=True)
    return lambda *cells: print("| " + " | ".join(str(c) for c in cells) + " |", flush=True)


def config(*overrides: str):
    """The project's composed config with `overrides`, as the command line would make it."""
    from finetune_lab.config import compose

    return compose(*overrides)
