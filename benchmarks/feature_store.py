"""A sweep of 8 frozen-base jobs that share their base vs one such run alone, at 224x224, through the real
command line, with the feature store empty at the start of each.

    python benchmarks/feature_store.py                                   # 200 images, 100 test images, 2 rounds
    python benchmarks/feature_store.py --images 100 --test-images 50 --rounds 1
    python benchmarks/feature_store.py --no-store                        # the same with training.feature_store=null

The single run is one job of the sweep; the sweep (`finetune-lab -m`, Hydra's basic launcher: its jobs one
after the other in one process) is 2 optimizers x 2 learning rates x 2 seeds. With the store its first job
computes the base's outputs for the training, validation and test digits and the other 7 read them; without
it every job computes them again (about 8x the single run). Each variant runs in a fresh process with a new
empty store, the order reversed every other round. Prints each round's wall seconds of each (the process's
start included), where each job's base outputs came from, and sweep / single as the median of the per-round
ratios with their range (the target with the store: at most 1.5x).
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import harness

SWEEP = ["training.optimizer.name=sgd,adam", "training.optimizer.lr=1e-3,1e-4", "seed=0,1"]
SINGLE = ["training.optimizer.name=adam", "training.optimizer.lr=1e-4", "seed=0"]  # one of the sweep's jobs


def pool_size(source: str) -> int:
    """The training pool of data.source (data.cutoff_rate is a fraction of it)."""
    from finetune_lab import sources

    return len(sources.load_digits(source).y_pool)


def run(args: list[str], store: bool) -> tuple[float, list[dict]]:
    """Wall seconds of `finetune-lab ARGS` in a fresh process, in a new folder with a new store (or none), and
    the metrics.json of each run it made."""
    with tempfile.TemporaryDirectory() as cwd:
        begin = time.perf_counter()
        store_setting = f"training.feature_store={cwd}/store" if store else "training.feature_store=null"
        done = subprocess.run([sys.executable, "-m", "finetune_lab", *args, store_setting],
                              cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        seconds = time.perf_counter() - begin
        if done.returncode != 0:
            sys.exit(f"finetune-lab {' '.join(args)} failed:\n{done.stderr[-2000:]}")
        return seconds, [json.loads(p.read_text()) for p in sorted(Path(cwd, "outputs").rglob("metrics.json"))]


def origins(runs: list[dict]) -> str:
    """How many of the runs' base-output sets were computed and how many read from the store."""
    sets = [s["status"] for m in runs for s in m["feature_cache"]["sets"].values()]
    return f"{len(runs)} jobs: {sets.count('computed')} sets computed, {sets.count('hit')} read"


def main(argv: list[str] | None = None) -> None:
    p = harness.parser(__doc__, rounds=2)
    p.add_argument("--images", type=int, default=200, help="training + validation images (default 200)")
    p.add_argument("--test-images", type=int, default=100, help="test images (default 100)")
    p.add_argument("--source", default="mnist", choices=("mnist", "mnist_embedded"),
                   help="data.source (default mnist: mnist_embedded takes ~6 s to load in every job)")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--no-store", action="store_true", help="training.feature_store=null in both variants")
    args = p.parse_args(argv)
    harness.start(argv)
    common = ["model.freeze=all", "data.input_size=224", f"data.source={args.source}",
              f"data.cutoff_rate={args.images / pool_size(args.source)}",
              f"data.test_images={args.test_images}", f"training.epochs={args.epochs}",
              "analysis.feature_maps.enabled=false", "analysis.original_task.enabled=false",
              "analysis.layer_change.enabled=false", "output.save_model=false"]
    store = "training.feature_store=null" if args.no_store else "training.feature_store=<new folder>"
    print(f"# single: finetune-lab {' '.join(SINGLE + common)} {store}")
    print(f"# sweep:  finetune-lab -m {' '.join(SWEEP + common)} {store}")
    runs: dict[str, list[str]] = {"single": [], "sweep": []}

    def seconds(variant: list[str], name: str):
        def measure() -> float:
            wall, metrics = run(variant + common, store=not args.no_store)
            runs[name].append(origins(metrics))
            return wall
        return measure

    values = harness.interleave({"single": seconds(SINGLE, "single"), "sweep": seconds(["-m", *SWEEP], "sweep")},
                                args.rounds)
    row = harness.table("variant", "wall s, per round", "wall s (median)", "base outputs, per round")
    for name in ("single", "sweep"):
        row(name, " ".join(f"{s:.1f}" for s in values[name]), f"{statistics.median(values[name]):.1f}",
            "; ".join(runs[name]))
    print(f"sweep / single: {harness.spread(harness.per_round(values, 'sweep', 'single'))}")


if __name__ == "__main__":
    main()
