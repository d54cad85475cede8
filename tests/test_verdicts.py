"""finetune-lab-verdicts: claims declared once, verdicts computed from run folders."""
import json

import pytest
import yaml

from conftest import run_cli
from finetune_lab import verdicts


@pytest.mark.parametrize("lo, hi, rule, verdict", [
    (0.02, 0.10, {"above": 0}, "confirmed"),
    (-0.05, 0.01, {"above": 0, "margin": 0.02}, "refuted"),      # any gain is below the margin
    (-0.05, 0.04, {"above": 0, "margin": 0.02}, "inconclusive"),
    (0.10, 0.12, {"below": 0.15}, "confirmed"),
    (0.20, 0.30, {"below": 0.15}, "refuted"),
    (120, 168, {"within": [100, 200]}, "confirmed"),
    (400, 1600, {"within": [120, 168]}, "refuted"),
    (150, 400, {"within": [120, 168]}, "inconclusive"),
])
def test_rules_turn_an_interval_into_a_verdict(lo, hi, rule, verdict):
    assert verdicts.decide(lo, hi, rule) == verdict


def _run(folder, accuracy, seed, train=1600, **config):
    (folder / ".hydra").mkdir(parents=True)
    cfg = {"seed": seed, "data": {"source": "mnist", "cutoff_rate": config.get("cutoff", 0.0333), "input_size": 48, "placement": "seed",
                                  "channels": "seed", "preprocess": "unit"},
           "model": {"weights": "hed_bsds500", "freeze": "all", "output_units": 10,
                     "head": {"name": "fc4096x2", "units": [4096, 4096], "dropout": 0.5}},
           "training": {"epochs": 3, "samples_per_epoch": 1600, "batch_size": 32,
                        "optimizer": {"name": config.get("optimizer", "sgd"), "lr": 1e-5, "momentum": 0.5}}}
    (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump(cfg))
    status = config.get("status", "completed")
    metrics = {"status": status, "provenance": {"data": {"counts": {"train": train, "val": 400, "test": 10000}}}}
    if status == "completed":
        metrics["test"] = {"accuracy": accuracy, "n": 10000, "ci95": [accuracy - 0.01, accuracy + 0.01]}
        metrics["train"] = {"accuracy": accuracy + config.get("gap", 0.0)}
    (folder / "metrics.json").write_text(json.dumps(metrics))


@pytest.fixture
def root(tmp_path):
    for i, acc in enumerate((0.101, 0.113, 0.108)):
        _run(tmp_path / "sgd" / str(i), acc, i)
    for i, acc in enumerate((0.52, 0.55, 0.50)):
        _run(tmp_path / "adam" / str(i), acc, i, optimizer="adam", gap=0.04 + i / 100)
    _run(tmp_path / "adam" / "3", None, 3, optimizer="adam", status="failed")
    for j, (size, accs) in enumerate({48: (0.4, 0.45), 120: (0.86, 0.87), 400: (0.86, 0.88), 1600: (0.89, 0.9)}.items()):
        for seed, acc in enumerate(accs):
            _run(tmp_path / "sizes" / f"{j}_{seed}", acc, seed, train=size, cutoff=size / 48000)
    return tmp_path


def _claims(tmp_path, claims):
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump({"claims": claims}))
    return str(path)


