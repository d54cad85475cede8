"""Reading run folders: find them, load each into a Run (its flat config, status, metrics, history and the reason
it did not complete), and select runs by config values. The report, the verdicts, the records and the sweep
summary read runs through here; nothing here writes to a run folder.

A run folder is one that holds `.hydra/config.yaml` (single runs, sweep jobs and their copied records alike).
This module imports neither pandas nor matplotlib: the command line uses it at start-up.
"""
from __future__ import annotations

import difflib
import math
import os
from dataclasses import dataclass, field

import yaml
from omegaconf import OmegaConf

from . import rundir
from .config import NOT_THE_JOB, cell, flatten
from .errors import UserError
from .files import natural_key, read_json

RUN_MARK = rundir.CONFIG
NOT_RUNS = {"tensorboard", "feature_maps", "backup", "report"}  # never descended into


@dataclass
class Run:
    path: str
    config: dict                       # flat: dotted key -> value (lists as "[a, b]", None as "null")
    status: str
    metrics: dict = field(default_factory=dict)
    reason: str | None = None          # why it did not complete; None when completed
    history: dict[str, list[float]] = field(default_factory=dict)   # per epoch, rundir.read_history

    def data_provenance(self) -> dict:
        """metrics.json's provenance.data: where the images came from, their counts, classes, output units."""
        return (self.metrics.get("provenance") or {}).get("data") or {}

    def data_counts(self) -> dict:
        """{"train", "val", "test"}: the images the run really had (metrics.json's provenance); {} when unknown."""
        return self.data_provenance().get("counts") or {}

    def output_units(self) -> int | None:
        """The model's output units: as the run recorded them (with model.output_units=null, the classes of its
        data), else its config's model.output_units; None when neither says."""
        recorded = self.data_provenance().get("output_units")
        units = recorded if recorded is not None else self.config.get("model.output_units")
        return None if units in (None, "null") else int(units)

    def row(self) -> dict:
        test = self.metrics.get("test") or {}
        ci = test.get("ci95") or [None, None]
        counts = self.data_counts()
        epochs = self.metrics.get("epochs_run")
        if epochs is None and self.history:
            epochs = rundir.epochs_in(self.history)
        row = {"status": self.status, "test_accuracy": test.get("accuracy"), "ci95_lo": ci[0], "ci95_hi": ci[1],
               "test_n": test.get("n"), "epochs": epochs, "train_size": counts.get("train"),
               "wall_seconds": self.metrics.get("wall_seconds"),
               "peak_rss_gib": (self.metrics.get("memory") or {}).get("peak_rss_gib"), "error": self.reason}
        section = self.metrics.get("original_task")
        if isinstance(section, dict):
            row.update(numeric_leaves(section, "original_task."))
        return row


# ----- finding and loading -----

def find_runs(paths: list[str]) -> list[str]:
    """Every run folder at or under `paths`, each once, in a natural order (sweep jobs 0, 1, ..., 10)."""
    found: dict[str, str] = {}
    for top in paths:
        if not os.path.exists(top):
            raise UserError(f"{top} does not exist")
        for folder, dirs, _ in os.walk(top):
            if os.path.isfile(os.path.join(folder, RUN_MARK)):
                found.setdefault(os.path.realpath(folder), os.path.normpath(folder))
                dirs[:] = []  # a run folder holds no other runs
            else:
                dirs[:] = [d for d in dirs if not d.startswith(".") and d not in NOT_RUNS]
    return sorted(found.values(), key=natural_key)


def load_run(path: str) -> Run:
    conf = OmegaConf.load(os.path.join(path, RUN_MARK))
    try:
        plain = OmegaConf.to_container(conf, resolve=True)
    except Exception:  # an interpolation that only resolved inside Hydra: keep it as written
        plain = OmegaConf.to_container(conf, resolve=False)
    plain.pop("logger", None)  # where a run was tracked is no setting of the experiment: never a group
    state = rundir.status(path)
    metrics = read_json(os.path.join(path, rundir.METRICS)) or {}
    flat = {key: value for key, value in flatten(plain).items() if key not in NOT_THE_JOB}
    return Run(path=path, config=flat, status=state, metrics=metrics,
               reason=None if state == "completed" else reason(path, state, metrics),
               history=rundir.read_history(path))


def numeric_leaves(tree: dict, prefix: str = "") -> dict:
    """The numbers of a nested dict (metrics.json) by dotted key (config.flatten, the one flattener); lists, text,
    booleans and None left out."""
    return {key: value for key, value in flatten(tree, prefix).items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)}


def reason(path: str, state: str, metrics: dict) -> str:
    """Why a run did not complete, in one line."""
    info = read_json(os.path.join(path, rundir.STATUS)) or {}
    if state in ("failed", "diverged"):
        return metrics.get("error") or info.get("error") or f"{state} (no error recorded)"
    if state == "killed":
        return (f"status.json says running (pid {info.get('pid')}, since {info.get('time')}) but the "
                f"process is gone; resume with finetune-lab-resume {path}")
    if state == "interrupted":
        return f"interrupted by a signal ({info.get('time')}); resume with finetune-lab-resume {path}"
    if state == "running":
        return f"still running (pid {info.get('pid')} on {info.get('host')}, since {info.get('time')})"
    if state == "empty":
        return "nothing recorded: no status.json or metrics.json (the job never started)"
    return f"status {state}: {info.get('error') or 'no reason recorded'}"


# ----- selecting -----

def parse_filters(items: list[str]) -> dict[str, list]:
    """["k=v", "k=w", "j=x"] -> {"k": [v, w], "j": [x]}: a run passes when each key matches one of its values."""
    filters: dict[str, list] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--filter {item!r}: expected KEY=VALUE, e.g. model.freeze=all")
        filters.setdefault(key.strip(), []).append(cell(yaml.safe_load(value) if value.strip() else ""))
    return filters


def same(a, b) -> bool:
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)
    return str(a) == str(b)


def check_keys(runs: list[Run], keys: list[str], option: str) -> None:
    known = {k for run in runs for k in run.config} | {"status"}
    for key in keys:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise UserError(f"{option} {key}: no collected run has this config key{hint}")


def select(runs: list[Run], filters: dict[str, list]) -> list[Run]:
    def value(run: Run, key: str):
        return run.status if key == "status" else run.config.get(key)

    return [run for run in runs
            if all(any(same(value(run, key), want) for want in wanted) for key, wanted in filters.items())]


def varying_keys(runs: list[Run]) -> list[str]:
    """Config keys whose values are not the same in every run (a key missing somewhere counts as varying),
    in the order the config lists them."""
    order: dict[str, None] = {}
    for run in runs:
        order.update(dict.fromkeys(run.config))
    varying = []
    for key in order:
        values = {str(run.config.get(key, "<missing>")) for run in runs}
        if len(values) > 1:
            varying.append(key)
    return varying


# ----- groups -----

def group_value(value) -> str:
    """A config value as a group shows it; a key a run lacks is "(absent)"."""
    return "(absent)" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def group_label(row, keys: list[str]) -> str:
    """"k=v, k2=v2" from a run's config or a table row; a key the run lacks shows as k=(absent)."""
    return ", ".join(f"{k}={group_value(row.get(k))}" for k in keys) if keys else "all runs"
