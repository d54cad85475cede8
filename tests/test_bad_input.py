"""Bad input of every kind: a non-zero exit and one line that names what is wrong, never a traceback.
The table in docs/bad-input.md lists the same cases. One case of each kind of refusal goes through the command
line in a fresh process (e2e); the others are checked in-process through the same calls the command line makes
(composition, config.validate, the runner), which is where their message is made."""
import json
import os

import numpy as np
import pytest
from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from conftest import QUICK, TINY, TWO_STEPS, run_cli
from finetune_lab import config
from finetune_lab.errors import UserError, one_line


def make_files(tmp_path):
    """Files for the cases that need one: a truncated weights file, a file that is not HDF5, weights of
    another network, a corrupt Keras-cache MNIST."""
    good = tmp_path / "good.weights.h5"
    import keras

    keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3)).save_weights(good)
    (tmp_path / "truncated.weights.h5").write_bytes(good.read_bytes()[:5000])
    (tmp_path / "notes.h5").write_text("these are not weights\n")
    (tmp_path / "keras" / "datasets").mkdir(parents=True)
    np.savez(tmp_path / "keras" / "datasets" / "mnist.npz", x_train=np.zeros((3, 5)))
    (tmp_path / "a_file").write_text("")
    (tmp_path / "one_class" / "only").mkdir(parents=True)
    (tmp_path / "one_class" / "only" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    from finetune_lab.model import scratch_cnn

    scratch_cnn((28, 28, 1)).save_weights(tmp_path / "other_network.weights.h5")  # loads, but not into VGG16


# Refused by composition or config.validate, before any run starts: (override(s), text the line must contain).
CONFIG_CASES = [
    (["data.cutoff_rate=1.5"], "data.cutoff_rate=1.5 is not allowed: a fraction in (0, 1]"),
    (["data.validation_fraction=1"], "data.validation_fraction"),
    (["data.input_size=20"], "data.input_size=20"),
    (["data.input_size=2.5"], "data.input_size"),
    (["data.placement=corner"], "one of seed, center, resize"),
    (["data.channels=gray"], "model.base=vgg16 takes 3 channels"),
    (["data.source=cifar"], "one of mnist, mnist_embedded"),
    (["model.base=resnet51"], "one of vgg16, vgg19, resnet50"),
    (["model.freeze=block9"], "model.freeze='block9'"),
    (["model.freeze=stages:6"], "stages:K (K in 1..5: every layer up to the end of stage K"),
    (["model.freeze=upto:block3_conv9"], "'block3_conv9' is not a layer of the base (did you mean 'block3_conv3'"),
    (["model.base=resnet50", "model.weights=hed_bsds500"], "hed_bsds500 holds VGG16 weights"),
    (["model.base=scratch_cnn", "model.weights=null", "data.preprocess=base", "data.input_size=28"],
     "model.base=scratch_cnn has no preprocessing of its own"),
    (["data.source=folder"], "data.path=None is not allowed: an existing folder with one subfolder per class"),
    (["model.output_units=5"], "model.output_units=5"),
    (["model.weights=/no/such.h5"], "model.weights='/no/such.h5'"),
    (["model.head.dropout=1"], "model.head.dropout"),
    (["head=nope"], "Could not find 'head/nope'"),
    (["experiment=nope"], "experiment/nope"),
    (["nosuchkey=1"], "nosuchkey"),
    (["training.optimizer.name=rmsprop"], "one of sgd, adam"),
    (["training.optimizer.lr=-1"], "training.optimizer.lr"),
    (["training.optimizer.lr=nan"], "training.optimizer.lr=nan is not allowed: a finite number (not nan or inf)"),
    (["training.cache_max_gb=inf"], "training.cache_max_gb=inf is not allowed: a finite number"),
    (["data.augment.noise=-inf"], "data.augment.noise=-inf is not allowed: a finite number"),
    (["logger.name=wandb"], "logger.name='wandb' is not allowed: one of none, mlflow"),
    (["training.optimizer.momentum=0.9"], "0 unless optimizer.name=sgd"),
    (["training.epochs=0"], "training.epochs=0"),
    (["training.batch_size=many"], "training.batch_size"),
    (["analysis.feature_maps.layers=[block9_conv1]"], "analysis.feature_maps.layers[0]='block9_conv1'"),
    (["device.gpus=first"], "device.gpus='first'"),
    (["device.backend=torch"], "device.backend='torch' is not allowed: one of tensorflow, jax"),
    (["training.samples_per_epoch=0"],
     "training.samples_per_epoch=0 is not allowed: null (one pass over the training set) or an integer >= 1"),
    (["data.augment.shift=1"], "data.augment.shift=1.0 is not allowed: a fraction of the canvas in [0, 1)"),
    (["data.augment.enabled=true", "data.augment.rotation=0", "data.augment.shift=0", "data.augment.zoom=0"],
     "data.augment.enabled=True is not allowed: false when rotation, shift, zoom and noise are all 0"),
]

# Valid configs the run refuses once it has its data or weights in hand.
RUN_CASES = [
    (["model.weights={tmp}/truncated.weights.h5"] + QUICK, "could not load"),
    (["model.weights={tmp}/notes.h5"] + QUICK, "could not load"),
    (["analysis.feature_maps.image_index=100000"] + TINY[:2], "analysis.feature_maps.image_index"),
    (["data.cutoff_rate=0.0001"], "leaves no training image"),
    (["data=folder", "data.path={tmp}/one_class"] + QUICK, "1 class subfolder(s) (only)"),
]

# One of each kind through the command line: a value refused by validate (tests/test_cli.py:
# data.cutoff_rate=1.5), a wrong type at composition (OmegaConf), an option Hydra cannot find (its multi-line
# message folded), weights the runner cannot load (Keras' own warnings kept off the console), a data source
# (a corrupt MNIST in $KERAS_HOME, refused before the backend starts), a GPU the backend cannot start, an output
# folder that cannot be made.
CLI_CASES = [
    (["data.cutoff_rate=abc"], "data.cutoff_rate"),
    (["logger=wandb"], "Available options in 'logger': mlflow, none"),
    (["model.weights={tmp}/other_network.weights.h5"] + QUICK, "13 objects could not be loaded"),
    (["data.source=mnist"] + QUICK, "corrupt"),
    (["device.gpus=0"], "device.gpus='0': no GPU is visible to tensorflow on this machine"),
    (["hydra.run.dir={tmp}/a_file/run"], "cannot create the output folder"),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("files")
    make_files(tmp)
    return tmp


def with_files(overrides, files):
    return [o.replace("{tmp}", str(files)) for o in overrides]


def refusal(compose, overrides) -> str:
    """What the command line prints after `finetune-lab: error: ` for a config it refuses before the run: the
    message of the composition or of config.validate, as cli.main turns it into one line."""
    try:
        config.validate(compose(*overrides))
    except UserError as exc:
        return str(exc)
    except (HydraException, OmegaConfBaseException) as exc:
        return one_line(exc)
    pytest.fail(f"{overrides} was not refused")


@pytest.mark.parametrize("overrides, expected", CONFIG_CASES, ids=[c[0][0] for c in CONFIG_CASES])
def test_a_bad_config_is_refused_in_one_line(compose, overrides, expected):
    line = refusal(compose, overrides)
    assert expected in line and "\n" not in line, line


@pytest.mark.parametrize("overrides, expected", RUN_CASES, ids=[c[0][0].split("/")[-1] for c in RUN_CASES])
def test_a_run_that_cannot_use_its_inputs_fails_in_one_line(compose, files, tmp_path, overrides, expected):
    from finetune_lab import runner

    cfg = compose(*with_files(overrides, files))
    config.validate(cfg)
    with pytest.raises(UserError) as refused:
        runner.run(cfg, str(tmp_path / "run"))
    assert expected in str(refused.value) and "\n" not in str(refused.value), refused.value
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["status"] == "failed" and metrics["user_error"] and str(refused.value) in metrics["error"]


@pytest.mark.e2e
@pytest.mark.parametrize("overrides, expected", CLI_CASES, ids=[c[0][0].split("/")[-1] for c in CLI_CASES])
def test_bad_input_exits_non_zero_with_one_line(tmp_path, monkeypatch, files, overrides, expected):
    monkeypatch.setenv("KERAS_HOME", str(files / "keras"))
    result = run_cli(with_files(overrides, files), tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert len(lines) == 1, result.stderr[-2000:]
    assert lines[0].startswith("finetune-lab: error: ") and expected in lines[0], lines[0]


@pytest.mark.e2e
def test_imagenet_offline_is_refused_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    result = run_cli(["model.weights=imagenet"] + QUICK, tmp_path)
    if result.returncode == 0:
        pytest.skip("this machine can download the ImageNet weights")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert "model.weights='imagenet'" in line and "hed_bsds500" in line


@pytest.mark.e2e
def test_a_single_run_that_diverges_exits_1_with_its_status_line(tmp_path):
    result = run_cli(QUICK + TWO_STEPS + ["training.optimizer.lr=1e12"], tmp_path)
    (run_dir,) = list((tmp_path / "outputs" / "runs").iterdir())
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"finetune-lab: run folder outputs/runs/{run_dir.name}/ (diverged: loss became NaN; training stopped "
        "(TerminateOnNaN))"]


@pytest.mark.e2e
def test_logger_mlflow_without_mlflow_installed_is_one_line(tmp_path, monkeypatch):
    (tmp_path / "no_mlflow" / "mlflow").mkdir(parents=True)  # an `import mlflow` that fails as if not installed
    (tmp_path / "no_mlflow" / "mlflow" / "__init__.py").write_text("raise ImportError('No module named mlflow')\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path / "no_mlflow"), os.environ.get("PYTHONPATH", "")]))
    result = run_cli(["logger=mlflow"], tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    line, = result.stderr.strip().splitlines()   # one line: the cause, then the folder the refused run left
    assert line.startswith("finetune-lab: error: logger=mlflow: MLflow is not installed; pip install -e '.[mlflow]' "
                           "(or pip install mlflow), or use logger=none; run folder outputs/runs/")
    assert line.endswith("/ (failed)")
