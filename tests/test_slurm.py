"""Sweeps on SLURM (hydra/launcher=slurm) on a one-node cluster started on this machine (conftest's `slurm`):
every job completes and is counted, a cancelled job counts as cancelled, a job SLURM stops (submitit's
checkpoint signal, as before a time limit; scontrol requeue, as a preemption) is requeued and resumes from its
last finished epoch to the result of its uninterrupted twin, and a killed sweep carries on with output.resume."""
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from conftest import run_cli
from finetune_lab import rundir, slurm as slurm_sweeps, sweep as sweep_summary
from slurm_cluster import PARTITION
from test_robustness import TO_KILL, assert_ends_like, history_rows, metrics, wait_until

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


@pytest.mark.e2e
def test_a_slurm_sweep_completes_its_jobs_and_counts_a_cancelled_and_a_timed_out_one(slurm, tmp_path):
    """Four debug=smoke jobs as one job array, none requeued after a time limit (max_num_timeout=0): once they run,
    job 2 is cancelled with scancel and job 3 gets submitit's checkpoint signal (as before its time limit). Jobs 0
    and 1 complete; the summary counts job 2 as cancelled and job 3 as timeout (their folders say interrupted, to be
    resumed with output.resume=true) and names every job's SLURM id; the console has a status line per change of
    the queued/running/done counts and no repeated sacct warning."""
    sweep = tmp_path / "sweep"
    proc = start_sweep(["-m", *LOCAL, "hydra.launcher.max_num_timeout=0", "debug=smoke", "seed=0,1,2,3",
                        f"hydra.sweep.dir={sweep}"], tmp_path)
    cancelled = once_running(sweep, "2", proc)
    slurm.run("scancel", cancelled)
    timed_out = once_running(sweep, "3", proc)
    slurm.run("scancel", "--signal=USR2", timed_out)
    result = finish(proc)
    assert result.returncode == 1, result.stderr[-3000:]
    summary = json.loads((sweep / "sweep_summary.json").read_text())
    assert summary["jobs"] == {"0": "completed", "1": "completed", "2": "cancelled", "3": "timeout"}
    assert summary["counts"] == {"completed": 2, "cancelled": 1, "timeout": 1}
    ids = summary["job_ids"]
    assert ids == job_ids(sweep) and (ids["2"], ids["3"]) == (cancelled, timed_out)
    assert len({i.split("_")[0] for i in ids.values()}) == 1  # one job array
    assert slurm.state(cancelled) == "CANCELLED"
    assert [metrics(sweep / j)["status"] for j in "01"] == ["completed", "completed"]
    assert [json.loads((sweep / j / "status.json").read_text())["slurm_job"] for j in "01"] == [ids["0"], ids["1"]]
    for job in "23":
        assert rundir.status(str(sweep / job)) in ("interrupted", "killed")
        assert not (sweep / job / "metrics.json").exists()
    assert "4 jobs: 1 cancelled, 2 completed, 1 timeout" in result.stderr
    assert f"SLURM job {timed_out} ended without a result: Job not requeued because: timed-out too many times." in (
        result.stdout + result.stderr)

    console = result.stdout + result.stderr
    lines = [tuple(map(int, m.groups())) for m in STATUS_LINE.finditer(console)]
    assert lines[0][1] + lines[0][2] == 4 and lines[-1] == (4, 0, 0, 4)  # first all waiting or running, last all done
    assert all(a != b for a, b in zip(lines, lines[1:]))  # a line per change, not per poll
    assert console.count("sacct") <= 1


@pytest.mark.e2e
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


@pytest.mark.e2e
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


class ScriptedJob:
    """What wait() reads of a submitit job: its id and where its result file lands."""

    def __init__(self, folder, job_id):
        self.job_id = job_id
        self.paths = SimpleNamespace(result_pickle=folder / f"{job_id}_result.pkl")


def test_wait_follows_each_job_to_its_ending_with_a_status_line_per_change(tmp_path, monkeypatch, caplog):
    """Three jobs by squeue's answers: 7_0 leaves its result, 7_1 is cancelled, 7_2 drops out of squeue without one
    (lost). squeue is asked every 2 s of the (scripted) clock; the status line is logged when its counts change."""
    jobs = [ScriptedJob(tmp_path, f"7_{i}") for i in range(3)]
    answers = [{"7_0": "PENDING", "7_1": "PENDING", "7_2": "PENDING"},
               {"7_0": "RUNNING", "7_1": "RUNNING", "7_2": "PENDING"},
               {"7_0": "RUNNING", "7_1": "RUNNING", "7_2": "RUNNING"},
               {"7_0": "RUNNING", "7_1": "CANCELLED", "7_2": "RUNNING"},
               {"7_0": "COMPLETED"}, {"7_0": "COMPLETED"}]
    asked = []

    def states(job_ids):
        asked.append(now[0])
        if len(asked) == 4:
            jobs[0].paths.result_pickle.write_bytes(b"result")  # 7_0 ends as squeue still lists it running
        return answers[len(asked) - 1]

    now = [0.0]
    monkeypatch.setattr(slurm_sweeps, "states", states)
    with caplog.at_level("INFO", logger="finetune_lab.slurm"):
        endings = slurm_sweeps.wait(jobs, "SWEEP", clock=lambda: now[0],
                                    sleep=lambda s: now.__setitem__(0, now[0] + s))
    assert endings == [None, "cancelled", "lost"]
    assert all(b - a >= 2 for a, b in zip(asked, asked[1:]))
    lines = [tuple(map(int, m.groups())) for m in STATUS_LINE.finditer(caplog.text)]
    assert lines == [(3, 3, 0, 0), (3, 1, 2, 0), (3, 0, 3, 0), (3, 0, 2, 1), (3, 0, 1, 2), (3, 0, 0, 3)]


