"""Experiment tracking: each run (or sweep job) as an MLflow run when `logger=mlflow`, nothing otherwise.

The only module that talks to MLflow, and it imports MLflow only when asked to. A run is tracked from
outside the stages: `track()` wraps a job in `cli.run_job`, the fit adds `keras_callbacks()` (MLflow's own
Keras callback: per-epoch metrics), and at the end the run folder (metrics.json, the record of truth) is
logged as it was left: test metrics, status, plots, metrics.json, history.csv and `.hydra/`. A sweep's jobs
carry the sweep folder as a tag and are nested under one parent run that `log_sweep()` adds at its end.
"""
from __future__ import annotations

import contextlib
import logging
import os

from omegaconf import DictConfig, OmegaConf

from . import config, files, rundir, sources
from .errors import OutOfSpace, UserError

log = logging.getLogger(__name__)

SWEEP_TAG = "finetune_lab.sweep_dir"  # the sweep folder: one value per sweep, on its jobs and its parent run
STATUS_TAG = "finetune_lab.status"  # completed / diverged / failed / interrupted (rundir's statuses)
RUN_DIR_TAG = "finetune_lab.run_dir"
ARTIFACT_FILES = (rundir.METRICS, rundir.HISTORY, "predictions.csv", rundir.STATUS, "sweep_summary.json",
                  "multirun.yaml")
ARTIFACT_DIRS = (".hydra", "feature_maps")
MLFLOW_STATUS = {"completed": "FINISHED", "interrupted": "KILLED"}  # any other ending: FAILED

_tracking = False  # a run is tracked in this process now


def enabled(logger_cfg: DictConfig) -> bool:
    return logger_cfg.name == "mlflow"


def keras_callbacks() -> list:
    """MLflow's Keras callback (metrics per epoch, the optimizer's settings, the model summary) while a run
    is tracked; no callback otherwise."""
    if not _tracking:
        return []
    from mlflow.keras import MlflowCallback

    return [MlflowCallback()]


def params(cfg: DictConfig) -> dict[str, str]:
    """The resolved config as dotted keys and command-line values (the `logger` section itself left out)."""
    plain = OmegaConf.to_container(cfg, resolve=True)
    plain.pop("logger", None)
    return {key: str(value) for key, value in config.flatten(plain).items()}


