"""`finetune-lab-tradeoff RUN_DIR [--alphas ...]`: the transfer / forgetting trade-off of a finished run.

The base's weights are interpolated between pretrained and fine-tuned, theta_a = (1 - a) theta_pre + a theta_ft
(WiSE-FT's weight-space ensemble), nothing re-fitted. At each a: the target task's test accuracy (the
fine-tuned head kept) and the original task's agreement with the pretrained network. a=0 is the pretrained
base under the fine-tuned head; a=1 is the run's model. The run's model.keras, its input path included, scores the
run's own test images. Writes tradeoff.csv and tradeoff.png into RUN_DIR.
"""
from __future__ import annotations

import argparse
import logging
import os

from . import backend, files
from .errors import UserError, fail
from .rundir import load_run_config

log = logging.getLogger("finetune_lab.tradeoff")

DEFAULT_ALPHAS = tuple(round(0.1 * i, 1) for i in range(11))


def interpolated(pretrained: dict, finetuned: dict, alpha: float) -> dict:
    from .forgetting import interpolate

    return {name: interpolate(pretrained[name], finetuned[name], alpha) for name in finetuned}


def compute(cfg, run_dir: str, alphas: list[float]) -> list[dict]:
    """One row per alpha: alpha, test_accuracy and the original task's agreement measures."""
    from . import data, evaluate, model as models, original_task, sources

    path = os.path.join(run_dir, "model.keras")
    if not os.path.isfile(path):
        raise UserError(f"{run_dir}: no model.keras (the run did not finish, or ran with output.save_model=false)")
    model = models.load_saved(path)  # on the run's own images: its input path inside
    base = data.parts(model)[1].get_layer(cfg.model.base)
    pre = original_task.pretrained_base(cfg)
    if pre is None:
        raise UserError(f"{run_dir}: model.weights=null, so there is no pretrained base to interpolate from")
    pretrained, finetuned = original_task.weighted_layers(pre), original_task.weighted_layers(base)
    layers = {name: base.get_layer(name) for name in finetuned}

    digits = sources.load_images(cfg.data)
    split = data.split_from_config(digits, cfg.data)
    task = original_task.prepare(cfg).task(cfg)
    if task is None:
        log.warning("model.weights=%r has no known original task: only test accuracy is measured", cfg.model.weights)

    rows = []
    for alpha in alphas:
        weights = interpolated(pretrained, finetuned, alpha)
        original_task.set_layers(layers, weights)
        probs = model.predict(data.as_dataset(split.x_test, cfg.training.batch_size),
                              batch_size=cfg.training.batch_size, verbose=0)
        row = {"alpha": alpha, "test_accuracy": evaluate.top1_accuracy(probs, split.y_test)}
        if task is not None:
            report = task.compare(task.outputs(weights))
            row.update({key: report[key] for key in task.agreement})
        log.info("alpha %.2f: %s", alpha, " ".join(f"{k}={v:.4f}" for k, v in row.items() if k != "alpha"))
        rows.append(row)
    return rows


def write(rows: list[dict], run_dir: str, title: str) -> tuple[str, str]:
    from . import plots
    from .forgetting import AGREEMENT

    csv_path, png_path = os.path.join(run_dir, "tradeoff.csv"), os.path.join(run_dir, "tradeoff.png")
    files.write_csv(csv_path, rows)
    plots.tradeoff(rows, [k for k in AGREEMENT if k in rows[0]], png_path, title)
    return csv_path, png_path


def _alpha(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not in [0, 1]")
    return value


def main(argv: list[str] | None = None) -> None:
    """`finetune-lab-tradeoff RUN_DIR [--alphas A ...]`: interpolate the base between pretrained and fine-tuned."""
    parser = argparse.ArgumentParser(prog="finetune-lab-tradeoff", description=main.__doc__)
    parser.add_argument("run_dir", help="a finished run folder (it holds model.keras and .hydra/config.yaml)")
    parser.add_argument("--alphas", type=_alpha, nargs="+", default=list(DEFAULT_ALPHAS),
                        help="interpolation weights in [0, 1] (default 0, 0.1, ..., 1)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    try:
        cfg = load_run_config(args.run_dir)
        backend.start(cfg.device, cfg.training.deterministic)
        rows = compute(cfg, args.run_dir, sorted(set(args.alphas)))
        paths = write(rows, args.run_dir, f"{args.run_dir}: model.weights={cfg.model.weights} "
                                          f"model.freeze={cfg.model.freeze}")
    except UserError as exc:
        fail(parser.prog, str(exc))
    print("wrote " + " and ".join(paths))


if __name__ == "__main__":
    main()
