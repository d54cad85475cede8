"""The command line end to end (e2e): a tiny real run in a fresh process as a user starts it, and bad input
refused in one line; lp_ft through the runner in-process."""
import csv
import json
import re

import pytest

from conftest import QUICK, run_cli, run_in_process

EXPECTED_FILES = ["metrics.json", "status.json", "history.csv", "predictions.csv", "confusion_matrix.png",
                  "learning_curves.png", "model.keras", ".hydra/config.yaml", ".hydra/overrides.yaml"]


@pytest.fixture(scope="module")
def tiny_run(tiny_cli):
    runs = list((tiny_cli[0] / "outputs" / "runs").iterdir())
    assert len(runs) == 1
    return runs[0]


# Python warnings (UserWarning, ...), logged warnings ([WARNING], WARNING:tensorflow) and TensorFlow's C++ log
# lines (I0000 / W0000 / E0000 ...)
WARNING_LINE = re.compile(r"warn|^[IWEF]\d{4} ", re.IGNORECASE)


@pytest.mark.e2e
def test_the_console_holds_only_the_runs_log_and_keras_progress(tiny_cli):
    _, result = tiny_cli
    lines = (result.stdout + result.stderr).splitlines()
    assert [line for line in lines if WARNING_LINE.search(line)] == []
    assert any("test accuracy" in line for line in lines) and any(" - loss: " in line for line in lines)


@pytest.mark.e2e
def test_a_run_ends_with_a_line_naming_its_folder(tiny_cli, tiny_run):
    """The run's own last line (before the IMPORTED line of the test's wrapper) names the real folder, relative
    to where the command ran, with its status and test accuracy; each stage after training says what it does."""
    cwd, result = tiny_cli
    *lines, imported = result.stdout.strip().splitlines()
    assert imported.startswith("IMPORTED")
    accuracy = json.loads((tiny_run / "metrics.json").read_text())["test"]["accuracy"]
    assert lines[-1] == (f"finetune-lab: run folder outputs/runs/{tiny_run.name}/ (completed, test accuracy "
                         f"{accuracy:.4f})")
    assert (cwd / lines[-1].split()[3]).resolve() == tiny_run.resolve()
    for stage in ("training set evaluation: 64 images", "test evaluation: 20 images", "feature maps of 2 layers after",
                  "saving the model", "layer change:", "original task (hed_bsds500):"):
        assert any(stage in line for line in lines), stage


@pytest.mark.e2e
def test_a_sweep_ends_with_a_line_naming_its_folder_and_summary(one_process_sweep):
    sweep, result = one_process_sweep
    last = result.stderr.strip().splitlines()[-1]  # some jobs did not complete: on stderr
    shown = f"outputs/multirun/{sweep.name}/"
    assert last == (f"finetune-lab: sweep folder {shown} (5 jobs: 3 completed, 1 diverged, 1 failed; summary "
                    f"{shown}sweep_summary.json)")
    assert (sweep / "sweep_summary.json").is_file()


@pytest.mark.e2e
def test_a_tiny_run_writes_every_file(tiny_run):
    for name in EXPECTED_FILES:
        assert (tiny_run / name).is_file(), name
    for layer in ("block1_conv1", "block5_conv3"):
        for tag in ("before", "after"):
            assert (tiny_run / "feature_maps" / f"{layer}.{tag}.png").stat().st_size > 1000
    assert not (tiny_run / "backup").exists()  # BackupAndRestore cleans up after a finished fit