def connect(logger_cfg: DictConfig):
    """MLflow pointed at the configured store and experiment (created when new) when logger=mlflow, else None.
    A store MLflow cannot use is a UserError, before anything runs."""
    if not enabled(logger_cfg):
        return None
    # MLflow announces at INFO on stderr that it creates or migrates a store's tables: not about the run
    for name in ("mlflow.store.db.utils", "alembic.runtime.migration"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        import mlflow
    except ImportError:
        raise UserError("logger=mlflow: MLflow is not installed; pip install -e '.[mlflow]' (or pip install "
                        "mlflow), or use logger=none") from None
    try:
        if logger_cfg.tracking_uri:
            mlflow.set_tracking_uri(logger_cfg.tracking_uri)
        if mlflow.get_experiment_by_name(logger_cfg.experiment_name) is None:
            mlflow.create_experiment(logger_cfg.experiment_name, artifact_location=logger_cfg.artifact_location)
        mlflow.set_experiment(logger_cfg.experiment_name)
    except Exception as exc:  # MlflowException, or the store's own (SQLAlchemy, OSError, requests)
        raise UserError(f"logger.tracking_uri={logger_cfg.tracking_uri!r}: MLflow could not use it "
                        f"({type(exc).__name__}: {sources.first_line(exc)}); allowed: any MLflow tracking URI "
                        "(sqlite:///path.db, a folder, http://host:port)") from None
    return mlflow


@contextlib.contextmanager
def track(mlflow, cfg: DictConfig, run_dir: str, sweep_dir: str | None = None):
    """Track the run that writes `run_dir` while the block runs (`mlflow` from connect(); None: no tracking):
    an MLflow run opened with the config as params and closed with what the folder ends with, also when the
    block raises (the error goes on)."""
    global _tracking
    if mlflow is None:
        yield
        return
    name = os.path.basename(os.path.abspath(run_dir))
    tags = {RUN_DIR_TAG: os.path.abspath(run_dir), STATUS_TAG: "running"}
    if sweep_dir is not None:
        tags[SWEEP_TAG] = os.path.abspath(sweep_dir)
        name = f"{os.path.basename(os.path.abspath(sweep_dir))}/{name}"
    run = mlflow.start_run(run_name=name, tags=tags)
    mlflow.log_params(params(cfg))
    _tracking = True
    state = "failed"
    try:
        yield
    except (KeyboardInterrupt, OutOfSpace):  # the folder is left interrupted, resumable
        state = "interrupted"
        raise
    finally:
        _tracking = False
        try:
            state = _finish(mlflow, run_dir, state)
        except Exception as exc:  # the run folder stays the record; a tracker that fails changes nothing there
            log.error("MLflow could not log the end of run %s: %s: %s", run.info.run_id, type(exc).__name__,
                      sources.first_line(exc))
        mlflow.end_run(MLFLOW_STATUS.get(state, "FAILED"))
        log.info("MLflow run %s (%s) in %s", run.info.run_id, state, mlflow.get_tracking_uri())


def _finish(mlflow, run_dir: str, fallback: str) -> str:
    """Log the run folder's final state; return its status."""
    metrics = files.read_json(os.path.join(run_dir, rundir.METRICS)) or {}
    state = metrics.get("status") or fallback
    mlflow.set_tag(STATUS_TAG, state)
    if "error" in metrics:
        mlflow.set_tag("finetune_lab.error", str(metrics["error"])[:5000])
    mlflow.log_metrics(final_metrics(metrics))
    log_folder(mlflow, run_dir)
    return state


def final_metrics(metrics: dict) -> dict[str, float]:
    """metrics.json's numbers that sum a run up: test accuracy, loss and its 95% interval, final train and
    validation loss/accuracy, epochs, time and speed."""
    out = {}
    test = metrics.get("test", {})
    for key in ("accuracy", "loss"):
        if key in test:
            out[f"test_{key}"] = test[key]
    if "ci95" in test:
        out["test_accuracy_ci95_low"], out["test_accuracy_ci95_high"] = test["ci95"]
    for section in ("train", "val"):
        for key, value in metrics.get(section, {}).items():
            out[f"final_{section}_{key}"] = value
    for key in ("epochs_run", "wall_seconds", "train_seconds", "train_images_per_second"):
        if metrics.get(key) is not None:
            out[key] = metrics[key]
    return {k: float(v) for k, v in out.items()}


def log_folder(mlflow, folder: str) -> None:
    """The run folder's pictures, records and config as artifacts (not the model, not the backup)."""
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        path = os.path.join(folder, name)
        if name in ARTIFACT_FILES or name.endswith((".png", ".log")):
            mlflow.log_artifact(path)
        elif name in ARTIFACT_DIRS and os.path.isdir(path):
            mlflow.log_artifacts(path, artifact_path=name)


def log_sweep(logger_cfg: DictConfig, sweep_dir: str, counts: dict[str, int]) -> None:
    """After a sweep: one parent run for it (its jobs counted by status, sweep_summary.json), with the sweep's
    job runs nested under it."""
    mlflow = connect(logger_cfg)
    if mlflow is None:
        return
    sweep_dir = os.path.abspath(sweep_dir)
    experiment = mlflow.get_experiment_by_name(logger_cfg.experiment_name)
    jobs = mlflow.search_runs([experiment.experiment_id], filter_string=f"tags.`{SWEEP_TAG}` = '{sweep_dir}'",
                              output_format="list")
    with mlflow.start_run(run_name=os.path.basename(sweep_dir), tags={SWEEP_TAG: sweep_dir}) as parent:
        mlflow.log_metrics({f"jobs_{state}": n for state, n in counts.items()})
        mlflow.set_tag(STATUS_TAG, "completed" if set(counts) <= {"completed"} else "incomplete")
        log_folder(mlflow, sweep_dir)
    client = mlflow.MlflowClient()
    for job in jobs:
        client.set_tag(job.info.run_id, "mlflow.parentRunId", parent.info.run_id)
