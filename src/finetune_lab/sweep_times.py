"""How long each sweep of a study took, and on which CPU, from its runs' records (metrics.json).

    python -m finetune_lab.sweep_times experiments/runs/study_split [--out FILE]

(`finetune-lab-study STUDY.yaml tables` writes it where the study file's `tables: sweep_times:` says.)

One markdown row per sweep folder: finished runs, the sum and median of their wall times (a run's own
`wall_seconds`, from the start of the run to metrics.json, over all its attempts when it was resumed; records
written before that count was kept, 2026-12-02, hold a resumed run's last attempt only; a sweep's wall clock adds a
few seconds a job for Hydra), the median training rate (`train_images_per_second`: images per second in
training steps, validation excluded; over the runs that trained through the base where a sweep also has runs of
a frozen base, whose heads train on stored features; a sweep of those alone says so), and the CPU and precision
they ran on. Runs that shared the machine with other work ran slower; the times are what a user with the same
CPU should expect at most.
"""
from __future__ import annotations

import argparse
import os
import statistics

import pandas as pd

from . import machine, tables
from .runs import find_runs, load_run


def sweep_row(folder: str) -> dict | None:
    runs = [load_run(path) for path in find_runs([folder])]
    done = [run for run in runs if run.metrics.get("wall_seconds") is not None]
    if not done:
        return None
    walls = [run.metrics["wall_seconds"] for run in done]
    cpus = sorted({machine.recorded_cpu(run.metrics) for run in done})
    precisions = sorted({str(run.config.get("training.precision", "fp32")) for run in done})
    return {"sweep": os.path.basename(folder), "runs": len(done), "of": len(runs),
            "hours": sum(walls) / 3600, "median_min": statistics.median(walls) / 60, "rate": _rate(done),
            "cpu": "; ".join(cpus), "precision": ", ".join(precisions)}


def _rate(runs: list) -> str:
    """Median training rate, over the runs that trained through the base where a sweep mixes them with runs
    of a frozen base (whose heads train on stored features, far faster)."""
    timed = [run for run in runs if run.metrics.get("train_images_per_second")]
    through = [run for run in timed if not (run.metrics.get("feature_cache") or {}).get("used")]
    chosen = through or timed
    if not chosen:
        return "—"
    sizes = "/".join(sorted({f"{run.config.get('data.input_size', '?')}px" for run in chosen}))
    rate = statistics.median(run.metrics["train_images_per_second"] for run in chosen)
    return f"{rate:.1f} at {sizes}" + ("" if through else ", head on stored features")


def table(root: str) -> str:
    rows = [row for name in sorted(os.listdir(root)) if os.path.isdir(os.path.join(root, name))
            and (row := sweep_row(os.path.join(root, name)))]
    frame = pd.DataFrame([[r["sweep"], f"{r['runs']} of {r['of']}", f"{r['hours']:.2f}", f"{r['median_min']:.1f}",
                           r["rate"], r["cpu"], r["precision"]] for r in rows],
                         columns=["sweep", "finished runs", "run time, sum (h)", "per run, median (min)",
                                  "training images/s, median", "CPU",
                                  "precision"])
    return tables.markdown(frame) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", help="a folder of sweep folders (run folders or their records)")
    parser.add_argument("--out", help="also write the table to this file")
    args = parser.parse_args(argv)
    text = table(args.root)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    print(text, end="")


if __name__ == "__main__":
    main()
