"""A run folder's life: claimed (running), then finished with metrics.json written last and atomically.

status.json says `running` (with the pid) while a run is alive, `interrupted` when it was stopped by a
signal, and the final status once metrics.json exists. A killed run leaves `running` with a dead pid and
no metrics.json: visibly unfinished, and resumable.

A resumed run is one run in several attempts: each attempt's ending and wall seconds are carried from one to the
next (status.json's `attempts`), so the finished run's metrics.json counts them all. A killed attempt, which
could write nothing as it died, counts from its start to the last file it wrote.
"""
from __future__ import annotations

import csv
import json
import os
import socket
import time
from datetime import datetime

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from . import config, slurm
from .errors import UserError, one_line
from .files import read_json, write_atomic

METRICS = "metrics.json"
HISTORY = "history.csv"     # one row per epoch, appended across resumes (Keras' CSVLogger)
STATUS = "status.json"
CONFIG_DIR = ".hydra"        # config.yaml (the job's config), overrides.yaml, hydra.yaml: as Hydra writes them
CONFIG = os.path.join(CONFIG_DIR, "config.yaml")
FINAL_STATUSES = ("completed", "failed", "diverged")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


def write_json_atomic(path: str, payload: dict) -> None:
    def dump(f):
        json.dump(payload, f, indent=2, sort_keys=False, default=str)
        f.write("\n")

    write_atomic(path, dump, binary=False)


