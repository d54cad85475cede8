"""Nothing lost, nothing misleading: resume after a kill, honest statuses, sweeps that survive bad jobs,
same seed -> same numbers."""
import csv
import json
import shutil
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

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


# A run to kill: deterministic, with augmentation (the resumed epoch must draw what the uninterrupted one drew),
# two epochs of four batches (a kill after the first, while the second runs; the second after the resume).
TO_KILL = QUICK + ["training.epochs=2", "training.samples_per_epoch=null", "data.augment.enabled=true",
                   "data.augment.noise=4"]


def start_cli(args, cwd, stderr=subprocess.DEVNULL):
    """The command line started in a fresh process, not waited for."""
    return subprocess.Popen([sys.executable, "-m", "finetune_lab", *args], cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=stderr, text=True)


def wait_until(proc, reached, seconds=300):
    """Poll until `reached()` holds; fail if `proc` ended first."""
    deadline = time.time() + seconds
    while time.time() < deadline and proc.poll() is None and not reached():
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be stopped"


def one_epoch_done(run):
    return (run / "history.csv").exists() and len(history_rows(run)) == 1


def killed_and_resumed(cwd, args):
    """Run `args` in a fresh process, kill it hard (SIGKILL) once its first epoch is done, check that it is left
    `killed`, then resume it with finetune-lab-resume; returns the run folder."""
    proc = start_cli(args, cwd)
    wait_until(proc, lambda: any(one_epoch_done(r.parent) for r in (cwd / "outputs" / "runs").glob("*/history.csv")))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run = only_run(cwd)
    assert not (run / "metrics.json").exists()
    from finetune_lab import rundir

    assert rundir.status(str(run)) == "killed"
    result = run_cli([str(run)], cwd, module="finetune_lab.resume")
    assert result.returncode == 0, result.stderr[-3000:]
    assert_counts_both_attempts(metrics(run))
    return run


def assert_counts_both_attempts(resumed):
    """A run killed after its first epoch and resumed counts both attempts: wall seconds (the killed one up to its
    last write) and the training clock of both epochs, the first timed before the kill."""
    killed, finished = resumed["attempts"]
    assert killed["status"] == "killed" and finished["status"] == "completed"
    assert killed["wall_seconds"] > 0 and finished["wall_seconds"] > 0
    assert resumed["wall_seconds"] == pytest.approx(killed["wall_seconds"] + finished["wall_seconds"], abs=0.11)
    trained = 2 * resumed["provenance"]["data"]["counts"]["train"]
    assert resumed["train_images_per_second"] * resumed["train_seconds"] == pytest.approx(trained)


def assert_ends_like(run, reference):
    """`run` (killed after its first epoch and resumed) ends as `reference`, its uninterrupted twin."""
    resumed = metrics(run)
    assert resumed["status"] == "completed" and resumed["epochs_run"] == reference["epochs_run"] == 2
    assert [int(r["epoch"]) for r in history_rows(run)] == [0, 1]
    assert resumed["test"]["accuracy"] == pytest.approx(reference["test"]["accuracy"], abs=1e-9)
    assert resumed["test"]["loss"] == pytest.approx(reference["test"]["loss"], rel=1e-4)
    assert resumed["train"]["loss"] == pytest.approx(reference["train"]["loss"], rel=1e-4)


@pytest.mark.e2e
def test_a_killed_run_resumes_from_its_last_epoch_and_ends_like_an_uninterrupted_one(killed_sweep):
    """The killed job's folder as the kill left it, resumed by finetune-lab-resume (its function, in this process),
    ends as the sweep's twin job, the same config run to its end without a kill; so does the killed job itself,
    resumed by the sweep's command with output.resume=true."""
    from finetune_lab import rundir
    from finetune_lab.cli import resume_main

    run, twin = killed_sweep.killed_copy, metrics(killed_sweep.sweep / "1")
    assert rundir.status(str(run)) == "killed"
    resume_main([str(run)])
    assert_counts_both_attempts(metrics(run))
    assert_ends_like(run, twin)
    assert_ends_like(killed_sweep.sweep / "0", twin)


def kill_resume_matches_straight(tmp_path, overrides):
    """Run TO_KILL + `overrides` straight; run it again, kill it after the first epoch, resume: both end alike."""
    args = [*TO_KILL, "seed=11", *overrides]
    straight = tmp_path / "straight"
    straight.mkdir()
    assert run_cli(args, straight).returncode == 0
    killed = tmp_path / "killed"
    killed.mkdir()
    assert_ends_like(killed_and_resumed(killed, args), metrics(only_run(straight)))


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
def test_a_sweep_survives_a_diverging_and_an_invalid_job(one_process_sweep):
    """The shared sweep (learning rates SWEEP_LRS) exits 1, after every job: 1e12 diverges, -1 is refused."""
    sweep, result = one_process_sweep
    summary = json.loads((sweep / "sweep_summary.json").read_text())
    assert summary["jobs"] == {"0": "completed", "1": "completed", "2": "completed", "3": "diverged", "4": "failed"}
    assert "5 jobs: 3 completed, 1 diverged, 1 failed" in result.stderr
    assert all(metrics(sweep / job)["test"]["accuracy"] >= 0 for job in "012")
    assert "NaN" in metrics(sweep / "3")["error"]
    assert "training.optimizer.lr" in metrics(sweep / "4")["error"]


