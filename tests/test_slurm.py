"""Sweeps on SLURM (hydra/launcher=slurm) on a one-node cluster started on this machine (conftest's `slurm`):
every job completes and is counted, a cancelled job counts as cancelled, a job SLURM stops (submitit's
checkpoint signal, as before a time limit; scontrol requeue, as a preemption) is requeued and resumes from its
last finished epoch to the result of its uninterrupted twin, and a killed sweep carries on with output.resume."""
import json
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import run_cli
from finetune_lab import rundir, slurm as slurm_sweeps
from slurm_cluster import PARTITION
from test_robustness import TO_KILL, assert_ends_like, history_rows, metrics, wait_until

pytestmark = pytest.mark.e2e

# hydra/launcher=slurm fitted to the local cluster: its partition, no GPU, no memory request, one CPU a job
LOCAL = ["hydra/launcher=slurm", f"hydra.launcher.partition={PARTITION}", "hydra.launcher.gpus_per_node=null",
         "hydra.launcher.mem_gb=null", "hydra.launcher.cpus_per_task=1", "hydra.launcher.timeout_min=10"]
STATUS_LINE = re.compile(r"sweep \S+: (\d+) jobs: (\d+) queued, (\d+) running, (\d+) done")


def job_ids(sweep):
    return {num: job["job_id"] for num, job in slurm_sweeps.read_jobs(str(sweep)).items()}


def once_running(sweep, job, proc, epochs=0):
    """Wait until the sweep's `job` holds a running run with `epochs` finished epochs; return its SLURM job id."""
    folder = sweep / job
    wait_until(proc, lambda: rundir.status(str(folder)) == "running" and (
        epochs == 0 or (folder / "history.csv").exists() and len(history_rows(folder)) >= epochs))
    return job_ids(sweep)[job]