def test_a_folder_run_by_this_slurm_job_is_its_requeued_run(tmp_path, monkeypatch):
    """A run whose status.json names this process's SLURM job was started by an earlier attempt of the job: not
    alive (SLURM ended it before the requeue), wherever it ran, and resumed by the job; one of another job is not."""
    monkeypatch.setenv("SLURM_JOB_ID", "41")
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "40")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "1")
    assert slurm_sweeps.job_id() == "40_1"
    for job, expected in (("40_1", ("killed", True)), ("40_2", ("running", False))):
        (tmp_path / job).mkdir()
        (tmp_path / job / "status.json").write_text(json.dumps(
            {"status": "running", "pid": 1, "host": "another-node", "slurm_job": job}))
        assert (rundir.status(str(tmp_path / job)), rundir.requeued(str(tmp_path / job))) == expected
    rundir.mark(str(tmp_path / "40_2"), "running")
    assert json.loads((tmp_path / "40_2" / "status.json").read_text())["slurm_job"] == "40_1"


def test_the_scheduler_ending_counts_only_where_the_folder_holds_no_final_status():
    jobs = {"0": {"job_id": "5_0"}, "1": {"job_id": "5_1", "ending": "cancelled"},
            "2": {"job_id": "5_2", "ending": "cancelled"}, "10": {"job_id": "5_10", "ending": "timeout"}}
    statuses = {"0": "completed", "1": "interrupted", "2": "completed"}  # job 10 never started: no folder
    assert list(sweep_summary.with_endings(statuses, jobs).items()) == [
        ("0", "completed"), ("1", "cancelled"), ("2", "completed"), ("10", "timeout")]


def test_a_time_limit_not_requeued_stops_the_run_as_a_signal_does_then_ends_the_job():
    """submitit's checkpoint handler raising (not requeued) inside the block becomes a KeyboardInterrupt there (the
    runner records `interrupted`), and its error is raised at the block's end; a requeue's SystemExit passes."""
    usr = getattr(signal, "SIGUSR2")
    previous = signal.getsignal(usr)

    def not_requeued(signum, frame):
        raise RuntimeError("Job not requeued because: timed-out too many times.")

    seen = []
    try:
        signal.signal(usr, not_requeued)
        with pytest.raises(RuntimeError, match="timed-out too many times"):
            with slurm_sweeps.stopped_when_not_requeued():
                try:
                    os.kill(os.getpid(), usr)
                    time.sleep(5)
                except KeyboardInterrupt:
                    seen.append("interrupt")
                    raise
        assert seen == ["interrupt"] and signal.getsignal(usr) is not_requeued
        signal.signal(usr, lambda signum, frame: sys.exit(-1))
        with pytest.raises(SystemExit), slurm_sweeps.stopped_when_not_requeued():
            os.kill(os.getpid(), usr)
            time.sleep(5)
    finally:
        signal.signal(usr, previous)


def test_submitits_sacct_warning_is_shown_once(tmp_path, monkeypatch, caplog):
    """A cluster without accounting answers every sacct call of submitit's status poll with an error, which submitit
    logs as a warning each time: launch() lets the first through, once however often it launches."""
    import submitit
    import submitit.core.core as submitit_core

    monkeypatch.setattr(logging.getLogger("submitit"), "filters", [])  # this test's filter goes with it
    monkeypatch.setattr(submitit, "AutoExecutor", lambda **kwargs: (_ for _ in ()).throw(RuntimeError("stop")))
    launcher = SimpleNamespace(params={"submitit_folder": str(tmp_path), "max_num_timeout": 0})
    for _ in range(2):
        with pytest.raises(RuntimeError, match="stop"):
            slurm_sweeps.launch(launcher, [["seed=0"]], 0)
    with caplog.at_level("WARNING", logger="submitit"):
        watcher = submitit_core.InfoWatcher()
        monkeypatch.setattr(watcher, "_make_command", lambda: ["false"])
        for _ in range(3):
            watcher.update()
    assert caplog.text.count("Bypassing sacct error") == 1