@pytest.mark.e2e
def test_sigterm_leaves_an_interrupted_run_that_says_how_to_resume(tmp_path):
    proc = start_cli([*QUICK, "training.epochs=20"], tmp_path, stderr=subprocess.PIPE)
    wait_until(proc, lambda: bool(list((tmp_path / "outputs" / "runs").glob("*/history.csv"))))
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr[-3000:]
    run = only_run(tmp_path)
    assert stderr.strip().splitlines()[-1] == (f"finetune-lab: run folder outputs/runs/{run.name}/ interrupted; "
                                               f"finetune-lab-resume outputs/runs/{run.name}/ continues it")
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "interrupted" and status["resume"] == f"finetune-lab-resume {run}"
    (attempt,) = status["attempts"]
    assert attempt["status"] == "interrupted" and attempt["wall_seconds"] == status["wall_seconds"] > 0
    assert not (run / "metrics.json").exists()


def test_an_error_raised_on_the_way_out_of_a_signal_is_the_signal(tmp_path, monkeypatch, compose):
    """The SIGTERM handler's KeyboardInterrupt, raised inside TensorFlow's C++, can come out as another error
    (SystemError: bad argument to internal function): once a stop was asked for, the run is interrupted and
    resumable, not failed."""
    from finetune_lab import rundir, runner, train

    def stopped_inside_a_step(cfg, run_dir, resume):
        train.STOP.set()   # what the handler does first
        raise SystemError("Objects/listobject.c:338: bad argument to internal function")

    monkeypatch.setattr(runner, "_run", stopped_inside_a_step)
    run_dir = str(tmp_path / "run")
    with pytest.raises(KeyboardInterrupt):
        runner.run(compose(*QUICK), run_dir)
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert rundir.status(run_dir) == "interrupted" and status["resume"] == f"finetune-lab-resume {run_dir}"
    train.STOP.clear()
    monkeypatch.setattr(runner, "_run", lambda *a: (_ for _ in ()).throw(SystemError("a bug of ours")))
    with pytest.raises(SystemError):   # without a stop asked for, the same error is a failure
        runner.run(compose(*QUICK), str(tmp_path / "other"))
    assert rundir.status(str(tmp_path / "other")) == "failed"


@pytest.fixture(scope="module")
def killed_sweep(tmp_path_factory):
    """A sweep of two twin TO_KILL jobs (the same seed twice: Hydra runs a repeated value again) killed hard inside
    its first job, then its command run again: as it was (which runs the second job, never started), with
    output.resume=true, and with output.resume=true and another training.epochs. What each step left, by name:
    `after_kill` (whether job 0 had metrics.json and job 1 a folder), `killed_copy` (a copy of job 0's folder as
    the kill left it), `killed_after_again` (job 0's status and history.csv after the plain command),
    `second_bytes` (job 1's metrics.json then), and the three CompletedProcesses."""
    cwd = tmp_path_factory.mktemp("killed_sweep")
    sweep = cwd / "sweep"
    command = ["-m", *TO_KILL, "seed=1,1", f"hydra.sweep.dir={sweep}"]
    proc = start_cli(command, cwd)
    wait_until(proc, lambda: one_epoch_done(sweep / "0"))
    proc.kill()  # no handler runs: the first job's status stays `running` with a dead pid
    proc.wait(timeout=60)
    after_kill = {"0/metrics.json": (sweep / "0" / "metrics.json").exists(), "1": (sweep / "1").exists()}
    killed_copy = shutil.copytree(sweep / "0", cwd / "killed_copy")
    history = (sweep / "0" / "history.csv").read_bytes()
    again = run_cli(command, cwd)
    from finetune_lab import rundir

    killed_after_again = (rundir.status(str(sweep / "0")), (sweep / "0" / "history.csv").read_bytes() == history)
    second_bytes = (sweep / "1" / "metrics.json").read_bytes()
    resumed = run_cli(command + ["output.resume=true"], cwd)
    changed = run_cli(command + ["output.resume=true", "training.epochs=3"], cwd)
    return SimpleNamespace(sweep=sweep, after_kill=after_kill, killed_copy=killed_copy,
                           killed_after_again=killed_after_again,
                           second_bytes=second_bytes, again=again, resumed=resumed, changed=changed)


