"""logger=mlflow: the shared sweep (conftest.one_process_sweep: three completed jobs, a diverged one and a refused
one) tracked in a real SQLite store (its first job read as a tracked run like any other), read back through
MLflow's client."""
import json
import sqlite3

import pytest

from conftest import run_cli

mlflow = pytest.importorskip("mlflow", reason="the mlflow extra (pip install -e '.[mlflow]'); CI installs it")

def client_for(cwd):
    store = cwd / "outputs" / "mlflow.db"
    assert store.is_file()
    with sqlite3.connect(store) as db:  # a real SQLite database, not a folder store
        assert db.execute("select count(*) from runs").fetchone()[0] >= 1
    return mlflow.MlflowClient(tracking_uri=f"sqlite:///{store}")


def runs_of(client, experiment="finetune-lab"):
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"])


def artifacts(client, run_id, path=None) -> set[str]:
    found = set()
    for item in client.list_artifacts(run_id, path):
        found |= artifacts(client, run_id, item.path) if item.is_dir else {item.path}
    return found


@pytest.fixture(scope="module")
def tracked_sweep(one_process_sweep):
    sweep, _ = one_process_sweep
    return client_for(sweep.parents[2]), sweep  # the store is in the sweep's working folder: outputs/mlflow.db


@pytest.fixture(scope="module")
def tracked_run(tracked_sweep):
    """The sweep's first completed job: a tracked run like any other."""
    client, sweep = tracked_sweep
    (run,) = [r for r in runs_of(client) if r.data.params.get("training.optimizer.lr") == "0.0001"]
    return client, run, sweep / "0"


@pytest.mark.e2e
def test_a_tracked_run_has_the_config_as_params(tracked_run):
    _, run, _ = tracked_run
    params = run.data.params
    assert params["seed"] == "4" and params["data.cutoff_rate"] == "0.02" and params["data.input_size"] == "32"
    assert params["model.head.units"] == "[16]" and params["training.optimizer.lr"] == "0.0001"
    assert not any(key.startswith("logger.") for key in params)


@pytest.mark.e2e
def test_a_tracked_run_has_epoch_and_test_metrics_equal_to_its_run_folder(tracked_run):
    client, run, run_dir = tracked_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    logged = run.data.metrics
    assert logged["test_accuracy"] == pytest.approx(metrics["test"]["accuracy"])
    assert logged["test_accuracy_ci95_low"] == pytest.approx(metrics["test"]["ci95"][0])
    assert logged["epochs_run"] == 1
    history = client.get_metric_history(run.info.run_id, "val_loss")  # one point per epoch, MLflow's callback
    assert [h.step for h in history] == [0] and history[0].value == pytest.approx(metrics["val"]["loss"])


@pytest.mark.e2e
def test_a_tracked_run_has_its_status_and_files(tracked_run):
    client, run, run_dir = tracked_run
    assert run.info.status == "FINISHED" and run.data.tags["finetune_lab.status"] == "completed"
    assert run.data.tags["finetune_lab.run_dir"] == str(run_dir)
    files = artifacts(client, run.info.run_id)
    assert {"metrics.json", "history.csv", "learning_curves.png", "confusion_matrix.png",
            ".hydra/config.yaml", ".hydra/overrides.yaml"} <= files
    assert not any(f.startswith("backup") or f.endswith(".keras") for f in files)


@pytest.mark.e2e
def test_a_sweep_nests_its_jobs_under_one_parent_run_with_their_statuses(tracked_sweep):
    client, sweep = tracked_sweep
    runs = runs_of(client)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    jobs = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(jobs) == 5
    parent = parents[0]
    assert all(r.data.tags["mlflow.parentRunId"] == parent.info.run_id for r in jobs)
    assert {r.data.tags["finetune_lab.sweep_dir"] for r in runs} == {str(sweep)}
    by_lr = {r.data.params["training.optimizer.lr"]: r for r in jobs}
    for lr in ("0.0001", "0.0002", "0.0003"):
        assert by_lr[lr].info.status == "FINISHED" and by_lr[lr].data.tags["finetune_lab.status"] == "completed"
    diverged = by_lr["1000000000000.0"]
    assert diverged.info.status == "FAILED" and diverged.data.tags["finetune_lab.status"] == "diverged"
    assert "NaN" in diverged.data.tags["finetune_lab.error"]
    refused = by_lr["-1.0"]  # refused by config.validate: tracked as a failed run with its reason
    assert refused.info.status == "FAILED" and refused.data.tags["finetune_lab.status"] == "failed"
    assert "training.optimizer.lr=-1.0" in refused.data.tags["finetune_lab.error"]
    assert parent.data.metrics == {"jobs_completed": 3.0, "jobs_diverged": 1.0, "jobs_failed": 1.0}
    assert parent.data.tags["finetune_lab.status"] == "incomplete"
    assert "sweep_summary.json" in artifacts(client, parent.info.run_id)


@pytest.mark.e2e
def test_a_refused_config_is_tracked_as_a_failed_run(tmp_path):
    result = run_cli(["logger=mlflow", "training.optimizer.lr=inf"], tmp_path)
    assert result.returncode == 2
    (run,) = runs_of(client_for(tmp_path))
    assert run.info.status == "FAILED" and run.data.tags["finetune_lab.status"] == "failed"
    assert "training.optimizer.lr=inf" in run.data.tags["finetune_lab.error"]


@pytest.mark.e2e
def test_a_tracking_uri_mlflow_cannot_use_is_one_line(tmp_path):
    (tmp_path / "a_file").write_text("")
    result = run_cli(["logger=mlflow", f"logger.tracking_uri=sqlite:///{tmp_path}/a_file/x.db"], tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("finetune-lab: error: logger.tracking_uri=") and "MLflow could not use it" in line
