"""Fake sweeps for the verdict, summary and planner tests: run folders with a config and a metrics.json and no
training, whose numbers are chosen so that each row can be checked by hand. conftest.py makes them the `root`
fixture."""
import json
from pathlib import Path

import yaml


def fake_run(folder, accuracy, seed, train=1600, **config):
    """A fake run folder: config, and metrics.json with `train_eval` (unless train_eval=None), and the
    `original_task` / `layer_change` sections when edge= / cka= are given."""
    (folder / ".hydra").mkdir(parents=True)
    cfg = {"seed": seed, "data": {"source": "mnist", "cutoff_rate": config.get("cutoff", 0.0333), "input_size": 48,
                                  "placement": config.get("placement", "seed"), "channels": "seed",
                                  "preprocess": config.get("preprocess", "unit")},
           "model": {"weights": "hed_bsds500", "freeze": config.get("freeze", "all"), "output_units": 10,
                     "head": {"name": "fc4096x2", "units": [4096, 4096], "dropout": 0.5}},
           "training": {"epochs": 3, "samples_per_epoch": 1600, "batch_size": 32,
                        "optimizer": {"name": config.get("optimizer", "sgd"), "lr": config.get("lr", 1e-5),
                                      "momentum": 0.5}}}
    (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump(cfg))
    status = config.get("status", "completed")
    metrics = {"status": status, "provenance": {"data": {"counts": {"train": train, "val": 400, "test": 10000}}}}
    if status == "completed":
        metrics["test"] = {"accuracy": accuracy, "n": 10000, "ci95": [accuracy - 0.01, accuracy + 0.01]}
        metrics["train"] = {"accuracy": accuracy - 0.2}  # Keras' log, dropout on: never the gap's minuend
        if config.get("train_eval", 0.0) is not None:
            metrics["train_eval"] = {"accuracy": accuracy + config.get("train_eval", 0.0), "loss": 0.1, "n": train}
        if "edge" in config:
            metrics["original_task"] = {"task": "HED", "edge_correlation": config["edge"], "edge_f1": config["edge"] - 0.1}
        if "cka" in config:
            metrics["layer_change"] = {"relative_weight_change": {"block5_conv3": 0.1},
                                       "cka": {"block4_pool": config["cka"] + 0.1, "block5_pool": config["cka"]}}
    (folder / "metrics.json").write_text(json.dumps(metrics))


FREEZE = {"all": ((0.10, 1.0), (0.12, 1.0), (0.11, 1.0)),   # (test accuracy, edge correlation) per seed
          "block4": ((0.60, 0.80), (0.66, 0.85), (0.62, 0.83)),
          "none": ((0.95, 0.40), (0.97, 0.50), (0.96, 0.45))}


# A 2^3 design, optimizer x preprocess x placement, two runs per cell at the cell's mean -+ 0.01 (a third at
# adam/vgg16/center, one at placement resize that is neither level): optimizer +0.2, vgg16 +0.1, both +0.1 more.
FACTORIAL = {(optimizer, preprocess, placement): 0.3 + 0.2 * (optimizer == "adam") + 0.1 * (preprocess == "vgg16")
             + 0.1 * (optimizer == "adam" and preprocess == "vgg16")
             for optimizer in ("sgd", "adam") for preprocess in ("unit", "vgg16") for placement in ("seed", "center")}
FACTORS = {"training.optimizer.name": ["sgd", "adam"], "data.preprocess": ["unit", "vgg16"],
           "data.placement": ["seed", "center"]}
LRS = {1e-5: (0.10, 0.11, 0.12), 3e-5: (0.09, 0.10, 0.11), 1e-4: (0.11, 0.12, 0.13)}  # SGD at chance at each


def make(folder: Path) -> Path:
    """The fake sweeps, each a folder of fake runs, in `folder`: sgd, adam (one failed), sizes, freeze,
    factorial, lrs, lr_once and no_lr."""
    for i, acc in enumerate((0.101, 0.113, 0.108)):
        fake_run(folder / "sgd" / str(i), acc, i)
    for i, acc in enumerate((0.52, 0.55, 0.50)):  # the third was run before train_eval existed
        fake_run(folder / "adam" / str(i), acc, i, optimizer="adam", train_eval=(0.04, 0.05, None)[i])
    fake_run(folder / "adam" / "3", None, 3, optimizer="adam", status="failed")
    for j, (size, accs) in enumerate({48: (0.4, 0.45), 120: (0.86, 0.87), 400: (0.86, 0.88), 1600: (0.89, 0.9)}.items()):
        for seed, acc in enumerate(accs):
            fake_run(folder / "sizes" / f"{j}_{seed}", acc, seed, train=size, cutoff=size / 48000)
    for level, seeds in FREEZE.items():
        for seed, (acc, edge) in enumerate(seeds):
            fake_run(folder / "freeze" / f"{level}_{seed}", acc, seed, freeze=level, optimizer="adam", edge=edge,
                 cka=edge - 0.05)
    fake_run(folder / "freeze" / "block2_0", 0.5, 0, freeze="block2", optimizer="adam", edge=0.9, cka=0.9)
    fake_run(folder / "freeze" / "sgd_none", 0.1, 0, freeze="none", edge=1.0, cka=1.0)  # another optimizer
    for (optimizer, preprocess, placement), accuracy in FACTORIAL.items():
        for seed, noise in enumerate((-0.01, 0.01)):
            fake_run(folder / "factorial" / f"{optimizer}_{preprocess}_{placement}_{seed}", accuracy + noise, seed,
                 optimizer=optimizer, preprocess=preprocess, placement=placement)
    fake_run(folder / "factorial" / "third", 0.7, 2, optimizer="adam", preprocess="vgg16", placement="center")
    fake_run(folder / "factorial" / "resized", 0.9, 0, optimizer="adam", preprocess="vgg16", placement="resize")
    for lr, accuracies in LRS.items():
        for seed, accuracy in enumerate(accuracies):
            fake_run(folder / "lrs" / f"{lr}_{seed}", accuracy, seed, lr=lr)
    fake_run(folder / "lr_once" / "0", 0.1, 0, lr=1e-3)
    fake_run(folder / "no_lr" / "0", 0.9, 0)
    unset = folder / "no_lr" / "0" / ".hydra" / "config.yaml"  # a run from before the key existed
    config = yaml.safe_load(unset.read_text())
    del config["training"]["optimizer"]["lr"]
    unset.write_text(yaml.safe_dump(config))
    return folder


TREND = {"key": "model.freeze", "levels": ["all", "block4", "none"]}
ADAM = {"training.optimizer.name": "adam"}


def write_claims(tmp_path, claims):
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump({"claims": claims}))
    return str(path)