@pytest.mark.e2e
def test_a_killed_sweep_carries_on_when_its_command_is_run_again(killed_sweep):
    """The same command refuses the folder that holds a run and runs the job never started; with
    output.resume=true it resumes the killed job from its backup and skips the completed one (its record
    untouched); with another training.epochs it is refused."""
    sweep, second = killed_sweep.sweep, killed_sweep.second_bytes
    assert killed_sweep.after_kill == {"0/metrics.json": False, "1": False}

    again = killed_sweep.again
    assert again.returncode == 1 and "refused" in again.stderr  # the default never touches a folder with a run
    assert killed_sweep.killed_after_again == ("killed", True)
    assert metrics(sweep / "1")["status"] == "completed"  # the job never started, run by the same command
    resumed = killed_sweep.resumed
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "2 jobs: 2 completed" in resumed.stdout
    log = (sweep / "0" / "cli.log").read_text()
    assert "killed, resumed from its backup" in log and "job 1: completed already" in (sweep / "1" / "cli.log").read_text()
    assert [row["epoch"] for row in history_rows(sweep / "0")] == ["0", "1"]  # epoch 2 only, after the kill
    assert all(metrics(sweep / job)["epochs_run"] == 2 for job in "01")

    changed = killed_sweep.changed
    assert changed.returncode == 1 and "holds another job (training.epochs: 2 -> 3)" in changed.stderr + changed.stdout
    assert (sweep / "1" / "metrics.json").read_bytes() == second  # after the two commands with output.resume


@pytest.mark.parametrize("error, expected", [
    (OSError(28, "No space left on device"), ("no space left", None)),
    (OSError(122, "Disk quota exceeded", "outputs/runs/x/history.csv"),
     ("disk quota exceeded", "outputs/runs/x/history.csv")),
    # h5py keeps the C library's errno and names the file only in its message
    (OSError(27, "Can't synchronously write data (file write failed: time = Thu Dec  3 14:18:06 2026\n, filename = "
                 "'run/backup/.next.weights.h5', file descriptor = 7, errno = 27, error message = 'File too large')"),
     ("file size limit exceeded", "run/backup/.next.weights.h5")),
    (RuntimeError("UnknownError: run/tensorboard/events.out; No space left on device"), ("no space left", None)),
    (OSError("524288 requested and 262112 written"),  # numpy's short write, no errno
     ("a short write (no space, a quota or a file-size limit)", None)),
])
def test_a_write_refused_for_want_of_space_is_recognised_with_its_file(error, expected):
    from finetune_lab.errors import out_of_space

    assert out_of_space(error) == expected
    try:  # also as the cause of another error (a library that wraps it)
        try:
            raise error
        except Exception as inner:
            raise ValueError("could not save the weights") from inner
    except ValueError as outer:
        assert out_of_space(outer) == expected


@pytest.mark.parametrize("error", [OSError(2, "No such file or directory", "x"), PermissionError(13, "denied"),
                                   ValueError("File too small"), OSError("Unable to open file (truncated file)")])
def test_other_errors_are_not_taken_for_a_full_disk(error):
    from finetune_lab.errors import out_of_space

    assert out_of_space(error) is None


# A file-size limit (RLIMIT_FSIZE) that every log, record and picture of a smoke run passes under, and that its
# model (VGG16's weights, ~59 MB; a frozen base's head alone: ~2 MB) does not
FILE_SIZE_LIMIT = 8_000_000


def run_under_file_size_limit(args, cwd):
    """The command line in a fresh process whose files cannot grow past FILE_SIZE_LIMIT bytes."""
    import os
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))

    return subprocess.run([sys.executable, "-m", "finetune_lab", *args], cwd=cwd, preexec_fn=limit,
                          capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONUNBUFFERED": "1"})


@pytest.mark.e2e
@pytest.mark.parametrize("overrides, written, kept", [
    ([], "backup/", 0),  # the first epoch's checkpoint: the whole model with its optimizer state
    (["model.freeze=all", "output.save_model=true", "training.feature_store=null", "training.epochs=2"],
     "model.keras", 2),  # training done (the head's checkpoint is small), the model file after evaluation
], ids=["backup", "model"])
def test_a_full_disk_interrupts_the_run_in_one_line_and_resume_completes_it(tmp_path, overrides, written, kept):
    args = ["debug=smoke", "training.samples_per_epoch=16", *overrides]
    result = run_under_file_size_limit(args, tmp_path)
    (run,) = list((tmp_path / "outputs" / "debug" / "runs").iterdir())
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"finetune-lab: error: file size limit exceeded writing {run}/") and written in line
    assert line.endswith(f"the run is interrupted, its finished epochs kept ({kept} of {kept or 1}); "
                         f"finetune-lab-resume {run} continues it once space is back")
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "interrupted" and status["resume"] == f"finetune-lab-resume {run}"
    assert not (run / "metrics.json").exists() and len(history_rows(run)) == kept

    resumed = run_cli([str(run)], tmp_path, module="finetune_lab.resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    finished = metrics(run)
    assert finished["status"] == "completed" and [a["status"] for a in finished["attempts"]] == ["interrupted",
                                                                                                "completed"]
    assert len(history_rows(run)) == finished["epochs_run"] == (kept or 1)  # the kept epochs not trained again
    assert not (run / "backup").exists()  # dropped once the run's record is written
    assert resumed.stdout.strip().splitlines()[-1] == (
        f"finetune-lab-resume: run folder outputs/debug/runs/{run.name}/ (completed, test accuracy "
        f"{finished['test']['accuracy']:.4f})")