@pytest.mark.e2e
def test_metrics_json_is_complete_and_consistent(tiny_run):
    m = json.loads((tiny_run / "metrics.json").read_text())
    assert m["status"] == "completed" and m["epochs_run"] == 1
    test = m["test"]
    assert test["n"] == 20 and 0 <= test["accuracy"] <= 1
    assert test["ci95"][0] <= test["accuracy"] <= test["ci95"][1]
    assert set(test["per_class_accuracy"]) == {str(d) for d in range(10)}
    counts = m["provenance"]["data"]["counts"]
    assert counts == {"train": 64, "val": 16, "test": 20}
    assert m["provenance"]["weights"]["source"] == "hed_bsds500"
    assert len(m["provenance"]["weights"]["sha256"]) == 64
    assert m["provenance"]["packages"]["keras"]
    assert m["parameters"]["total"] == m["parameters"]["trainable"] + m["parameters"]["non_trainable"]
    assert m["train_images_per_second"] > 0 and m["wall_seconds"] > 0
    assert json.loads((tiny_run / "status.json").read_text())["status"] == "completed"


@pytest.mark.e2e
def test_predictions_agree_with_the_reported_accuracy(tiny_run):
    rows = list(csv.DictReader(open(tiny_run / "predictions.csv")))
    m = json.loads((tiny_run / "metrics.json").read_text())
    assert len(rows) == 20 and set(rows[0]) == {"index", "label", "predicted", "confidence"}
    correct = sum(r["label"] == r["predicted"] for r in rows)
    assert correct / len(rows) == pytest.approx(m["test"]["accuracy"])


@pytest.mark.e2e
def test_history_has_one_row_per_epoch(tiny_run):
    rows = list(csv.DictReader(open(tiny_run / "history.csv")))
    assert len(rows) == 1 and {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(rows[0])


@pytest.mark.e2e
def test_the_saved_model_loads_with_plain_keras_and_predicts_like_the_run_on_raw_digits(tiny_run):
    import keras

    from finetune_lab import data, sources  # data registers DigitInput with Keras

    model = keras.models.load_model(tiny_run / "model.keras")  # its input path inside: uint8 digits in
    assert isinstance(model.get_layer("digit_input"), data.DigitInput) and model.input.dtype == "uint8"
    digits = sources.load_digits("mnist_embedded")
    predicted = model.predict(digits.x_test[:20], verbose=0).argmax(axis=1)
    rows = list(csv.DictReader(open(tiny_run / "predictions.csv")))
    assert list(predicted) == [int(r["predicted"]) for r in rows]


@pytest.mark.e2e
def test_train_eval_is_the_training_set_scored_in_inference_mode(tiny_run):
    """metrics.json's train_eval: the saved model on the run's own training images, no dropout."""
    import keras

    from finetune_lab import config, data, sources

    cfg = config.from_saved(tiny_run / ".hydra" / "config.yaml")
    split = data.split_from_config(sources.load_digits(cfg.data.source), cfg.data)
    model = keras.models.load_model(tiny_run / "model.keras")
    predicted = model.predict(split.x_train, verbose=0).argmax(axis=1)
    train_eval = json.loads((tiny_run / "metrics.json").read_text())["train_eval"]
    assert train_eval["n"] == len(split.y_train) == 64
    assert train_eval["accuracy"] == pytest.approx((predicted == split.y_train).mean(), abs=1e-6)


@pytest.mark.e2e
def test_a_refused_config_is_one_line_and_leaves_a_failed_run_not_a_half_written_one(tmp_path):
    result = run_cli(["data.cutoff_rate=1.5"], tmp_path)
    (run_dir,) = list((tmp_path / "outputs" / "runs").iterdir())
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        "finetune-lab: error: data.cutoff_rate=1.5 is not allowed: a fraction in (0, 1]; "
        f"run folder outputs/runs/{run_dir.name}/ (failed)"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "failed" and "cutoff_rate" in metrics["error"]


def test_lp_ft_runs_through_the_runner(tmp_path):
    """training.strategy=lp_ft: a linear-probe phase with the base frozen, then fine-tuning, in one run."""
    metrics = run_in_process(tmp_path / "run", *QUICK, "training.strategy=lp_ft", "training.lp_epochs=1")
    assert metrics["status"] == "completed" and metrics["linear_probe"]["epochs"] == 1
    assert metrics["epochs_run"] == 1 and 0 <= metrics["test"]["accuracy"] <= 1
