"""finetune-lab-records: a study's run records copied out (into version control) and back (into a sweep)."""
import json

import pytest

from conftest import run_cli
from finetune_lab import records, runs


def _run(folder, status, accuracy=0.5):
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "config.yaml").write_text(f"seed: {folder.name}\n")
    (folder / ".hydra" / "overrides.yaml").write_text(f"- seed={folder.name}\n")
    (folder / "status.json").write_text(json.dumps({"status": status, "pid": 1, "host": "elsewhere"}))
    if status != "running":
        (folder / "metrics.json").write_text(json.dumps({"status": status, "test": {"accuracy": accuracy}}))
    (folder / "history.csv").write_text("epoch,loss\n0,1.0\n")
    (folder / "model.keras").write_bytes(b"x" * 1000)
    (folder / "feature_maps").mkdir()


@pytest.fixture
def sweep(tmp_path):
    for job, status in enumerate(("completed", "failed", "running")):
        _run(tmp_path / "study" / "e1" / str(job), status)
    return tmp_path / "study"


def test_records_of_finished_runs_are_copied_without_models_or_pictures(sweep, tmp_path):
    dest = tmp_path / "records"
    assert records.copy_records(str(sweep), str(dest)) == {"copied": 2, "present": 0, "unfinished": 1}
    assert sorted(p.name for p in (dest / "e1").iterdir()) == ["0", "1"]
    assert sorted(str(p.relative_to(dest / "e1" / "0")) for p in (dest / "e1" / "0").rglob("*") if p.is_file()) == [
        ".hydra/config.yaml", ".hydra/overrides.yaml", "history.csv", "metrics.json", "status.json"]
    (run,) = [r for r in map(runs.load_run, runs.find_runs([str(dest)])) if r.status == "completed"]
    assert run.row()["test_accuracy"] == 0.5 and run.config["seed"] == 0  # the report reads a record as a run


def test_copying_again_adds_nothing_and_a_differing_record_is_refused(sweep, tmp_path):
    dest = tmp_path / "records"
    records.copy_records(str(sweep), str(dest))
    assert records.copy_records(str(sweep), str(dest)) == {"copied": 0, "present": 2, "unfinished": 1}
    (sweep / "e1" / "0" / "metrics.json").write_text(json.dumps({"status": "completed", "test": {"accuracy": 0.9}}))
    before = (dest / "e1" / "1" / "metrics.json").read_text()
    result = run_cli([str(sweep), str(dest)], tmp_path, module="finetune_lab.records")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "e1/0/metrics.json differs" in result.stderr and "never overwritten" in result.stderr
    assert json.loads((dest / "e1" / "0" / "metrics.json").read_text())["test"]["accuracy"] == 0.5
    assert (dest / "e1" / "1" / "metrics.json").read_text() == before
