"""Where a VGG16 training step spends its time, fp32 against bf16, from oneDNN's verbose log.

    python benchmarks/onednn_profile.py                    # 48x48, 64 images, batch 32, 2 rounds
    python benchmarks/onednn_profile.py --size 224 --images 32 --rounds 1

Each round trains the project's model once per precision (benchmarks/throughput.py's Bench), each in a fresh
process with ONEDNN_VERBOSE=1, the precisions alternating. Every primitive oneDNN executes in the timed fit is
summed by kind and direction (e.g. convolution backward_weights) with the implementations oneDNN chose
(e.g. jit_bf16:avx512_core_bf16) and the source data type. Prints milliseconds per image for each op and
for the whole fit, medians over rounds, costliest in fp32 first, and the fp32/bf16 time ratio of each.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
from collections import defaultdict

import harness

PRECISIONS = ("fp32", "bf16")
MARK = "=== timed fit ==="
WALL = "whole fit (wall time)"
CHILD = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
import throughput
bench = throughput.Bench(int(sys.argv[3]), sys.argv[2], int(sys.argv[4]), int(sys.argv[5]))
measure = bench.train()
print("MARK", flush=True)
print(f"wall_ms,{bench.images / measure() * 1000}", flush=True)
""".replace("MARK", MARK)


def op_kind(fields: list[str]) -> tuple[str, str]:
    """('convolution backward_weights', 'jit_bf16:avx512_core_bf16 bf16') from one exec line's fields: what
    ran, and oneDNN's implementation with the source data type."""
    kind, impl, prop, descriptors = fields[5], fields[6], fields[7], fields[8]
    dtype = next((d.split(":")[1] for d in descriptors.split() if d.startswith(("src:", "diff_dst:"))), "")
    return f"{kind} {prop}".replace(" undef", ""), f"{impl} {dtype}".strip()


def profile(precision: str, args) -> dict[str, tuple[float, set[str]]]:
    """{op: (milliseconds per image summed over its executions, its implementations)} of one timed fit, and
    the fit's wall time per image as 'wall'. oneDNN times are each primitive's own; with several threads
    and TensorFlow running independent ops side by side their sum can exceed the wall time."""
    env = {**os.environ, "ONEDNN_VERBOSE": "1"}
    out = subprocess.run([sys.executable, "-c", CHILD, os.path.dirname(os.path.abspath(__file__)), precision,
                          str(args.size), str(args.images), str(args.batch)], env=env, capture_output=True,
                         text=True, check=True).stdout
    ops: dict[str, tuple[float, set[str]]] = defaultdict(lambda: (0.0, set()))
    for line in out[out.index(MARK):].splitlines()[1:]:
        fields = line.split(",")
        if line.startswith("onednn_verbose") and len(fields) > 10 and fields[3] == "exec":
            op, impl = op_kind(fields)
            ms, impls = ops[op]
            ops[op] = (ms + float(fields[-1]) / args.images, impls | {impl})
        elif line.startswith("wall_ms,"):
            ops[WALL] = (float(fields[1]) / args.images, set())
    return dict(ops)


def main(argv: list[str] | None = None) -> None:
    p = harness.parser(__doc__, rounds=2)
    p.add_argument("--size", type=int, default=48)
    p.add_argument("--images", type=int, default=64)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--top", type=int, default=8, help="oneDNN ops shown, costliest in fp32 first")
    args = p.parse_args(argv)
    harness.start(argv)
    runs = harness.interleave({pr: (lambda pr=pr: profile(pr, args)) for pr in PRECISIONS}, args.rounds)
    ops = {op for profiles in runs.values() for prof in profiles for op in prof}
    ms = {pr: {op: statistics.median(prof.get(op, (0.0,))[0] for prof in runs[pr]) for op in ops}
          for pr in PRECISIONS}
    impls = {pr: {op: " + ".join(sorted(set().union(*(prof.get(op, (0, set()))[1] for prof in runs[pr]))))
                  for op in ops} for pr in PRECISIONS}
    print(f"\ntraining, {args.size}x{args.size}, batch {args.batch}, {args.images} images per fit; ms per image, "
          f"median of {args.rounds} rounds")
    row = harness.table("oneDNN op", "fp32 implementation", "fp32 ms", "bf16 implementation", "bf16 ms",
                        "fp32 / bf16 time")
    ranked = sorted(ops - {WALL}, key=lambda op: -ms["fp32"][op])
    for op in ranked[:args.top] + [WALL]:
        f, b = ms["fp32"][op], ms["bf16"][op]
        row(op, impls["fp32"][op], f"{f:.2f}", impls["bf16"][op], f"{b:.2f}", f"{f / b:.2f}x" if b else "-")
    print("oneDNN's times are each primitive's own; ops that TensorFlow runs side by side overlap, so their "
          "sum can exceed the wall time")


if __name__ == "__main__":
    main()
