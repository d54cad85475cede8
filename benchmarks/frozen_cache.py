"""A frozen-base run with and without the feature cache, through the real command line.

    python benchmarks/frozen_cache.py                  # 20 epochs, 640 training images, seed 0
    python benchmarks/frozen_cache.py --epochs 5 --cutoff 0.1

Prints the training time of each (the cached one counts computing the features), the speed-up, and the
test accuracy of each on the 1,000 held-out embedded images.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def run(args: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as cwd:
        subprocess.run([sys.executable, "-m", "finetune_lab", *args], cwd=cwd, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        (metrics,) = Path(cwd, "outputs", "runs").glob("*/metrics.json")
        return json.loads(metrics.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--cutoff", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    common = ["model.freeze=all", f"training.epochs={args.epochs}", f"data.cutoff_rate={args.cutoff}",
              f"seed={args.seed}", "analysis.feature_maps.enabled=false", "analysis.original_task.enabled=false",
              "analysis.layer_change.enabled=false", "output.save_model=false"]
    print(f"# finetune-lab {' '.join(common)} training.cache_features=true|false")
    print("| cache | training s | test accuracy |")
    print("|---|---|---|")
    seconds = {}
    for flag in ("false", "true"):
        m = run(common + [f"training.cache_features={flag}"])
        seconds[flag] = m["train_seconds"] + m.get("feature_cache", {}).get("seconds", 0.0)  # cache: both
        print(f"| {flag} | {seconds[flag]:.1f} | {m['test']['accuracy']:.4f} |", flush=True)
    print(f"speed-up: {seconds['false'] / seconds['true']:.1f}x")


if __name__ == "__main__":
    main()
