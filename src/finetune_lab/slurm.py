"""SLURM sweeps (hydra/launcher=slurm): the sweep's jobs submitted as one job array through submitit, waited for
with a status line, and each job's SLURM id and, where it ended without a result, the scheduler's word for it
(cancelled, timeout, ...) kept in the sweep folder (JOBS) for the sweep's summary (sweep.py); and which SLURM job
this process is, so that a job SLURM requeued resumes its own run. Importing it imports neither submitit nor Hydra."""
from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import time

from .files import read_json, write_atomic

log = logging.getLogger(__name__)

JOBS = ".slurm_jobs.json"  # in the sweep folder: {job number: {"job_id": ..., "ending": ...}}
QUEUED = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING", "PREEMPTED", "RESV_DEL_HOLD"}
RUNNING = {"RUNNING", "COMPLETING", "SIGNALING", "STAGE_OUT", "SUSPENDED", "STOPPED", "RESIZING"}
POLL_MAX_S = 30  # squeue is asked every 2 s at first, then less often, at most this far apart


def job_id() -> str | None:
    """This process's SLURM job as squeue and scancel name it (ARRAY_TASK for a task of an array), or None
    outside SLURM. A requeued job keeps it."""
    env = os.environ
    if env.get("SLURM_ARRAY_JOB_ID") and env.get("SLURM_ARRAY_TASK_ID"):
        return f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"
    return env.get("SLURM_JOB_ID")


def read_jobs(sweep_dir: str) -> dict[str, dict]:
    """The JOBS record of a SLURM sweep; {} for a sweep of another launcher."""
    return read_json(os.path.join(sweep_dir, JOBS)) or {}


def _write_jobs(sweep_dir: str, jobs: dict[str, dict]) -> None:
    write_atomic(os.path.join(sweep_dir, JOBS), lambda f: json.dump(jobs, f, indent=2), binary=False)


class _Once(logging.Filter):
    """Lets the first of submitit's `Bypassing sacct error` warnings through (a cluster without accounting
    answers every status poll with it), and none after it."""

    seen = False

    def filter(self, record: logging.LogRecord) -> bool:
        if "sacct" not in record.getMessage():
            return True
        first, self.seen = not self.seen, True
        return first


def launch(launcher, job_overrides, initial_job_idx: int) -> list:
    """hydra-submitit-launcher's SlurmLauncher.launch (the same executor, parameters and job array), waiting for
    its jobs with wait(): a job that ends without a result (cancelled, timed out and not requeued, lost) is
    recorded as such instead of stopping the sweep, the other jobs carried to their end."""
    import submitit
    from hydra.core.singleton import Singleton
    from hydra.core.utils import filter_overrides
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from omegaconf import OmegaConf

    submitit_log = logging.getLogger("submitit")
    if not any(isinstance(f, _Once) for f in submitit_log.filters):  # once a process (a sweep may launch again)
        submitit_log.addFilter(_Once())
    params = dict(launcher.params)
    executor = submitit.AutoExecutor(cluster="slurm", folder=params.pop("submitit_folder"),
                                     slurm_max_num_timeout=params.pop("max_num_timeout"))
    shared = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(**{k if k in shared else f"slurm_{k}": v for k, v in params.items()})
    sweep_dir = str(launcher.config.hydra.sweep.dir)
    os.makedirs(sweep_dir, exist_ok=True)
    if "mode" in launcher.config.hydra.sweep:
        os.chmod(sweep_dir, mode=int(str(launcher.config.hydra.sweep.mode), 8))
    nums = [initial_job_idx + i for i in range(len(job_overrides))]
    for num, overrides in zip(nums, job_overrides):
        log.info("\t#%d : %s", num, " ".join(filter_overrides(overrides)))
    args = [(list(o), "hydra.sweep.dir", num, f"job_id_for_{num}", Singleton.get_state())
            for num, o in zip(nums, job_overrides)]
    jobs = executor.map_array(launcher, *zip(*args))
    record = {} if initial_job_idx == 0 else read_jobs(sweep_dir)  # a sweep's first batch starts the record
    record.update({str(num): {"job_id": job.job_id} for num, job in zip(nums, jobs)})
    _write_jobs(sweep_dir, record)
    log.info("sweep %s: %d SLURM jobs submitted: %s", sweep_dir, len(jobs), ", ".join(j.job_id for j in jobs))
    returns = []
    for num, job, overrides, ending in zip(nums, jobs, job_overrides, wait(jobs, sweep_dir)):
        returned, ending = (_no_result(overrides), ending) if ending else _job_return(job, overrides)
        returns.append(returned)
        if ending:
            record[str(num)]["ending"] = ending
    _write_jobs(sweep_dir, record)
    return returns


