"""Sweeps through Hydra's launcher plugins (joblib, submitit local), device.strategy=mirrored, TensorBoard logs,
and the example configs (Optuna search, SLURM) composing."""
import json
import re
from pathlib import Path

import pytest
import yaml

from conftest import QUICK, run_cli
from finetune_lab.config import validate
from finetune_lab.errors import ConfigError


def _sweep(cwd: Path) -> Path:
    (sweep_dir,) = list((cwd / "outputs" / "multirun").iterdir())
    return sweep_dir


def _check_job(job: Path) -> dict:
    metrics = json.loads((job / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["epochs_run"] == 1
    assert json.loads((job / "status.json").read_text())["status"] == "completed"
    events = list((job / "tensorboard").rglob("events.out.tfevents.*"))
    assert {e.parent.name for e in events} == {"train", "validation"}  # TensorBoard, in the job's own folder
    return yaml.safe_load((job / ".hydra" / "config.yaml").read_text())


@pytest.mark.e2e
def test_joblib_sweep_runs_each_job_in_its_own_process_and_folder(parallel_sweep):
    cwd, sweep, _ = parallel_sweep
    assert sorted(p.name for p in sweep.iterdir()) == ["0", "1", "2", "multirun.yaml", "sweep_summary.json"]
    assert sorted(p.name for p in cwd.iterdir()) == ["outputs"]  # nothing written outside the sweep folder
    cutoffs = [_check_job(sweep / name)["data"]["cutoff_rate"] for name in ("0", "1")]
    assert cutoffs == [0.02, 0.04]
    pids = {json.loads((sweep / n / "status.json").read_text())["pid"] for n in ("0", "1")}
    assert len(pids) == 2  # loky worker processes, not the launching one
    launcher = yaml.safe_load((sweep / "multirun.yaml").read_text())["hydra"]["launcher"]
    assert launcher["_target_"].endswith("JoblibLauncher") and launcher["n_jobs"] == 2


@pytest.mark.e2e
def test_sweep_summary_is_written_by_the_main_process(parallel_sweep):
    _, sweep, result = parallel_sweep
    summary = json.loads((sweep / "sweep_summary.json").read_text())
    assert summary == {"jobs": {"0": "completed", "1": "completed", "2": "failed"},
                       "counts": {"completed": 2, "failed": 1}}
    assert "3 jobs: 2 completed, 1 failed" in result.stderr


@pytest.mark.e2e
def test_submitit_local_sweep_and_the_mirrored_strategy(tmp_path):
    result = run_cli(["-m", "hydra/launcher=submitit_local", "device.strategy=default,mirrored", *QUICK], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    sweep = _sweep(tmp_path)
    strategies = [_check_job(sweep / name)["device"]["strategy"] for name in ("0", "1")]
    assert strategies == ["default", "mirrored"]
    assert "MirroredStrategy" in (sweep / "1" / "cli.log").read_text()
    assert json.loads((sweep / "sweep_summary.json").read_text())["counts"] == {"completed": 2}
    assert (sweep / ".submitit").is_dir()


def test_an_unknown_strategy_is_refused(compose):
    with pytest.raises(ConfigError, match=re.escape("device.strategy='tpu' is not allowed: one of default, mirrored")):
        validate(compose("device.strategy=tpu"))


@pytest.mark.parametrize("overrides, expected", [
    (["hparams_search=optuna_val_accuracy"], {"sweeper": "OptunaSweeper", "direction": "maximize"}),
    (["hydra/launcher=slurm"], {"launcher": "SlurmLauncher"}),
])
def test_example_configs_compose(tmp_path, overrides, expected):
    result = run_cli([*overrides, "--cfg", "hydra"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    hydra_cfg = yaml.safe_load(result.stdout)["hydra"]
    if "sweeper" in expected:
        assert hydra_cfg["sweeper"]["_target_"].endswith(expected["sweeper"])
        assert hydra_cfg["sweeper"]["direction"] == expected["direction"]
        assert hydra_cfg["mode"] == "MULTIRUN"
    else:
        assert hydra_cfg["launcher"]["_target_"].endswith(expected["launcher"])


@pytest.mark.e2e
def test_a_sweep_in_one_process_does_not_grow_from_job_to_job(one_process_sweep):
    """Hydra's basic launcher runs every job in the launching process: each job's model, optimizer and graph
    are freed when it ends (TensorFlow's gradient registry would otherwise keep them: ~0.2 GiB a job here).
    The shared sweep's first three jobs complete alike (conftest.SWEEP_LRS)."""
    sweep, _ = one_process_sweep
    assert len({json.loads((sweep / str(i) / "status.json").read_text())["pid"] for i in range(5)}) == 1
    memory = [json.loads((sweep / str(i) / "metrics.json").read_text())["memory"] for i in range(3)]
    if memory[0]["scope"] != "run":
        pytest.skip("the peak of each job alone needs Linux's /proc/self/clear_refs")
    peaks = [m["peak_rss_gib"] for m in memory]
    # the second job peaks above the first once (the allocator keeps what the first freed); from then on
    # every job peaks where the one before did, instead of ~0.2 GiB higher
    assert peaks[2] - peaks[1] < 0.08, peaks
