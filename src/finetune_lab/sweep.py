"""A sweep's summary (Hydra's callback, hydra.callbacks.sweep_summary in conf/config.yaml): after a multirun its jobs
counted by status in sweep_summary.json in the sweep folder, and what the command's last line names.

`ending` is what that last line names, filled in as the command runs (cli.main reads it and prints the line):
"run" the folder of the single run, or of the sweep's job running in this process; "metrics" the single run's
metrics.json; "error" its user error; "sweep" the sweep's folder; "summary" (jobs, their counts as a line, the
folders that did not complete). Importing this module imports no TensorFlow."""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from . import files, rundir, slurm, tracking
from .errors import UserError
from .files import natural_key

log = logging.getLogger("finetune_lab")

SWEEP_SUMMARY = "sweep_summary.json"
REFUSED = ".refused"  # in a sweep folder: one file per job refused because its folder holds another run

ending: dict = {}


def with_endings(statuses: dict[str, str], jobs: dict[str, dict]) -> dict[str, str]:
    """The sweep's job statuses (from the job folders) with the scheduler's ending of every job whose folder holds
    no final status (hydra/launcher=slurm: slurm.read_jobs): a job cancelled while it ran (its folder
    `interrupted`) or before it started (no folder) counts as `cancelled`, one stopped at its time limit and not
    requeued as `timeout`. Ordered by job number."""
    merged = dict(statuses)
    for num, job in jobs.items():
        if job.get("ending") and merged.get(num) not in (*rundir.FINAL_STATUSES, "refused"):
            merged[num] = job["ending"]
    return dict(sorted(merged.items(), key=lambda item: natural_key(item[0])))


class SweepSummary(Callback):
    """After a multirun: the jobs counted by status, in sweep_summary.json in the sweep folder (and in the
    tracker, with logger=mlflow, which is also opened once before the jobs start) and for main()'s last line. A
    job refused because its folder holds another run counts as `refused` (its folder keeps the status of that
    run)."""

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        ending["sweep"] = config.hydra.sweep.dir
        shutil.rmtree(os.path.join(config.hydra.sweep.dir, REFUSED), ignore_errors=True)  # this sweep's own only
        HydraConfig.instance().set_config(config)  # as for a job: ${hydra:...} in logger.* resolves
        try:  # tables and experiment made here, once, not by parallel jobs racing for a new store
            tracking.connect(config.logger)
        except UserError:
            pass  # each job records it as its own failure

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        sweep_dir = config.hydra.sweep.dir
        jobs = sorted((p for p in Path(sweep_dir).iterdir() if (p / ".hydra").is_dir()),
                      key=lambda p: natural_key(p.name))
        statuses = {p.name: rundir.status(str(p)) for p in jobs}
        refused_dir = Path(sweep_dir, REFUSED)
        refused = {p.stem: files.read_json(str(p)) for p in refused_dir.glob("*.json")} if refused_dir.is_dir() else {}
        statuses.update(dict.fromkeys(refused, "refused"))
        scheduled = slurm.read_jobs(sweep_dir)  # hydra/launcher=slurm: job ids, and jobs that ended without a result
        statuses = with_endings(statuses, scheduled)
        counts: dict[str, int] = {}
        for state in statuses.values():
            counts[state] = counts.get(state, 0) + 1
        rundir.write_json_atomic(os.path.join(sweep_dir, SWEEP_SUMMARY),
                                 {"jobs": statuses, "counts": counts,
                                  **({"job_ids": {n: j["job_id"] for n, j in scheduled.items()}} if scheduled else {}),
                                  **({"refused": {job: r["reason"] for job, r in refused.items()}} if refused else {})})
        bad = [name for name, state in statuses.items() if state != "completed"]
        try:
            tracking.log_sweep(config.logger, sweep_dir, counts)
        except UserError as exc:
            log.error("%s", exc)
        ending["summary"] = (len(statuses), ", ".join(f"{n} {s}" for s, n in sorted(counts.items())),
                             [os.path.join(sweep_dir, name) for name in bad])
