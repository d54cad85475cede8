"""A frozen-base run with and without the feature cache, through the real command line, interleaved.

    python benchmarks/frozen_cache.py                      # 20 epochs, 640 training images, seed 0, 3 rounds
    python benchmarks/frozen_cache.py --epochs 5 --cutoff 0.1 --rounds 2
    python benchmarks/frozen_cache.py --precision bf16     # the same with training.precision=bf16

Each round runs both settings, each in a fresh process (a run's state is its own), the order reversed
every other round. Prints each round's training time of each (the cached one counts computing the
features), the speed-up as the median of the per-round ratios with their range, and the test accuracy of
each on the 1,000 held-out embedded images.
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import harness


def run(args: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as cwd:
        subprocess.run([sys.executable, "-m", "finetune_lab", *args], cwd=cwd, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        (metrics,) = Path(cwd, "outputs", "runs").glob("*/metrics.json")
        return json.loads(metrics.read_text())


def main(argv: list[str] | None = None) -> None:
    p = harness.parser(__doc__, rounds=3)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--cutoff", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    args = p.parse_args(argv)
    harness.start(argv)
    common = ["model.freeze=all", f"training.epochs={args.epochs}", f"data.cutoff_rate={args.cutoff}",
              f"seed={args.seed}", f"training.precision={args.precision}", "analysis.feature_maps.enabled=false",
              "analysis.original_task.enabled=false", "analysis.layer_change.enabled=false",
              "output.save_model=false"]
    print(f"# finetune-lab {' '.join(common)} training.cache_features=false|true")
    accuracy = {}

    def seconds(flag: str):
        def measure() -> float:
            m = run(common + [f"training.cache_features={flag}"])
            accuracy.setdefault(flag, set()).add(m["test"]["accuracy"])
            return m["train_seconds"] + m.get("feature_cache", {}).get("seconds", 0.0)  # cached: both
        return measure

    values = harness.interleave({"false": seconds("false"), "true": seconds("true")}, args.rounds)
    row = harness.table("cache", "training s, per round", "training s (median)", "test accuracy")
    for flag in ("false", "true"):
        row(flag, " ".join(f"{s:.1f}" for s in values[flag]), f"{statistics.median(values[flag]):.1f}",
            " ".join(f"{a:.4f}" for a in sorted(accuracy[flag])))
    print(f"speed-up (no cache / cache): {harness.spread(harness.per_round(values, 'false', 'true'))}")


if __name__ == "__main__":
    main()
