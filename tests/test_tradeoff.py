"""One tiny real run (hed_bsds500 weights, offline): its original_task / layer_change sections, the feature-map
difference views, and the trade-off command on it, with alpha=0 reproducing the pretrained edges exactly."""
import json
import os

import numpy as np
import pytest

from conftest import TINY, run_in_process

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("forgetting") / "run"
    metrics = run_in_process(folder, *TINY, "data.input_size=32", "analysis.feature_maps.enabled=true",
                             "output.save_model=true", "analysis.original_task.probe_size=32")
    assert metrics["status"] == "completed"
    return str(folder)


@pytest.fixture(scope="module")
def metrics(run_dir):
    with open(os.path.join(run_dir, "metrics.json")) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def saved_cfg(run_dir):
    from finetune_lab import config

    return config.from_saved(os.path.join(run_dir, ".hydra", "config.yaml"))


def test_a_hed_run_reports_the_original_task_and_layer_change(run_dir, metrics):
    section = metrics["original_task"]
    assert section["probe_size"] == 32 and section["n"] == 8 and section["threshold"] == 0.5
    for key in ("edge_mean_abs_diff", "edge_correlation", "edge_f1"):
        assert np.isfinite(section[key])
    assert 0 <= section["edge_f1"] <= 1 and -1 <= section["edge_correlation"] <= 1
    change = metrics["layer_change"]
    assert len(change["relative_weight_change"]) == 13
    assert all(v > 0 for v in change["relative_weight_change"].values())  # training moved every conv layer
    assert list(change["cka"]) == [f"block{i}_pool" for i in range(1, 6)]
    for name in ("layer_change.png", "original_task.png", "feature_maps/block1_conv1.diff.png",
                 "feature_maps/block5_conv3.diff.png"):
        assert os.path.isfile(os.path.join(run_dir, name)), name


def test_alpha_0_reproduces_the_pretrained_edges_exactly(saved_cfg):
    from finetune_lab import original_task as ot
    from finetune_lab.tradeoff import interpolated

    task = ot.prepare(saved_cfg).task(saved_cfg)
    pretrained = ot.weighted_layers(ot.pretrained_base(saved_cfg))
    finetuned = {name: [w + 0.01 for w in ws] for name, ws in pretrained.items()}  # anything else
    edges = task.outputs(interpolated(pretrained, finetuned, 0.0))
    assert np.array_equal(edges, task.reference)
    assert not np.array_equal(task.outputs(interpolated(pretrained, finetuned, 1.0)), task.reference)


def test_tradeoff_command_writes_its_curve_and_its_ends_match_the_run(run_dir, metrics):
    from finetune_lab import tradeoff

    tradeoff.main([run_dir, "--alphas", "1", "0", "0.5"])
    with open(os.path.join(run_dir, "tradeoff.csv")) as f:
        header, *lines = [line.strip().split(",") for line in f]
    rows = [dict(zip(header, map(float, line))) for line in lines]
    assert [r["alpha"] for r in rows] == [0.0, 0.5, 1.0]
    assert header == ["alpha", "test_accuracy", "edge_correlation", "edge_f1", "edge_mean_abs_diff"]
    first, last = rows[0], rows[-1]
    assert first["edge_f1"] == 1.0 and first["edge_mean_abs_diff"] == 0.0
    assert first["edge_correlation"] == pytest.approx(1.0)
    assert last["test_accuracy"] == pytest.approx(metrics["test"]["accuracy"])
    assert last["edge_f1"] == pytest.approx(metrics["original_task"]["edge_f1"], abs=1e-6)
    assert os.path.isfile(os.path.join(run_dir, "tradeoff.png"))


def test_tradeoff_on_a_folder_that_is_not_a_run_is_one_line_error(tmp_path, capsys):
    from finetune_lab import tradeoff

    with pytest.raises(SystemExit) as stop:
        tradeoff.main([str(tmp_path)])
    assert stop.value.code == 2
    assert "is not a run folder" in capsys.readouterr().err
