"""Every documented experiment composes and passes validation (fast); each one runs end to end with tiny
offline overrides (slow: pytest -m slow)."""
import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from conftest import CONF_DIR, ROOT, run_cli
from finetune_lab.config import validate

EXPERIMENTS = sorted(p.stem for p in (Path(CONF_DIR) / "experiment").glob("*.yaml"))
OFFLINE = {"model.weights": "hed_bsds500", "data.source": "mnist_embedded"}


def offline_overrides(name):
    weights = "null" if name.startswith("e3_") else OFFLINE["model.weights"]
    return [f"experiment={name}", f"model.weights={weights}", f"data.source={OFFLINE['data.source']}"]


def test_every_study_experiment_has_a_config():
    ids = {name.split("_")[0] for name in EXPERIMENTS}
    assert {f"e{i}" for i in range(3, 12)} <= ids


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_composes_and_validates_as_written_and_offline(compose, name):
    validate(compose(f"experiment={name}"))
    cfg = compose(*offline_overrides(name))
    validate(cfg)
    assert cfg.data.source == "mnist_embedded"


@pytest.mark.parametrize("name", [n for n in EXPERIMENTS if not n.startswith("e3_")])
def test_offline_cpu_variant_keeps_the_experiment_and_changes_scale_and_sources(compose, name):
    study, scaled = compose(f"experiment={name}"), compose(f"experiment={name}", "variant=offline_cpu")
    validate(scaled)
    for key in ("model.freeze", "model.output_units", "model.head", "data.placement", "data.channels",
                "data.preprocess"):
        assert OmegaConf.select(scaled, key) == OmegaConf.select(study, key), key
    assert (scaled.model.weights, scaled.data.source, scaled.data.input_size) == ("hed_bsds500", "mnist_embedded", 48)
    assert scaled.training.samples_per_epoch == 1600 and not scaled.data.cutoff_test


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_debug_smoke_goes_on_top_of_every_experiment(compose, name):
    cfg = compose(*offline_overrides(name), "debug=smoke")
    validate(cfg)
    assert cfg.training.epochs == 1 and cfg.data.input_size == 32 and not cfg.output.save_model


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_header_names_its_command(name):
    text = (Path(CONF_DIR) / "experiment" / f"{name}.yaml").read_text()
    assert text.startswith("# @package _global_") and f"experiment={name}" in text


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_runs_end_to_end_tiny_and_offline(tmp_path, name):
    tiny = ["data.cutoff_rate=0.01", "data.cutoff_test=true", "training.epochs=1", "training.batch_size=8",
            "output.save_model=false", "hydra.sweeper.params={}"]
    result = run_cli(offline_overrides(name) + tiny, tmp_path, timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = list((tmp_path / "outputs" / "runs").iterdir())
    assert json.loads((run / "metrics.json").read_text())["status"] == "completed"


@pytest.mark.parametrize("name", [n for n in EXPERIMENTS if not n.startswith("e3_")])
def test_mnist_cpu_variant_is_offline_cpu_on_the_study_split(compose, name):
    offline, study_split = compose(f"experiment={name}", "variant=offline_cpu"), compose(f"experiment={name}", "variant=mnist_cpu")
    validate(study_split)
    assert (study_split.data.source, study_split.data.cutoff_rate) == ("mnist", 0.0333333333)
    study_split.data.source, study_split.data.cutoff_rate = offline.data.source, offline.data.cutoff_rate
    assert study_split == offline


@pytest.mark.slow
def test_the_offline_cpu_variant_trains_end_to_end(tmp_path):
    """variant=offline_cpu as written (150 steps of a trainable VGG16 on 1,600 embedded digits, the full
    1,000-digit test set), without the forgetting analyses. The verdicts (experiments/verdicts_study_split.md)
    use variant=mnist_cpu: this setting on MNIST's official split instead of the embedded digits
    (test_mnist_cpu_variant_is_offline_cpu_on_the_study_split)."""
    result = run_cli(["experiment=e5_trainable_48", "variant=offline_cpu", "analysis.original_task.enabled=false",
                      "analysis.layer_change.enabled=false"], tmp_path, timeout=3000)
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = list((tmp_path / "outputs" / "runs").iterdir())
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["epochs_run"] == 3
    assert metrics["provenance"]["data"]["counts"] == {"train": 1600, "val": 400, "test": 1000}
    assert metrics["provenance"]["weights"]["source"] == "hed_bsds500"
    assert len((run / "history.csv").read_text().strip().splitlines()) == 1 + 3
    assert metrics["test"]["accuracy"] > 0.5  # 150 steps take a pretrained base far above chance (0.92 measured)


def test_a_sweeps_training_rate_leaves_out_heads_trained_on_stored_features(tmp_path):
    """depth_s0 has one frozen-base run (its head trains on stored features, far faster) and five that train
    through the base: the rate is the five's median; a sweep of the frozen run alone is labelled as such."""
    import shutil
    import statistics

    from finetune_lab import sweep_times

    records = ROOT / "experiments" / "runs" / "study_split" / "depth_s0"
    metrics = {p.parent.name: json.loads(p.read_text()) for p in records.glob("*/metrics.json")}
    frozen = [name for name, m in metrics.items() if (m.get("feature_cache") or {}).get("used")]
    assert len(frozen) == 1 and len(metrics) == 6
    through = statistics.median(m["train_images_per_second"] for name, m in metrics.items() if name not in frozen)
    assert sweep_times.sweep_row(str(records))["rate"] == f"{through:.1f} at 48px"
    shutil.copytree(records / frozen[0], tmp_path / "alone" / frozen[0])
    alone = metrics[frozen[0]]["train_images_per_second"]
    assert sweep_times.sweep_row(str(tmp_path / "alone"))["rate"] == f"{alone:.1f} at 48px, head on stored features"


def _verdict_row(claim_id: str, verdict: str, method: str | None = "Welch t", statistic: str = "difference",
                 rule: str = "Δ > +0.02", value: float = 0.1, lo: float = 0.05, hi: float = 0.15, **extra) -> dict:
    """A row as finetune_lab.verdicts.evaluate and with_holm make it, for verdict_table.markdown."""
    decided = verdict in ("confirmed", "refuted")
    return {"id": claim_id, "experiment": "E0", "claim": f"the claim {claim_id}", "data": "d", "input": "i",
            "weights": "w", "head": "h", "optimizer": "o", "schedule": "s", "seeds": "0,1,2", "statistic": statistic,
            "metric": "test_accuracy", "rule": rule, "verdict": verdict, "method": method, "value": value,
            "ci_lo": lo, "ci_hi": hi, "n": 8, "baseline_n": 8, "p": 0.01 if decided else 0.2,
            "p_holm": 0.03 if decided else 0.5, "holm": "yes" if decided else "—", "fragile": False,
            "same_evidence": [], **extra}


def _not_run(claim_id: str, least: int, **extra) -> dict:
    return _verdict_row(claim_id, "not run", method=None, replicates_least=least, fewest=6, **extra)


def test_verdicts_moved_lists_each_claim_whose_verdict_moved_and_why(tmp_path, monkeypatch):
    """Two tables written by verdict_table.markdown: the old one as tables before the rewrite were (no summary
    at a glance, a trend's statistic Somers' D), the new one as the command writes it now."""
    from finetune_lab import verdict_table, verdicts_moved

    effect = {"statistic": "effect", "rule": "|effect| < 0.02", "contrast": "a × b (x − y) × (u − v)",
              "cells": 32, "replicates": (3, 3)}
    old_rows = [
        _verdict_row("kept", "confirmed"),
        _verdict_row("boot", "confirmed", method="percentile bootstrap, 10,000 resamples", lo=0.033, hi=0.334),
        _verdict_row("few", "confirmed", n=3, baseline_n=3),
        _verdict_row("planned", "refuted", lo=-0.2, hi=-0.1),
        _verdict_row("inter", "confirmed", method="t (pooled within-cell variance)", value=-0.001, lo=-0.015,
                     hi=0.014, **effect),
        _verdict_row("near", "refuted", lo=-0.011, hi=0.018),
        _verdict_row("depth", "confirmed", "stratified percentile bootstrap (runs within levels), 10,000 resamples",
                     statistic="trend", rule="D > +0.2", value=0.8, lo=0.7, hi=0.9),
        _verdict_row("gone", "inconclusive")]
    new_rows = [
        _verdict_row("kept", "confirmed", same_evidence=["twin"]),
        _verdict_row("boot", "inconclusive", lo=0.004, hi=0.3613),
        _not_run("few", 3, n=3, baseline_n=3),
        _not_run("planned", 3, planned=8),
        _verdict_row("inter", "inconclusive", "Welch t over cells", value=-0.001, lo=-0.0312, hi=0.0288, **effect),
        _verdict_row("near", "refuted", lo=-0.0114, hi=0.0186, fragile=True),
        _not_run("depth_rises", 5, planned=6, statistic="trend", rule="step > 0"),
        _verdict_row("fresh", "confirmed")]
    with monkeypatch.context() as patch:
        patch.setitem(verdict_table.SYMBOLS, "trend", ("D", True))
        old = verdict_table.markdown(old_rows).split(verdict_table.FULL_HEADING, 1)[1]
    (tmp_path / "old.md").write_text(old)
    (tmp_path / "new.md").write_text(verdict_table.markdown(new_rows))
    out = tmp_path / "moved.md"
    verdicts_moved.main([str(tmp_path / "old.md"), str(tmp_path / "new.md"), "--out", str(out)])
    moved = {line.split(" | ")[0].strip("| `"): line.split(" | ") for line in out.read_text().splitlines()
             if line.startswith("| `")}
    assert list(moved) == ["boot", "few", "planned", "inter", "near", "depth_rises", "fresh", "gone"]
    what = {claim: cells[-1] for claim, cells in moved.items()}
    assert moved["boot"][1:3] == ["**confirmed**", "**inconclusive**"]
    # an old interval whose method the coverage simulation does not cover at its runs is withheld, its value kept;
    # one it covers (Welch t, 8 a side) is copied
    assert what["boot"].startswith("method: percentile bootstrap → Welch t; interval: +0.100 (no interval: not "
                                   "covered at n=8 vs 8) → +0.100 (+0.0040–+0.3613)")
    assert moved["boot"][3].startswith("Δ +0.100 (no interval: not covered at n=8 vs 8), percentile bootstrap")
    assert moved["planned"][3].startswith("Δ +0.100 (-0.2000–-0.1000), Welch t")
    assert "replicates: 3, fewer than the 6 per arm Welch t covers at" in what["few"]
    assert "planned replicates not in yet (3 of 8)" in what["planned"]
    assert what["inter"].startswith("method: t (pooled within-cell variance) → Welch t over cells; interaction on "
                                    "the prose scale")
    assert moved["near"][2] == "**refuted** (fragile)" and what["near"].endswith("of the boundary it cleared |")
    assert moved["depth_rises"][1] == "**confirmed**" and moved["depth_rises"][3].startswith("D +0.800")
    for words in ("replaces `depth`", "rule: D > +0.2 → step > 0", "trend: Somers' D → adjacent steps",
                  "method: stratified percentile bootstrap (runs within levels) → Welch t",
                  "planned replicates not in yet (5 of 6)"):
        assert words in what["depth_rises"]
    assert what["fresh"].startswith("new claim") and moved["fresh"][1] == "—"
    assert what["gone"] == "no longer in the table |" and moved["gone"][2] == "—"


def test_an_old_interval_is_shown_only_where_the_coverage_simulation_covers_it():
    """Per level of a comparison, by its own runs: t covers from 6 (stats.FEWEST), a bootstrap at no n."""
    from finetune_lab import stats, verdicts_moved

    cell = ("mean at each lr [lr 1e-05: 0.484 (0.434–0.534) inconclusive, n=3; lr 0.0001: 0.786 (0.749–0.823) "
            "refuted, n=6], t, n=9")
    assert verdicts_moved.as_covered(cell) == (
        "mean at each lr [lr 1e-05: 0.484 (no interval: not covered at n=3) inconclusive, n=3; lr 0.0001: 0.786 "
        "(0.749–0.823) refuted, n=6], t, n=9")
    assert stats.FEWEST["t"] == 6
    assert verdicts_moved.as_covered("Δ +0.2 (+0.1–+0.3), Welch t, n=6 vs 5") == (
        "Δ +0.2 (no interval: not covered at n=6 vs 5), Welch t, n=6 vs 5")
    assert verdicts_moved.as_covered("Δ +0.2 (+0.1–+0.3), percentile bootstrap, 10,000 resamples, n=40 vs 40") == (
        "Δ +0.2 (no interval: not covered at n=40 vs 40), percentile bootstrap, 10,000 resamples, n=40 vs 40")
    assert verdicts_moved.as_covered("— (n=3; not run (3 of 8 planned per arm))") == \
        "— (n=3; not run (3 of 8 planned per arm))"