def _job_return(job, overrides):
    """(what the job returned: Hydra's JobReturn, None) or, for a job that raised outside the task (submitit's own
    error), (a JobReturn without a result, its ending): `timeout` for a job not requeued after max_num_timeout
    time limits, else `failed`; its error logged in one line."""
    try:
        return job.results()[0], None
    except Exception as exc:  # submitit's FailedJobError / UncompletedJobError: the task never returned
        lines = [line for line in str(exc).splitlines() if line.strip() and not line.startswith("-")]
        reason = next((line for line in lines if "not requeued" in line), lines[-1] if lines else type(exc).__name__)
        reason = re.sub(r"^[\w.]+(Error|Exception): ", "", reason.strip())  # the message, not its class
        log.error("SLURM job %s ended without a result: %s", job.job_id, reason)
        return _no_result(overrides), "timeout" if "timed-out" in reason else "failed"


@contextlib.contextmanager
def stopped_when_not_requeued():
    """Inside a SLURM job: submitit's checkpoint signal (SIGUSR2, signal_delay_s before the time limit) requeues
    the job, or, after max_num_timeout time limits, ends it by raising its UncompletedJobError wherever the job
    is, which inside a run would record the run as failed. Here that stops the run as a signal does (its folder
    `interrupted`, to be resumed by output.resume=true), and the error is raised once the run has stopped, so that
    submitit records the job as ended without a result."""
    from submitit import JobEnvironment

    usr = JobEnvironment._usr_sig()
    checkpoint, refused = signal.getsignal(usr), []
    if not callable(checkpoint):
        yield
        return

    def handler(signum, frame):
        try:
            checkpoint(signum, frame)
        except Exception as exc:  # not requeued
            refused.append(exc)
            raise KeyboardInterrupt(str(exc)) from exc

    signal.signal(usr, handler)
    try:
        yield
    except KeyboardInterrupt:
        if refused:
            raise refused[0] from None
        raise
    finally:
        signal.signal(usr, checkpoint)


def _no_result(overrides):
    from hydra.core.utils import JobReturn, JobStatus

    return JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED, _return_value=None)


def states(job_ids: list[str]) -> dict[str, str] | None:
    """SLURM's state of each listed job (squeue, one line per array task, finished jobs included while the
    controller keeps them); None when squeue cannot be asked."""
    arrays = sorted({j.split("_")[0] for j in job_ids})
    try:
        out = subprocess.run(["squeue", "-h", "-r", "-t", "all", "-o", "%i|%T", "-j", ",".join(arrays)],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return dict(line.split("|", 1) for line in out.stdout.split() if "|" in line)


def wait(jobs: list, sweep_dir: str, clock=time.monotonic, sleep=time.sleep) -> list[str | None]:
    """Wait for every job to end; return, per job, None where it left a result, else its ending: SLURM's final
    state in lower case (`cancelled`, `timeout`, `failed`, ...), or `lost` for a job the controller no longer
    lists that left no result. A requeued job is waited for through its requeue. Logs one status line (queued,
    running, done) each time the counts change; squeue is asked every 2 s at first, at most POLL_MAX_S apart."""
    endings: dict[int, str | None] = {}
    unlisted: dict[int, int] = {}
    start, asked, shown, known = clock(), float("-inf"), None, {}
    while len(endings) < len(jobs):
        for i, job in enumerate(jobs):
            if i not in endings and job.paths.result_pickle.exists():
                endings[i] = None
        if clock() - asked >= min(POLL_MAX_S, max(2.0, (clock() - start) / 10)):
            asked, now = clock(), states([j.job_id for j in jobs])
            if now is None:
                log.warning("squeue did not answer; the sweep's jobs are waited for by their result files")
            for i, job in enumerate(jobs):
                if i in endings or now is None:
                    continue
                state = now.get(job.job_id, "").split()[0] if now.get(job.job_id) else ""
                known[i] = state or known.get(i, "")
                unlisted[i] = 0 if state else unlisted.get(i, 0) + 1
                if (state and state not in QUEUED | RUNNING) or unlisted[i] >= 2:
                    sleep(1)  # the result file of a job that just ended
                    if not job.paths.result_pickle.exists():
                        endings[i] = state.lower() if state and state != "COMPLETED" else "lost"
                        log.warning("SLURM job %s ended without a result: %s", job.job_id, endings[i])
                    else:
                        endings[i] = None
        queued = sum(1 for i in range(len(jobs)) if i not in endings and known.get(i, "PENDING") in QUEUED)
        line = (queued, len(jobs) - len(endings) - queued, len(endings))
        if line != shown:
            shown = line
            log.info("sweep %s: %d jobs: %d queued, %d running, %d done", sweep_dir, len(jobs), *line)
        if len(endings) < len(jobs):
            sleep(1)
    return [endings[i] for i in range(len(jobs))]