def start_sweep(args, cwd):
    """The sweep's command in a fresh process, its console kept (finish() reads it)."""
    return subprocess.Popen([sys.executable, "-m", "finetune_lab", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(proc, timeout=600):
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_a_slurm_sweep_completes_its_jobs_and_counts_a_cancelled_one(slurm, tmp_path):
    """Three debug=smoke jobs as one job array; the third is cancelled with scancel once it runs. The other two
    complete, the summary counts the third as cancelled (its folder says interrupted) and names every job's SLURM
    id; the console has a status line per change of the queued/running/done counts and no repeated sacct warning."""
    sweep = tmp_path / "sweep"
    proc = start_sweep(["-m", *LOCAL, "debug=smoke", "seed=0,1,2", f"hydra.sweep.dir={sweep}"], tmp_path)
    cancelled = once_running(sweep, "2", proc)
    slurm.run("scancel", cancelled)
    result = finish(proc)
    assert result.returncode == 1, result.stderr[-3000:]
    summary = json.loads((sweep / "sweep_summary.json").read_text())
    assert summary["jobs"] == {"0": "completed", "1": "completed", "2": "cancelled"}
    assert summary["counts"] == {"completed": 2, "cancelled": 1}
    ids = summary["job_ids"]
    assert ids == job_ids(sweep) and ids["2"] == cancelled
    assert len({i.split("_")[0] for i in ids.values()}) == 1  # one job array
    assert slurm.state(cancelled) == "CANCELLED"
    assert [metrics(sweep / j)["status"] for j in "01"] == ["completed", "completed"]
    assert [json.loads((sweep / j / "status.json").read_text())["slurm_job"] for j in "01"] == [ids["0"], ids["1"]]
    assert rundir.status(str(sweep / "2")) in ("interrupted", "killed") and not (sweep / "2" / "metrics.json").exists()
    assert "3 jobs: 1 cancelled, 2 completed" in result.stderr

    console = result.stdout + result.stderr
    lines = [tuple(map(int, m.groups())) for m in STATUS_LINE.finditer(console)]
    assert lines[0][1] + lines[0][2] == 3 and lines[-1] == (3, 0, 0, 3)  # first all waiting or running, last all done
    assert all(a != b for a, b in zip(lines, lines[1:]))  # a line per change, not per poll
    assert console.count("sacct") <= 1


def test_a_job_slurm_stops_is_requeued_and_ends_like_its_uninterrupted_twin(slurm, tmp_path):
    """Three twin jobs (the same config and seed) of two epochs: once its first epoch is done, job 0 gets
    submitit's checkpoint signal (SIGUSR2, what SLURM sends signal_delay_s before the time limit) and job 1 is
    requeued by SLURM (scontrol requeue: SIGTERM, as a preemption); job 2 runs straight. Both stopped jobs are
    requeued as the same SLURM job, resume after their first epoch and end with job 2's numbers."""
    sweep = tmp_path / "sweep"
    proc = start_sweep(["-m", *LOCAL, *TO_KILL, "seed=1,1,1", f"hydra.sweep.dir={sweep}"], tmp_path)
    signalled = once_running(sweep, "0", proc, epochs=1)
    slurm.run("scancel", "--signal=USR2", signalled)
    requeued = once_running(sweep, "1", proc, epochs=1)
    slurm.run("scontrol", "requeue", requeued)
    for job_id in (signalled, requeued):
        slurm.start_requeued(job_id)
    result = finish(proc)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((sweep / "sweep_summary.json").read_text())["counts"] == {"completed": 3}

    twin = metrics(sweep / "2")
    assert len(twin["attempts"]) == 1
    for job, job_id in (("0", signalled), ("1", requeued)):
        assert_ends_like(sweep / job, twin)  # epochs 0 and 1 once each, the twin's test and training numbers
        first, last = metrics(sweep / job)["attempts"]
        assert first["status"] in ("interrupted", "killed") and last["status"] == "completed"
        assert json.loads((sweep / job / "status.json").read_text())["slurm_job"] == job_id
        assert "Restarts=1" in slurm.run("scontrol", "show", "job", job_id)
        assert "requeued by SLURM, resumed from its backup" in (sweep / job / "cli.log").read_text()
    submitit_log = (sweep / ".submitit" / signalled / f"{signalled}_0_log.err").read_text()
    assert "Caught signal SIGUSR2" in submitit_log and f"Requeued job {signalled}" in (
        sweep / ".submitit" / signalled / f"{signalled}_0_log.out").read_text() + submitit_log


def test_a_killed_slurm_sweep_carries_on_with_output_resume(slurm, tmp_path):
    """The sweep's command killed, and its job killed hard (SIGKILL) after its first epoch; the same command with
    output.resume=true runs a new SLURM job that resumes the killed run from its backup."""
    sweep = tmp_path / "sweep"
    command = ["-m", *LOCAL, *TO_KILL, "seed=2", f"hydra.sweep.dir={sweep}", "output.resume=true"]
    proc = start_sweep(command, tmp_path)
    killed = once_running(sweep, "0", proc, epochs=1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    slurm.run("scancel", "--signal=KILL", "--full", killed)
    deadline = time.time() + 120
    while slurm.state(killed) in ("RUNNING", "COMPLETING") and time.time() < deadline:
        time.sleep(0.5)
    stopped = rundir.status(str(sweep / "0"))  # interrupted where SLURM's SIGTERM to the step came first
    assert stopped in ("interrupted", "killed")

    again = run_cli(command, tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    second = json.loads((sweep / "sweep_summary.json").read_text())["job_ids"]["0"]
    assert second != killed and json.loads((sweep / "0" / "status.json").read_text())["slurm_job"] == second
    assert [row["epoch"] for row in history_rows(sweep / "0")] == ["0", "1"]  # epoch 1 only, after the kill
    first, last = metrics(sweep / "0")["attempts"]
    assert (first["status"], last["status"]) == (stopped, "completed")
    assert f"job 0: {stopped}, resumed from its backup" in (sweep / "0" / "cli.log").read_text()
