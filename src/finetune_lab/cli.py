"""Entry points. Thin: compose and check the config, pick devices, hand over to the runner.

User errors end as one line on stderr and a non-zero exit; real bugs keep their traceback.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from typing import NoReturn

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from . import backend, config, files, rundir, sources, tracking
from .errors import OutOfSpace, UserError, fail, one_line, out_of_space
from .sweep import REFUSED, SWEEP_SUMMARY, ending
from .sweep import SweepSummary  # noqa: F401  (sweeps submitted before it moved pickled it as cli.SweepSummary)

log = logging.getLogger("finetune_lab")

PROG = "finetune-lab"
EXIT_SWEEP_FAILURES = 1
EXIT_RUN_NOT_COMPLETED = 1  # a single run that diverged

config.register_schema()


def carry_on(cfg: DictConfig, hydra_cfg, run_dir: str) -> bool | str:
    """What to do with this job's folder: an empty one gets the job's `.hydra/` and a fresh run (False). One
    that holds a run is refused, unless output.resume=true and it holds this same job: then a completed run is
    skipped ("skip"), an interrupted or killed one resumed (True); a failed or diverged one is left as it is
    (its record is a result too: move the folder away to run it again)."""
    state = rundir.status(run_dir)
    if state == "empty":
        rundir.save_config(run_dir, cfg, hydra_cfg)
        return False
    requeued = rundir.requeued(run_dir)  # this SLURM job's own run, before SLURM requeued the job
    if not cfg.output.resume and not requeued:
        raise UserError(f"{run_dir} already holds a {state} run; it is never overwritten (output.resume=true "
                        f"carries on a sweep in the same hydra.sweep.dir; finetune-lab-resume continues one run)")
    changed = config.differences(os.path.join(run_dir, rundir.CONFIG), cfg)
    if changed:
        raise UserError(f"output.resume=true: {run_dir} holds another job ({'; '.join(changed[:3])}); "
                        f"allowed: the same sweep command, or another hydra.sweep.dir")
    if state == "running":
        raise UserError(f"{run_dir} holds a run that is still running; output.resume leaves it to finish")
    if state in ("completed", "failed", "diverged"):
        log.info("job %s: %s already (%s), skipped", hydra_cfg.job.get("num", ""), state, run_dir)
        return "skip"
    log.info("job %s: %s%s, resumed from its backup (%s)", hydra_cfg.job.get("num", ""), state,
             " and requeued by SLURM" if requeued else "", run_dir)
    return True


def run_job(cfg: DictConfig, run_dir: str, sweep_dir: str | None = None, resume: bool = False) -> dict:
    """Check `cfg`, start its backend, then run it into `run_dir`, tracked when logger=mlflow (`sweep_dir`: the
    sweep it belongs to). A config that fails the checks, or asks for a backend or devices this process cannot
    give it, still leaves a failed run (and a failed tracked run)."""
    try:
        tracker = tracking.connect(cfg.logger)  # a tracking store that cannot be used stops the run here
    except UserError as exc:
        rundir.record_failure(run_dir, exc)
        raise
    with tracking.track(tracker, cfg, run_dir, sweep_dir):
        try:
            config.validate(cfg)
            sources.check_before_start(cfg.data)
            backend.start(cfg.device, cfg.training.deterministic)  # refused when this process started another one
        except UserError as exc:
            rundir.record_failure(run_dir, exc)
            raise
        from .runner import run  # imports Keras: only after the backend and devices are chosen

        return run(cfg, run_dir, resume=resume)


@hydra.main(version_base="1.3", config_path="pkg://" + config.CONFIGS, config_name="config")
def hydra_entry(cfg: DictConfig) -> float | None:
    """One Hydra job. Returns the validation accuracy (for sweepers that optimise it)."""
    hydra_cfg = HydraConfig.get()
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    run_dir = hydra_cfg.runtime.output_dir
    ending["run"] = run_dir
    try:
        resume = carry_on(cfg, hydra_cfg, run_dir)
    except UserError as exc:  # the folder holds another run: nothing is written to it
        if not multirun:
            raise
        log.error("job %s refused: %s", hydra_cfg.job.num, exc)
        os.makedirs(os.path.join(hydra_cfg.sweep.dir, REFUSED), exist_ok=True)
        rundir.write_json_atomic(os.path.join(hydra_cfg.sweep.dir, REFUSED, f"{hydra_cfg.job.num}.json"),
                                 {"job": hydra_cfg.job.num, "folder": run_dir, "reason": str(exc)})
        return None
    if resume == "skip":
        return (files.read_json(os.path.join(run_dir, rundir.METRICS)) or {}).get("val", {}).get("accuracy")
    try:
        metrics = run_job(cfg, run_dir, hydra_cfg.sweep.dir if multirun else None, resume=resume)
    except UserError as exc:  # recorded in the run folder already; not raised, so Hydra adds nothing to it
        if multirun:  # the sweep goes on; the summary counts it
            log.error("job %s %s: %s", hydra_cfg.job.num, _ended_as(exc), exc)
        else:
            ending["error"] = exc
        return None
    if not multirun:  # a sweep counts its jobs in sweep.SweepSummary
        ending["metrics"] = metrics
    return metrics.get("val", {}).get("accuracy")


def _ended_as(exc: UserError) -> str:
    """How a run that raised `exc` ended: interrupted (no space: resumable) or failed."""
    return "interrupted" if isinstance(exc, OutOfSpace) else "failed"


def shown(folder: str) -> str:
    """A folder as the console names it: relative to the working folder when inside it, with a final slash."""
    path = os.path.abspath(folder)
    here = os.getcwd()
    inside = os.path.commonpath([path, here]) == here
    return os.path.join(os.path.relpath(path, here) if inside else path, "")


def run_line(run_dir: str, metrics: dict) -> str:
    """The last line of a run that finished: its folder, its status and test accuracy or error."""
    status = metrics["status"]
    if status == "completed":
        return f"run folder {shown(run_dir)} (completed, test accuracy {metrics['test']['accuracy']:.4f})"
    return f"run folder {shown(run_dir)} ({status}: {metrics.get('error', '')})".replace(": )", ")")


def interrupted_line(run_dir: str | None, sweep_dir: str | None = None) -> str:
    """The last line of a command stopped by Ctrl-C or SIGTERM: the folder left interrupted and how to go on."""
    if run_dir is None and sweep_dir is None:
        return "interrupted before any run started"
    if run_dir is None:  # its jobs run in other processes (a launcher)
        return (f"sweep folder {shown(sweep_dir)} interrupted; the same sweep command with output.resume=true "
                f"carries it on")
    line = f"run folder {shown(run_dir)} interrupted; finetune-lab-resume {shown(run_dir)} continues it"
    if sweep_dir:
        line += f", the same sweep command with output.resume=true the whole sweep ({shown(sweep_dir)})"
    return line


def unexpected(prog: str, run_dir: str | None) -> NoReturn:
    """End the command on an error the run did not turn into its own ending: a full disk before the run
    started (its folder's config or status could not be written) in one line; else finetune-lab's own error (a
    bug) with its traceback, and a last line that names the folder."""
    exc = sys.exc_info()[1]
    space = out_of_space(exc)
    if space:
        fail(prog, f"{space[0]} writing {space[1] or run_dir}: the run could not start; run it again once space "
                   "is back")
    traceback.print_exc()
    where = f"run folder {shown(run_dir)} failed: " if run_dir else ""
    print(f"{prog}: {where}an error in finetune-lab itself (the traceback above); please report it", file=sys.stderr)
    sys.exit(1)


def main() -> None:
    """`finetune-lab [overrides]` and `finetune-lab -m [sweep overrides]`. The last line names the run's folder
    (or the sweep's, and its summary file), however the command ends."""
    os.environ["HYDRA_FULL_ERROR"] = "1"  # let errors reach us, so they can be reported in one line
    logging.raiseExceptions = False  # a log line that cannot be written (a full disk) is dropped, no traceback
    ending.clear()
    try:
        hydra_entry()
    except UserError as exc:
        fail(PROG, str(exc))
    except (HydraException, OmegaConfBaseException) as exc:
        fail(PROG, one_line(exc))
    except KeyboardInterrupt:
        print(f"{PROG}: {interrupted_line(ending.get('run'), ending.get('sweep'))}", file=sys.stderr)
        sys.exit(130)
    except (PermissionError, NotADirectoryError, FileExistsError) as exc:  # the output folder cannot be made
        fail(PROG, f"cannot create the output folder {exc.filename}: {exc.strerror}; "
                   "choose another with hydra.run.dir=... (or hydra.sweep.dir=... for -m)")
    except Exception:
        unexpected(PROG, ending.get("run"))
    if "summary" in ending:
        jobs, counts, bad = ending["summary"]
        if bad:
            print(f"{PROG}: {len(bad)} job(s) did not complete: " + ", ".join(map(shown, bad)), file=sys.stderr)
        sweep = ending["sweep"]
        print(f"{PROG}: sweep folder {shown(sweep)} ({jobs} jobs: {counts}; summary "
              f"{shown(sweep)}{SWEEP_SUMMARY})", file=sys.stderr if bad else sys.stdout)
        if bad:
            sys.exit(EXIT_SWEEP_FAILURES)
    if "error" in ending:
        exc = ending["error"]
        fail(PROG, str(exc) if isinstance(exc, OutOfSpace) else f"{exc}; run folder {shown(ending['run'])} (failed)")
    if "metrics" in ending:
        metrics = ending["metrics"]
        completed = metrics["status"] == "completed"
        print(f"{PROG}: {run_line(ending['run'], metrics)}", file=sys.stdout if completed else sys.stderr)
        if not completed:
            sys.exit(EXIT_RUN_NOT_COMPLETED)


def resume_main(argv: list[str] | None = None) -> None:
    """`finetune-lab-resume RUN_DIR`: continue an interrupted run from its last finished epoch."""
    parser = argparse.ArgumentParser(prog="finetune-lab-resume", description=resume_main.__doc__)
    parser.add_argument("run_dir", help="the folder of the run to resume (it holds .hydra/config.yaml)")
    run_dir = parser.parse_args(argv).run_dir
    logging.raiseExceptions = False  # as in main()
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s",
                        handlers=[logging.StreamHandler(), logging.FileHandler(os.path.join(run_dir, "resume.log"))]
                        if os.path.isdir(run_dir) else None)
    try:
        cfg = rundir.load_run_config(run_dir)
        backend.start(cfg.device, cfg.training.deterministic)
        from .runner import run  # imports Keras: only after the backend and devices are chosen

        metrics = run(cfg, run_dir, resume=True)
    except UserError as exc:
        fail(parser.prog, str(exc))
    except KeyboardInterrupt:
        print(f"{parser.prog}: {interrupted_line(run_dir)}", file=sys.stderr)
        sys.exit(130)
    except Exception:
        unexpected(parser.prog, run_dir)
    print(f"{parser.prog}: {run_line(run_dir, metrics)}")
