"""The study as a template: conf/experiment/study_*.yaml apply to whatever base and data are chosen (they never
set either), compose with the model/ and data/ groups, and run tiny in-process; and the command line runs a random
MobileNetV3Small on an image folder end to end."""
import csv
import json
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from conftest import CONF_DIR, TINY_FOLDER, run_cli, run_in_process
from finetune_lab import catalog
from finetune_lab.config import validate

TEMPLATES = sorted(p.stem for p in (Path(CONF_DIR) / "experiment").glob("study_*.yaml"))
NOT_THEIRS = ("model.base", "model.weights", "data.source", "data.path")


def flat_keys(tree, prefix=""):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from flat_keys(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def test_the_templates_are_the_study_s_four():
    assert TEMPLATES == ["study_e4_frozen", "study_e5_trainable", "study_e6_sizes", "study_tradeoff"]


@pytest.mark.parametrize("name", TEMPLATES)
def test_a_template_never_sets_the_base_or_the_data(name):
    text = yaml.safe_load((Path(CONF_DIR) / "experiment" / f"{name}.yaml").read_text())
    assert not set(flat_keys(text)) & set(NOT_THEIRS)


@pytest.mark.parametrize("name", TEMPLATES)
@pytest.mark.parametrize("pair", [["model=resnet50", "data=folder", "data.path={shapes}"],
                                  ["model=mobilenet_v3_small", "data=cifar10"], []])
def test_a_template_applies_to_whatever_base_and_data_are_chosen(compose, shapes, name, pair):
    pair = [p.format(shapes=shapes) for p in pair]
    cfg = compose(f"experiment={name}", *pair)
    validate(cfg)
    alone = compose(*pair)
    for key in (*NOT_THEIRS, "data.preprocess", "data.placement"):
        assert OmegaConf.select(cfg, key) == OmegaConf.select(alone, key), key
    assert cfg.model.output_units is None  # the data's own classes
    assert list(cfg.analysis.feature_maps.layers) == catalog.feature_map_layers(cfg.model.base)


@pytest.mark.parametrize("name, overrides", [
    ("study_e4_frozen", TINY_FOLDER),
    ("study_e6_sizes", TINY_FOLDER + ["data.cutoff_rate=0.5", "training.samples_per_epoch=16"]),
    ("study_tradeoff", ["model=vgg16", "data=folder", "data.input_size=32", "model.freeze=stages:2",
                        "training.epochs=1", "training.batch_size=8", "model.head.units=[8]",
                        "analysis.original_task.probe_size=32", "analysis.feature_maps.layers=[block1_conv1]"]),
])
def test_a_template_runs_tiny_on_a_folder(tmp_path, shapes, name, overrides):
    metrics = run_in_process(tmp_path / "run", f"experiment={name}", *overrides, f"data.path={shapes}",
                             "training.feature_store=null")
    names = ["circle", "square", "triangle"]
    assert metrics["status"] == "completed" and metrics["provenance"]["data"]["classes"] == names
    assert list(metrics["test"]["per_class_accuracy"]) == names and len(metrics["test"]["confusion_matrix"]) == 3
    rows = list(csv.DictReader(open(tmp_path / "run" / "predictions.csv")))
    assert {row["label_name"] for row in rows} == set(names) and all(row["predicted_name"] in names for row in rows)
    if name == "study_tradeoff":  # HED's VGG16: the original task is HED's edges, CKA per block
        assert 0 <= metrics["original_task"]["edge_f1"] <= 1
        assert list(metrics["layer_change"]["cka"]) == list(catalog.BASES["vgg16"].stage_ends)
    else:  # a random MobileNetV3Small: no original task, said so
        assert "randomly initialised" in metrics["original_task"]["skipped"]
    if name == "study_e4_frozen":
        assert metrics["feature_cache"]["used"]


@pytest.mark.e2e
def test_the_command_line_runs_a_random_mobilenet_on_an_image_folder(tmp_path, shapes):
    # stages:4: the layers after the last stage end and the head train (a third of the time of the whole base)
    result = run_cli(["model.base=mobilenet_v3_small", "model.weights=null", "data.source=folder",
                      f"data.path={shapes}", "training.epochs=1", "model.freeze=stages:4"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = list((tmp_path / "outputs" / "runs").iterdir())
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["provenance"]["data"]["counts"]["test"] == 6  # 0.2 of 3 x 12
    assert metrics["provenance"]["data"]["output_units"] == 10  # model.output_units' default, labels padded
    ends = catalog.BASES["mobilenet_v3_small"].stage_ends
    assert sorted(p.name for p in (run / "feature_maps").glob("*.after.png")) == sorted(f"{e}.after.png" for e in ends)
    assert (run / "confusion_matrix.png").is_file() and (run / "model.keras").is_file()
    assert "skipped" in metrics["original_task"] and "skipped" in metrics["layer_change"]


@pytest.mark.e2e  # three runs end to end (in-process)
def test_a_non_vgg_base_from_a_weights_file_uses_the_store_and_measures_cka_per_stage(tmp_path, shapes):
    """MobileNetV3Small from a weights file (random, saved here): its frozen outputs go into the feature store
    keyed by the file and the folder's content, a second run reads them back; a trainable run compares each stage
    end with the pretrained base."""
    from finetune_lab import model as models

    weights = tmp_path / "mobilenet.weights.h5"
    models.build_base("mobilenet_v3_small", (32, 32, 3)).save_weights(str(weights))
    common = [*TINY_FOLDER, f"model.weights={weights}", f"data.path={shapes}",
              f"training.feature_store={tmp_path / 'store'}", "analysis.feature_maps.enabled=false"]
    first, second = (run_in_process(tmp_path / name, "experiment=study_e4_frozen", *common) for name in ("a", "b"))
    assert {s["status"] for s in first["feature_cache"]["sets"].values()} == {"computed"}
    assert {s["status"] for s in second["feature_cache"]["sets"].values()} == {"hit"}
    assert second["test"]["accuracy"] == first["test"]["accuracy"]
    trained = run_in_process(tmp_path / "c", "experiment=study_tradeoff", *common, "model.freeze=stages:3")
    assert list(trained["layer_change"]["cka"]) == list(catalog.BASES["mobilenet_v3_small"].stage_ends)
    assert trained["layer_change"]["cka"]["expanded_conv_project_bn"] == pytest.approx(1.0)  # frozen: unchanged
    assert "no known original task" in trained["original_task"]["skipped"]