def read_history(run_dir: str) -> dict[str, list[float]]:
    """A run's history.csv as {column: one value per epoch}, without the epoch column; {} when it has none."""
    try:
        with open(os.path.join(run_dir, HISTORY), newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError:
        return {}
    return {key: [float(row[key]) for row in rows] for key in (rows[0] if rows else {}) if key != "epoch"}


def epochs_in(history: dict[str, list[float]]) -> int:
    return max((len(values) for values in history.values()), default=0)


def status(run_dir: str) -> str:
    """`completed` / `failed` / `diverged` from metrics.json; else `running`, `interrupted` or `killed`
    (status says running but its process is gone); `empty` when nothing was started there."""
    metrics = read_json(os.path.join(run_dir, METRICS))
    if metrics and metrics.get("status") in FINAL_STATUSES:
        return metrics["status"]
    state = read_json(os.path.join(run_dir, STATUS))
    if not state:
        return "empty"
    if state.get("status") == "running" and not _alive(state):
        return "killed"
    return state.get("status", "empty")


def _alive(state: dict) -> bool:
    if state.get("slurm_job") and state["slurm_job"] == slurm.job_id() and (
            state.get("host"), state.get("pid")) != (socket.gethostname(), os.getpid()):
        return False  # an earlier attempt of this very SLURM job, requeued: SLURM ended it before requeueing
    if state.get("host") != socket.gethostname():
        return True  # cannot tell from here
    try:
        os.kill(int(state["pid"]), 0)
    except (OSError, KeyError, ValueError):
        return False
    return True


def save_config(run_dir: str, cfg, hydra_cfg) -> None:
    """The job's `.hydra/` (config, overrides, Hydra's own config), written once, into a folder that holds no
    run yet: Hydra's own copy (hydra.output_subdir) is off, as it would rewrite a finished run's config."""
    if status(run_dir) != "empty":
        raise UserError(f"{run_dir} already holds a run; its config is never rewritten")
    folder = os.path.join(run_dir, CONFIG_DIR)
    os.makedirs(folder, exist_ok=True)
    for name, node in (("config.yaml", cfg), ("overrides.yaml", hydra_cfg.overrides.task),
                       ("hydra.yaml", {"hydra": hydra_cfg})):
        write_atomic(os.path.join(folder, name), lambda f, node=node: f.write(OmegaConf.to_yaml(node)), binary=False)


def claim(run_dir: str, resume: bool) -> list[dict]:
    """Mark the folder as running. A folder that holds a run is never reused, except to resume an
    unfinished one. Returns the earlier attempts at the run (earlier_attempts), which this one carries on."""
    current = status(run_dir)
    if current == "completed":
        raise UserError(f"{run_dir} holds a completed run; it is never overwritten")
    if current == "running":
        raise UserError(f"{run_dir} holds a run that is still running (pid "
                        f"{read_json(os.path.join(run_dir, STATUS)).get('pid')})")
    if current != "empty" and not resume:
        raise UserError(f"{run_dir} already holds a {current} run; resume it with: finetune-lab-resume {run_dir}")
    earlier = earlier_attempts(run_dir, current)
    if resume and os.path.exists(os.path.join(run_dir, METRICS)):
        os.replace(os.path.join(run_dir, METRICS), os.path.join(run_dir, f"metrics.{current}.{int(time.time())}.json"))
    mark(run_dir, "running", attempts=earlier)
    return earlier


def earlier_attempts(run_dir: str, current: str) -> list[dict]:
    """The attempts the folder has seen, each {"status", "wall_seconds"}, oldest first: as the last one recorded
    them (a failed run's metrics.json, an interrupted or killed run's status.json), a killed attempt added from
    its start to its newest file other than a log (the resuming process appends to the job's log before it
    claims the folder)."""
    if current in FINAL_STATUSES:
        return list((read_json(os.path.join(run_dir, METRICS)) or {}).get("attempts", []))
    state = read_json(os.path.join(run_dir, STATUS)) or {}
    attempts = list(state.get("attempts", []))
    if current == "killed":  # wall_seconds null: a status.json without its start time
        started = datetime.strptime(state["time"], TIME_FORMAT).timestamp() if "time" in state else None
        attempts.append({"status": "killed", "wall_seconds": None if started is None else
                         round(max(0.0, _newest_write(run_dir) - started), 1)})
    return attempts


def _newest_write(run_dir: str) -> float:
    return max((os.path.getmtime(os.path.join(folder, name)) for folder, _, names in os.walk(run_dir)
                for name in names if not name.endswith(".log")), default=0.0)


def mark(run_dir: str, state: str, **extra) -> None:
    scheduled = slurm.job_id()
    write_json_atomic(os.path.join(run_dir, STATUS), {
        "status": state, "pid": os.getpid(), "host": socket.gethostname(),
        **({"slurm_job": scheduled} if scheduled else {}), "time": time.strftime(TIME_FORMAT), **extra})


def requeued(run_dir: str) -> bool:
    """Whether the folder's run was started by this very SLURM job, which SLURM has since requeued (a time
    limit, a preemption, scontrol requeue): the job resumes its own run."""
    scheduled = slurm.job_id()
    return bool(scheduled) and (read_json(os.path.join(run_dir, STATUS)) or {}).get("slurm_job") == scheduled


def finish(run_dir: str, metrics: dict) -> None:
    """metrics.json last: the run's record of truth."""
    write_json_atomic(os.path.join(run_dir, METRICS), metrics)
    mark(run_dir, metrics["status"], **({"error": metrics["error"]} if "error" in metrics else {}))


def record_failure(run_dir: str, exc: BaseException, **extra) -> None:
    """Leave a failed run's record: claim the folder if nothing else did, then metrics.json."""
    if status(run_dir) != "running":
        claim(run_dir, resume=True)
    finish(run_dir, {"status": "failed", "error": f"{type(exc).__name__}: {exc}",
                     "user_error": isinstance(exc, UserError), **extra})


def load_run_config(run_dir: str) -> DictConfig:
    """A run folder's saved config, typed and checked. Its backend and devices are not started here: the command that
    runs it starts them (backend.start(cfg.device, cfg.training.deterministic))."""
    saved = os.path.join(run_dir, ".hydra", "config.yaml")
    if not os.path.isfile(saved):
        raise UserError(f"{run_dir} is not a run folder: {saved} does not exist")
    try:
        cfg = config.from_saved(saved)
    except OmegaConfBaseException as exc:
        raise UserError(f"{saved}: {one_line(exc)}") from None
    config.validate(cfg)
    return cfg
