"""finetune_lab.runs: the one reader of run folders (report, verdicts, records, sweep summary)."""
import subprocess
import sys

import pytest

from finetune_lab import runs
from finetune_lab.errors import UserError


def test_natural_key_orders_numbers_by_value_and_numbered_names_first():
    names = ["10", "2", "report", "1", "job10", "job9", "0"]
    assert sorted(names, key=runs.natural_key) == ["0", "1", "2", "10", "job9", "job10", "report"]


def test_find_runs_walks_in_natural_order_and_skips_what_holds_no_run(tmp_path):
    for job in ("10", "2", "1"):
        (tmp_path / "sweep" / job / ".hydra").mkdir(parents=True)
        (tmp_path / "sweep" / job / ".hydra" / "config.yaml").write_text("seed: 0\n")
    (tmp_path / "sweep" / "report" / "x" / ".hydra").mkdir(parents=True)  # never descended into
    (tmp_path / "sweep" / "report" / "x" / ".hydra" / "config.yaml").write_text("seed: 0\n")
    found = runs.find_runs([str(tmp_path / "sweep"), str(tmp_path / "sweep" / "2")])  # the same run twice: once
    assert [p.rsplit("/", 1)[-1] for p in found] == ["1", "2", "10"]
    (run,) = [runs.load_run(p) for p in found[:1]]
    assert run.status == "empty" and "job never started" in run.reason and run.config == {"seed": 0}


@pytest.mark.parametrize("call", [lambda: runs.find_runs(["/no/such/folder"]),
                                  lambda: runs.parse_filters(["model.freeze"])])
def test_bad_input_is_a_user_error(call):
    with pytest.raises(UserError):
        call()


def test_the_command_line_starts_without_pandas_or_matplotlib():
    code = ("import sys, finetune_lab.cli; "
            "print(sorted(m for m in ('pandas', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_natural_key_never_ties_two_texts():
    """lr=0.0001 and lr=0.001 hold the same numbers split at the dot: without a tie-break, groups sorted from a
    set would take their colours in the set's (hash-seeded) order."""
    labels = ["lr=0.001", "lr=0.0001", "lr=0.01", "lr=1e-05"]
    assert sorted(labels, key=runs.natural_key) == sorted(reversed(labels), key=runs.natural_key)
    assert runs.natural_key("lr=0.001") != runs.natural_key("lr=0.0001")


def test_metrics_numbers_are_flattened_by_the_config_flattener():
    metrics = {"test": {"accuracy": 0.9, "n": 10, "ci95": [0.8, 0.95], "per_class": {"0": 1.0, "1": None}},
               "diverged": False, "loader": "keras", "empty": {}, "memory": {"gpu": {"peak_gib": 2.5}}}
    assert runs.numeric_leaves(metrics) == {"test.accuracy": 0.9, "test.n": 10, "test.per_class.0": 1.0,
                                            "memory.gpu.peak_gib": 2.5}
    assert runs.numeric_leaves(metrics["memory"], "memory.") == {"memory.gpu.peak_gib": 2.5}