def test_the_table_is_computed_from_the_runs(root, tmp_path):
    claims = _claims(tmp_path, [
        {"id": "chance", "experiment": "E4", "claim": "frozen sits at chance", "runs": "sgd", "statistic": "mean",
         "rule": {"below": 0.15}},
        {"id": "optimizer", "experiment": "E4", "claim": "Adam lifts it", "runs": "adam", "baseline": "sgd",
         "statistic": "difference", "rule": {"above": 0, "margin": 0.02}},
        {"id": "critical", "experiment": "E6", "claim": "critical point 120-150", "runs": ["sizes"],
         "statistic": "critical_point", "rule": {"within": [100, 168]}},
        {"id": "one_size", "claim": "one size of a sweep", "runs": "sizes", "statistic": "mean",
         "where": {"data.cutoff_rate": 0.0025}, "rule": {"above": 0.5}},
        {"id": "step", "claim": "400 vs 48 images", "runs": "sizes", "baseline": "sizes", "statistic": "difference",
         "where": {"data.cutoff_rate": 400 / 48000}, "baseline_where": {"data.cutoff_rate": 0.001}, "rule": {"above": 0.2}},
        {"id": "gap", "claim": "Adam overfits", "runs": "adam", "statistic": "mean", "metric": "train_test_gap",
         "rule": {"above": 0}},
        {"id": "missing", "claim": "never run", "runs": "nothing_here", "statistic": "mean", "rule": {"above": 0.5}},
    ])
    out = tmp_path / "table.md"
    result = run_cli([claims, "--root", str(root), "--out", str(out)], tmp_path, module="finetune_lab.verdicts")
    assert result.returncode == 0, result.stderr
    rows = [line for line in out.read_text().splitlines()[2:]]
    assert len(rows) == 7
    assert "mean 0.107 (" in rows[0] and "**confirmed**" in rows[0] and "mnist: first 2,000 of the train pool (1600 train / 400 val), test 10000" in rows[0]
    assert "Δ +0.416" in rows[1] and "**confirmed**" in rows[1] and "adam 1e-05 vs sgd 1e-05 m0.5" in rows[1]
    assert "critical size 120" in rows[2] and "**confirmed**" in rows[2]
    assert "mnist: 4 sizes cut from the train pool, 48–1,600 train / 400 val, test 10000" in rows[2]
    assert "mean 0.865 (" in rows[3] and "n=2" in rows[3]  # the two runs at 120 images only
    assert "Δ +0.445 (" in rows[4] and "n=2 vs 2" in rows[4]  # 400 images (0.86, 0.88) minus 48 (0.4, 0.45)
    assert "400 train / 400 val" in rows[4] and "48 train / 400 val" in rows[4]
    assert "mean of train_test_gap 0.050 (" in rows[5] and "**confirmed**" in rows[5]
    assert "**not run**" in rows[6]
    assert "7 claims: 6 confirmed, 1 not run" in result.stderr


@pytest.mark.parametrize("claim, words", [
    ({"id": "x", "claim": "c", "runs": "a", "statistic": "median", "rule": {"above": 0}}, "statistic='median'"),
    ({"id": "x", "claim": "c", "runs": "a", "statistic": "mean", "rule": {"within": [1, 2]}}, "rule="),
    ({"id": "x", "claim": "c", "runs": "a", "statistic": "difference", "rule": {"above": 0}}, "baseline"),
    ({"id": "x", "claim": "c", "statistic": "mean", "rule": {"above": 0}}, "`runs` is missing"),
    ({"id": "x", "claim": "c", "runs": "a", "statistic": "mean", "baseline_where": {"seed": 1}, "rule": {"above": 0}},
     "`baseline_where`"),
    ({"id": "x", "claim": "c", "runs": "a", "statistic": "mean", "metric": "loss", "rule": {"above": 0}}, "metric="),
])
def test_a_bad_claim_is_one_line_naming_it(tmp_path, claim, words):
    result = run_cli([_claims(tmp_path, [claim])], tmp_path, module="finetune_lab.verdicts")
    assert result.returncode == 2 and words in result.stderr and "claim x" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("claims, script", [("claims.yaml", "run_study_split.sh"),
                                            ("claims_offline_cpu.yaml", "run_claims.sh")])
def test_every_declared_claim_names_sweeps_its_script_runs(claims, script):
    """The study's claims files parse, and each sweep they read is one their run script makes."""
    import re
    from pathlib import Path

    experiments = Path(__file__).resolve().parents[1] / "experiments"
    _, declared = verdicts.load_claims(str(experiments / claims))
    made = set(re.findall(r"^sweep\s+(\S+)", (experiments / script).read_text(), flags=re.M))
    for claim in declared:
        for key in ("runs", "baseline"):
            names = claim.get(key, [])
            for name in [names] if isinstance(names, str) else names:
                assert name in made, f"{claims}: claim {claim['id']} reads {name}, which {script} does not make"
