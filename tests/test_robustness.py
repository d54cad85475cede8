"""Nothing lost, nothing misleading: resume after a kill, honest statuses, sweeps that survive bad jobs,
same seed -> same numbers."""
import csv
import json
import signal
import subprocess
import sys
import time

import pytest

from conftest import QUICK as BASE, run_cli, run_in_process

QUICK = BASE + ["training.deterministic=true"]


def only_run(cwd):
    (run,) = list((cwd / "outputs" / "runs").iterdir())
    return run


def metrics(run):
    return json.loads((run / "metrics.json").read_text())


def history_rows(run):
    return list(csv.DictReader(open(run / "history.csv")))


@pytest.mark.e2e
def test_a_killed_run_resumes_from_its_last_epoch_and_ends_like_an_uninterrupted_one(tmp_path):
    kill_resume_matches_straight(tmp_path, ["data.augment.enabled=true", "data.augment.noise=4"])


def kill_resume_matches_straight(tmp_path, overrides):
    """Run 3 epochs straight; run them again, kill after the first epoch, resume: both end alike. With
    augmentation, the resumed epochs must draw what the uninterrupted ones drew."""
    args = QUICK + ["training.epochs=3", "seed=11", *overrides]
    straight = tmp_path / "straight"
    straight.mkdir()
    assert run_cli(args, straight).returncode == 0
    reference = metrics(only_run(straight))

    killed = tmp_path / "killed"
    killed.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "finetune_lab", *args], cwd=killed,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:  # wait for the first finished epoch
        runs = list((killed / "outputs" / "runs").glob("*/history.csv"))
        if runs and len(history_rows(runs[0].parent)) >= 1:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run = only_run(killed)
    assert not (run / "metrics.json").exists()
    from finetune_lab import rundir

    assert rundir.status(str(run)) == "killed"

    result = run_cli([str(run)], killed, module="finetune_lab.resume")
    assert result.returncode == 0, result.stderr[-3000:]
    resumed = metrics(run)
    assert resumed["status"] == "completed" and resumed["epochs_run"] == reference["epochs_run"] == 3
    assert [int(r["epoch"]) for r in history_rows(run)] == [0, 1, 2]
    assert resumed["test"]["accuracy"] == pytest.approx(reference["test"]["accuracy"], abs=1e-9)
    assert resumed["test"]["loss"] == pytest.approx(reference["test"]["loss"], rel=1e-4)
    assert resumed["train"]["loss"] == pytest.approx(reference["train"]["loss"], rel=1e-4)


def test_a_completed_run_is_never_resumed_over(tmp_path, capsys):
    from finetune_lab.cli import resume_main

    run = tmp_path / "done"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text("seed: 0\n")
    (run / "metrics.json").write_text(json.dumps({"status": "completed"}))
    with pytest.raises(SystemExit) as stop:
        resume_main([str(run)])
    assert stop.value.code == 2 and "never overwritten" in capsys.readouterr().err
    assert json.loads((run / "metrics.json").read_text()) == {"status": "completed"}


def test_same_seed_gives_identical_metrics_when_deterministic(tmp_path):
    results = []
    for name in ("a", "b"):
        m = run_in_process(tmp_path / name, *QUICK, "seed=5")
        results.append((m["test"]["loss"], m["test"]["accuracy"], m["train"]["loss"], m["val"]["loss"]))
    assert results[0] == results[1]


@pytest.mark.e2e
def test_a_sweep_survives_a_diverging_and_an_invalid_job(tmp_path):
    result = run_cli(["-m"] + QUICK + ["training.optimizer.lr=1e-4,1e12,-1"], tmp_path)
    assert result.returncode == 1
    (sweep,) = list((tmp_path / "outputs" / "multirun").iterdir())
    summary = json.loads((sweep / "sweep_summary.json").read_text())
    assert summary["jobs"] == {"0": "completed", "1": "diverged", "2": "failed"}
    assert "3 jobs" in result.stderr and "1 diverged" in result.stderr and "1 failed" in result.stderr
    assert metrics(sweep / "0")["test"]["accuracy"] >= 0
    assert "NaN" in metrics(sweep / "1")["error"]
    assert "training.optimizer.lr" in metrics(sweep / "2")["error"]


@pytest.mark.e2e
def test_sigterm_leaves_an_interrupted_run_that_says_how_to_resume(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "finetune_lab", *QUICK, "training.epochs=20"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if list((tmp_path / "outputs" / "runs").glob("*/history.csv")):
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in stderr
    run = only_run(tmp_path)
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "interrupted" and status["resume"] == f"finetune-lab-resume {run}"
    assert not (run / "metrics.json").exists()


@pytest.mark.e2e
def test_a_killed_sweep_carries_on_when_its_command_is_run_again(tmp_path):
    """Kill a sweep hard inside its second job; the same command with output.resume=true skips the first
    (its record untouched), resumes the second from its backup and runs the third."""
    sweep = tmp_path / "sweep"
    command = ["-m", *QUICK, "training.epochs=2", "seed=0,1,2", f"hydra.sweep.dir={sweep}"]
    proc = subprocess.Popen([sys.executable, "-m", "finetune_lab", *command], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if (sweep / "1" / "history.csv").exists() and len(history_rows(sweep / "1")) == 1:
            break
        time.sleep(0.2)
    proc.kill()  # no handler runs: the second job's status stays `running` with a dead pid
    proc.wait(timeout=60)
    first = (sweep / "0" / "metrics.json").read_bytes()
    assert not (sweep / "1" / "metrics.json").exists() and not (sweep / "2").exists()

    again = run_cli(command, tmp_path)
    assert again.returncode == 1 and "refused" in again.stderr  # the default never touches a folder with a run
    assert (sweep / "0" / "metrics.json").read_bytes() == first

    resumed = run_cli(command + ["output.resume=true"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "3 jobs: 3 completed" in resumed.stdout
    assert (sweep / "0" / "metrics.json").read_bytes() == first
    log = (sweep / "1" / "cli.log").read_text()
    assert "killed, resumed from its backup" in log and "job 0: completed already" in (sweep / "0" / "cli.log").read_text()
    assert [row["epoch"] for row in history_rows(sweep / "1")] == ["0", "1"]  # epoch 2 only, after the kill
    assert all(metrics(sweep / job)["epochs_run"] == 2 for job in "012")

    changed = run_cli(command + ["output.resume=true", "training.epochs=3"], tmp_path)
    assert changed.returncode == 1 and "holds another job (training.epochs: 2 -> 3)" in changed.stderr + changed.stdout
    assert (sweep / "0" / "metrics.json").read_bytes() == first
