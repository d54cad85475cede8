"""Accuracy parity of training.precision=bf16 with fp32: the default run over seeds, both precisions.

    python benchmarks/bf16_parity.py --out /tmp/parity                 # seeds 0,1,2: 6 runs (~1.5 h on 2 cores)
    python benchmarks/bf16_parity.py --out /tmp/parity --summary-only  # the figures of runs already there

Runs `finetune-lab seed=S training.precision=P` (the default run; feature maps, the original-task probe,
layer change and model saving off: they do not touch training) into OUT/P_sS, fp32 and bf16 back to back
for each seed, and skips a folder that already holds a completed run, so an interrupted sweep goes on where
it stopped. Prints each run's test accuracy and training rate, the bf16 - fp32 difference of mean test
accuracy with its Welch 95% interval (finetune_lab.stats), and bf16/fp32 training rate per seed (each pair
ran back to back: an interleaved ratio).
"""
from __future__ import annotations

import os
import subprocess
import sys

import harness

PRECISIONS = ("fp32", "bf16")
QUIET = ["analysis.feature_maps.enabled=false", "analysis.original_task.enabled=false",
         "analysis.layer_change.enabled=false", "output.save_model=false"]


def run_dir(out: str, precision: str, seed: int) -> str:
    return os.path.join(out, f"{precision}_s{seed}")


def ensure_run(out: str, precision: str, seed: int) -> None:
    """The run in its folder, unless a completed one is there already; its log beside it."""
    from finetune_lab import rundir

    folder = run_dir(out, precision, seed)
    if rundir.status(folder) == "completed":
        return
    with open(folder + ".log", "w") as log:
        subprocess.run([sys.executable, "-m", "finetune_lab", f"seed={seed}", f"training.precision={precision}",
                        *QUIET, f"hydra.run.dir={folder}"], stdout=log, stderr=subprocess.STDOUT, check=True)


def summary(out: str, seeds: list[int]) -> None:
    from finetune_lab import files, stats

    metrics = {(p, s): files.read_json(os.path.join(run_dir(out, p, s), "metrics.json"))
               for p in PRECISIONS for s in seeds}
    done = [s for s in seeds if all((metrics[p, s] or {}).get("status") == "completed" for p in PRECISIONS)]
    row = harness.table("seed", *(f"{p} test accuracy" for p in PRECISIONS),
                        *(f"{p} train images/s" for p in PRECISIONS), "bf16 / fp32 rate")
    for s in done:
        m = {p: metrics[p, s] for p in PRECISIONS}
        row(s, *(f"{m[p]['test']['accuracy']:.4f}" for p in PRECISIONS),
            *(f"{m[p]['train_images_per_second']:.1f}" for p in PRECISIONS),
            f"{m['bf16']['train_images_per_second'] / m['fp32']['train_images_per_second']:.2f}x")
    if len(done) < 2:
        print(f"{len(done)} seed(s) with both runs completed: a difference interval needs 2 at least")
        return
    acc = {p: [metrics[p, s]["test"]["accuracy"] for s in done] for p in PRECISIONS}
    for p in PRECISIONS:
        c = stats.mean_ci(acc[p])
        print(f"{p}: mean test accuracy {c['mean']:.4f} (95% CI {c['ci_lo']:.4f}-{c['ci_hi']:.4f}, n={c['n']})")
    d = stats.difference_ci(acc["bf16"], acc["fp32"])
    print(f"bf16 - fp32: {100 * d['difference']:+.2f} points (Welch 95% CI {100 * d['ci_lo']:+.2f} to "
          f"{100 * d['ci_hi']:+.2f}, df {d['df']:.1f}; parity target: within 0.5 points)")
    rates = [metrics["bf16", s]["train_images_per_second"] / metrics["fp32", s]["train_images_per_second"]
             for s in done]
    print(f"bf16 / fp32 training rate, per seed: {harness.spread(rates)}")


def main(argv: list[str] | None = None) -> None:
    p = harness.parser(__doc__, rounds=None)  # the seeds are the rounds
    p.add_argument("--out", required=True, help="folder of the runs (outside the repository)")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--summary-only", action="store_true", help="no new runs: the figures of those in --out")
    args = p.parse_args(argv)
    harness.start(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"# finetune-lab seed={{{args.seeds}}} training.precision={{fp32,bf16}} {' '.join(QUIET)} "
          f"hydra.run.dir={args.out}/<precision>_s<seed>")
    if not args.summary_only:
        for seed in seeds:
            for precision in PRECISIONS:
                ensure_run(args.out, precision, seed)
    summary(args.out, seeds)


if __name__ == "__main__":
    main()
