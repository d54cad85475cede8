"""finetune-lab-verdicts: claims declared once, verdicts computed from run folders."""
import json
import math

import pytest
import yaml

import numpy as np

from conftest import run_cli
from fake_sweeps import ADAM, FACTORS, LRS, TREND, fake_run, write_claims
from finetune_lab import claims, rules, stats, verdict_table, verdicts
from finetune_lab.claims import ClaimsError


E = 1e-9  # "just" inside or outside a boundary
pytestmark = pytest.mark.usefixtures("few_replicates")


def _decide(lo, hi, rule, statistic="difference"):
    return rules.decide(lo, hi, rules.region(rule, statistic))


@pytest.mark.parametrize("lo, hi, verdict", [
    (0.02 + E, 0.10, "confirmed"), (0.02, 0.10, "inconclusive"), (0.02 - E, 0.10, "inconclusive"),
    (-0.05, 0.02 - E, "refuted"), (-0.05, 0.02, "inconclusive"), (-0.05, 0.02 + E, "inconclusive"),
    (0.009, 0.05, "inconclusive"),  # the old bug: a gain whose interval reaches below the margin was confirmed
])
def test_above_claims_more_than_threshold_plus_margin(lo, hi, verdict):
    assert _decide(lo, hi, {"above": 0, "margin": 0.02}) == verdict
    assert _decide(lo - 0.02, hi - 0.02, {"above": 0}) == verdict  # margin 0 by default


@pytest.mark.parametrize("lo, hi, verdict", [
    (0.0, 0.10 - E, "confirmed"), (0.0, 0.10, "inconclusive"), (0.0, 0.10 + E, "inconclusive"),
    (0.10 + E, 0.3, "refuted"), (0.10, 0.3, "inconclusive"), (0.10 - E, 0.3, "inconclusive"),
])
def test_below_claims_less_than_threshold_minus_margin(lo, hi, verdict):
    assert _decide(lo, hi, {"below": 0.15, "margin": 0.05}, "mean") == verdict


@pytest.mark.parametrize("lo, hi, verdict", [
    (-0.02 + E, 0.05, "confirmed"), (-0.02, 0.05, "inconclusive"), (-0.02 - E, 0.05, "inconclusive"),
    (-0.2, -0.02 - E, "refuted"), (-0.2, -0.02, "inconclusive"), (-0.2, -0.02 + E, "inconclusive"),
])
def test_no_worse_claims_at_most_m_below_the_baseline(lo, hi, verdict):
    assert _decide(lo, hi, {"no_worse": 0.02}) == verdict


@pytest.mark.parametrize("lo, hi, verdict", [
    (-0.02 + E, 0.02 - E, "confirmed"), (-0.02, 0.0, "inconclusive"), (0.0, 0.02, "inconclusive"),
    (-0.02 - E, 0.0, "inconclusive"), (0.0, 0.02 + E, "inconclusive"), (-0.03, 0.03, "inconclusive"),
    (0.02 + E, 0.1, "refuted"), (0.02, 0.1, "inconclusive"), (-0.1, -0.02 - E, "refuted"), (-0.1, -0.02, "inconclusive"),
])
def test_equivalent_claims_within_m_either_way(lo, hi, verdict):
    assert _decide(lo, hi, {"equivalent": 0.02}) == verdict


@pytest.mark.parametrize("lo, hi, verdict", [
    (120, 168, "confirmed"), (121, 167, "confirmed"), (119, 168, "inconclusive"), (120, 169, "inconclusive"),
    (100, 119, "refuted"), (100, 120, "inconclusive"), (169, 400, "refuted"), (168, 400, "inconclusive"),
    (100, 400, "inconclusive"),
])
def test_within_claims_a_closed_range(lo, hi, verdict):
    """A `within` range holds its ends: a critical point's interval is in sizes of the grid."""
    assert _decide(lo, hi, {"within": [120, 168]}, "critical_point") == verdict
    assert _decide(800, 800, {"within": [800, 800]}, "critical_point") == "confirmed"


@pytest.mark.parametrize("statistic, rule, words", [
    ("difference", {"above": 0, "margin": 0.02}, "Δ > +0.02"),
    ("difference", {"equivalent": 0.02}, "|Δ| < 0.02"),
    ("difference", {"no_worse": 0.02}, "Δ > −0.02"),
    ("difference", {"below": 0, "margin": 0.05}, "Δ < −0.05"),
    ("critical_point", {"within": [120, 168]}, "120 ≤ size ≤ 168"),
    ("mean", {"below": 0.15}, "mean < 0.15"),
    ("trend", {"above": 0, "margin": 0.3}, "step > +0.3"),
])
def test_the_rule_column_says_the_claimed_region(statistic, rule, words):
    assert verdicts.describe_rule({"statistic": statistic, "rule": rule}) == words


def _estimates():
    """A Welch estimate (the runs' Δ near 0: every kind of boundary crosses it), one of arms of unequal sizes, and
    a mean of accuracies on the logit scale (its p read through the logit-normal mean)."""
    runs, baseline = [0.47, 0.50, 0.45, 0.56], [0.50, 0.47, 0.49]
    rng = np.random.default_rng(0)
    many, others = rng.normal(0.5, 0.03, 12), rng.normal(0.5, 0.03, 7)
    return [stats.difference(runs, baseline), stats.difference(many, others),
            stats.mean([0.02, 0.05, 0.03, 0.0, 0.04, 0.01], (0.0, 1.0))]


@pytest.mark.parametrize("make", [
    lambda c: {"above": c}, lambda c: {"below": c}, lambda c: {"no_worse": max(0.0, -c)},
    lambda c: {"equivalent": abs(c) + 0.001}, lambda c: {"within": [c, c + 0.03]}, lambda c: {"within": [c - 0.05, c]},
])
def test_a_verdicts_p_is_below_005_exactly_when_the_interval_clears_its_boundaries(make):
    """Boundaries on a grid through the interval, and just inside and outside each end."""
    decided, tried = 0, 0
    for estimate in _estimates():
        grid = list(np.linspace(estimate.ci_lo - 0.1, estimate.ci_hi + 0.1, 97))
        grid += [end + d for end in (estimate.ci_lo, estimate.ci_hi) for d in (-1e-6, 1e-6)]
        tried += len(grid)
        for c in grid:
            claimed = rules.region(make(c), "difference")
            verdict = rules.decide(estimate.ci_lo, estimate.ci_hi, claimed)
            p = rules.p_value(verdict, claimed, estimate)
            assert (p < stats.ALPHA) == (verdict != "inconclusive"), (estimate.method, make(c), verdict, p)
            decided += verdict != "inconclusive"
    assert 0 < decided < tried


def test_tost_p_is_the_larger_one_sided_p_doubled():
    estimate = stats.difference([0.50, 0.51, 0.52], [0.50, 0.505, 0.51])
    from scipy import stats as sps
    one_sided = [sps.t.sf((estimate.value + 0.05) / estimate.se, estimate.df),
                 sps.t.cdf((estimate.value - 0.05) / estimate.se, estimate.df)]
    claimed = rules.region({"equivalent": 0.05}, "difference")
    assert rules.p_value("confirmed", claimed, estimate) == pytest.approx(2 * max(one_sided))


@pytest.mark.parametrize("statistic, rule, words", [
    ("difference", {"sideways": 0}, "one of above / below / no_worse / equivalent / within"),
    ("difference", {"above": 0, "below": 1}, "rule="),
    ("difference", {"above": 0, "margin": -0.02}, "rule margin=-0.02 is not allowed: a number >= 0"),
    ("difference", {"above": "zero"}, "rule above='zero' is not allowed: a number"),
    ("mean", {"no_worse": 0.02}, "rule no_worse compares two settings: statistic=difference or effect or trend only"),
    ("critical_point", {"equivalent": 0.1}, "rule equivalent compares two settings"),
    ("difference", {"no_worse": -0.02}, "rule no_worse=-0.02 is not allowed: a number >= 0"),
    ("difference", {"equivalent": 0}, "rule equivalent=0 is not allowed: a number > 0"),
    ("critical_point", {"within": [168, 120]}, "rule within=[168, 120] is not allowed: [a, b], two numbers with a <= b"),
    ("critical_point", {"within": 120}, "rule within=120 is not allowed"),
    ("difference", {"equivalent": 0.02, "margin": 0.01}, "rule key 'margin' is not allowed with equivalent"),
])
def test_a_bad_rule_names_the_claim_the_key_and_what_is_allowed(statistic, rule, words):
    claim = {"id": "x", "claim": "c", "runs": "a", "statistic": statistic, "rule": rule}
    claim.update({"difference": {"baseline": "b"}, "trend": {"order": {"key": "k", "levels": [1, 2]}}}.get(statistic, {}))
    with pytest.raises(ClaimsError) as caught:
        claims.check_claim(claim)
    assert str(caught.value).startswith("claim x: ") and words in str(caught.value), str(caught.value)


@pytest.mark.parametrize("config_units,recorded,shown", [(None, 5, "→5"), (10, None, "→10"),
                                                          (None, None, "→classes from data")])
def test_the_head_column_shows_the_output_units_the_run_recorded(tmp_path, config_units, recorded, shown):
    """With model.output_units=null the data's classes size the output layer: the run records how many; a run
    from before that record falls back to its config, and says so where that is null too."""
    from finetune_lab import runs

    fake_run(tmp_path / "run", 0.5, 0)
    config = yaml.safe_load((tmp_path / "run" / ".hydra" / "config.yaml").read_text())
    config["model"]["output_units"] = config_units
    (tmp_path / "run" / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    if recorded is not None:
        metrics["provenance"]["data"]["output_units"] = recorded
    (tmp_path / "run" / "metrics.json").write_text(json.dumps(metrics))
    assert verdicts.setting(runs.load_run(str(tmp_path / "run")), "head") == f"fc4096x2 [4096, 4096]{shown}, dropout 0.5"


def _table(lines):
    """The full table's rows (below the summary), header and separator left out."""
    return [line for line in lines[lines.index(verdict_table.FULL_HEADING):] if line.startswith("| ")][1:]


def _legend(text):
    """The legend above the full table."""
    return text.split(verdict_table.FULL_HEADING + "\n\n")[1].split("\n| ")[0]




def _effect(effect, **extra):
    return {"id": "x", "claim": "c", "runs": "factorial", "statistic": "effect", "factors": FACTORS, "effect": effect,
            **extra}


def _each(rule, **extra):
    return {"id": "x", "claim": "c", "runs": "lrs", "statistic": "mean", "for_each": "training.optimizer.lr",
            "rule": rule, **extra}


def test_the_table_is_computed_from_the_runs(root, tmp_path, capsys):
    claims_file = write_claims(tmp_path, [
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
        {"id": "rises", "claim": "accuracy rises with the depth trained", "runs": "freeze", "where": ADAM,
         "statistic": "trend", "order": TREND, "rule": {"above": 0, "margin": 0.3}},
        {"id": "edges", "claim": "edge correlation falls", "runs": "freeze", "where": ADAM, "statistic": "trend",
         "order": TREND, "metric": "original_task.edge_correlation", "rule": {"below": 0}},
        {"id": "cka", "claim": "block5 changes when trained", "runs": "freeze", "statistic": "mean",
         "where": {**ADAM, "model.freeze": "none"}, "metric": "layer_change.cka.block5_pool", "rule": {"below": 0.6}},
        {"id": "no_worse", "claim": "Adam no worse", "runs": "adam", "baseline": "sgd",
         "statistic": "difference", "rule": {"no_worse": 0.02}},
        {"id": "same", "claim": "sgd as well as sgd", "runs": "sgd", "baseline": "sgd", "statistic": "difference",
         "rule": {"equivalent": 0.02}},
        {"id": "no_f1", "claim": "no original task measured", "runs": "sgd", "statistic": "mean",
         "metric": "original_task.edge_f1", "rule": {"above": 0.5}},
    ])
    out = tmp_path / "table.md"
    verdicts.main([claims_file, "--root", str(root), "--out", str(out)])
    text = out.read_text()
    assert text == capsys.readouterr().out
    rows = _table(text.splitlines())
    assert len(rows) == 13
    assert "mean 0.107 (" in rows[0] and ", logit t, n=3" in rows[0] and "**confirmed**" in rows[0]
    assert "mean < 0.15" in rows[0] and "mnist: first 2,000 of the train pool (1600 train / 400 val), test 10000" in rows[0]
    assert "Δ +0.416 (+0.3576–+0.4744), Welch t, n=3 vs 3" in rows[1] and "**confirmed**" in rows[1]
    assert "adam 1e-05 vs sgd 1e-05 m0.5" in rows[1] and "Δ > +0.02" in rows[1]
    # 48 images fall short of 0.95 x 1,600's mean, 120 reach it by +0.015, two runs a side: undecided
    assert ("critical size 120 from [48 falls short of 0.95 × 1,600: Δ -0.425 (-0.7015–-0.1490) confirmed, n=2 vs 2; "
            "120 reaches 0.95 × 1,600: Δ +0.015 (-0.0150–+0.0445) inconclusive, n=2 vs 2], Welch t, n=8") in rows[2]
    assert "**inconclusive**" in rows[2] and "100 ≤ size ≤ 168" in rows[2]
    assert "mnist: 4 sizes cut from the train pool, 48–1,600 train / 400 val, test 10000" in rows[2]
    assert "mean 0.865 (" in rows[3] and "n=2" in rows[3]  # the two runs at 120 images only
    assert "Δ +0.445 (" in rows[4] and "n=2 vs 2" in rows[4]  # 400 images (0.86, 0.88) minus 48 (0.4, 0.45)
    assert "400 train / 400 val" in rows[4] and "48 train / 400 val" in rows[4]
    # train_eval minus test: 0.04 and 0.05 (not Keras' dropout-on training accuracy); the third run has none
    assert "mean of train_test_gap 0.045 (" in rows[5] and "n=2 (1 without the metric)" in rows[5]
    assert "**not run**" in rows[6] and "— (n=0;" in rows[6]
    assert "step at each step [all → block4: +0.517 (" in rows[7] and "**inconclusive**" in rows[7]
    assert "n=9 (1 at other levels); by model.freeze: all 0.110, block4 0.627, none 0.960" in rows[7]
    assert "step of original_task.edge_correlation at each step [all → block4: -0.173 (" in rows[8]
    assert "**confirmed**" in rows[8] and "step < 0" in rows[8]
    assert "mean of layer_change.cka.block5_pool 0.400 (" in rows[9] and "**confirmed**" in rows[9]
    assert "Welch t, n=3 vs 3" in rows[10] and "Δ > −0.02" in rows[10]
    # the two claims on Adam minus SGD read the same runs: named, since they are not separate evidence
    assert "same runs as `no_worse`" in rows[1] and "same runs as `optimizer`" in rows[10]
    assert "Δ +0.000 (-0.0137–+0.0137)" in rows[11] and "| \\|Δ\\| < 0.02 |" in rows[11] and "**confirmed**" in rows[11]
    assert "**not run**" in rows[12] and "— (n=0; 3 without the metric" in rows[12]
    assert all(row.endswith("| — |") for row in (rows[6], rows[12]))
    assert all("| yes (" in row for row in (rows[1], rows[10])) and rows[0].endswith("| no (0.0089, 0.072) |")
    # confirmed at p 0.038 on its own, but 11 claims are decided: Holm's adjusted p is 0.038 x 4 here
    assert rows[4].endswith("| no (0.038, 0.15) |")
    assert "| — |" in rows[5]  # inconclusive: counted in Holm's 11, never surviving
    legend = _legend(text)
    assert legend.startswith("This table decides 11 of its 13 claims (2 not run), each from the 95% interval")
    assert f"{sum('| yes (' in row for row in rows)} of the 8 confirmed or refuted verdicts survive it" in legend
    for word in ("**confirmed**", "**refuted**", "**inconclusive**", "**not run**", "margin", "Holm"):
        assert word in legend


def test_the_example_claims_file_decides_every_claim(root, capsys):
    """tests/claims_example.yaml shows each statistic and rule kind once; each is decided from the fake runs."""
    from pathlib import Path

    example = Path(__file__).with_name("claims_example.yaml")
    verdicts.main([str(example), "--root", str(root)])
    out = capsys.readouterr()
    rows = _table(out.out.splitlines())
    assert len(rows) == 15 and not any("**not run**" in row for row in rows)
    # inconclusive: the gap (two runs of three have train_eval), the critical point (120 images reach 0.95 x
    # 1,600's mean by +0.015, two runs a side) and the rise from block4 to none (+0.333, against a margin of 0.3)
    assert "15 claims: 12 confirmed, 3 inconclusive" in out.err
    legend = _legend(out.out)  # with several comparisons a claim holds only where every one holds
    assert "holds only where every comparison holds" in legend and "logit" in legend


def test_a_trend_is_decided_from_its_steps_and_is_not_run_while_a_level_lacks_runs(root):
    """all (0.10, 0.12, 0.11) → block4 (0.60, 0.66, 0.62) → none (0.95, 0.97, 0.96): two steps, each a Welch
    interval of the later level minus the earlier, each clear of 0."""
    claim = {"id": "rises", "claim": "c", "runs": "freeze", "where": ADAM, "statistic": "trend", "order": TREND,
             "rule": {"above": 0}}
    row = verdicts.evaluate(claim, str(root))
    levels = {level["level"]: level for level in row["levels"]}
    assert list(levels) == ["all", "block4", "none"] and levels["none"]["n"] == 3
    assert levels["block4"]["mean"] == pytest.approx(0.6267, abs=1e-4)
    steps = {part["label"]: part for part in row["parts"]}
    assert list(steps) == ["all → block4", "block4 → none"]
    expected = stats.difference([0.60, 0.66, 0.62], [0.10, 0.12, 0.11], (0.0, 1.0))
    assert (steps["all → block4"]["value"], steps["all → block4"]["ci_lo"]) == (
        pytest.approx(expected.value), pytest.approx(expected.ci_lo))
    assert row["verdict"] == "confirmed" and row["method"] == "Welch t"
    assert row["p"] == pytest.approx(max(part["p"] for part in row["parts"]))
    shown = verdict_table.measured(row)
    assert shown.startswith("step at each step [all → block4: +0.517 (") and "block4 → none: +0.333 (" in shown
    assert "by model.freeze: all 0.110, block4 0.627, none 0.960" in shown
    flat = verdicts.evaluate({**claim, "rule": {"equivalent": 0.1}}, str(root))  # every step is far from flat
    assert flat["verdict"] == "refuted"
    wider = {**claim, "order": {"key": "model.freeze", "levels": ["all", "block2", "none"]}}
    row = verdicts.evaluate(wider, str(root))
    assert row["verdict"] == "not run" and "all n=3, block2 n=1, none n=3" in verdict_table.measured(row)


def test_holm_column_by_hand():
    rows = [{"verdict": v, "p": p} for v, p in
            [("confirmed", 0.01), ("refuted", 0.04), ("inconclusive", 0.3), ("not run", math.nan), ("confirmed", 0.001)]]
    out = verdicts.with_holm(rows)
    # the 4 decided: 0.001 x4 = 0.004, 0.01 x3 = 0.03, 0.04 x2 = 0.08, 0.3 x1 -> 0.3
    assert [row["p_holm"] for row in out][:3] == pytest.approx([0.03, 0.08, 0.3])
    assert out[4]["p_holm"] == pytest.approx(0.004) and math.isnan(out[3]["p_holm"])
    assert [row["holm"] for row in out] == ["yes", "no", "—", "—", "yes"]


def test_a_metric_that_is_a_section_is_one_line_naming_its_keys(root, tmp_path, capsys):
    claims_file = write_claims(tmp_path, [{"id": "x", "claim": "c", "runs": "freeze", "statistic": "mean",
                                      "metric": "layer_change.cka", "rule": {"below": 0.5}}])
    with pytest.raises(SystemExit) as stop:
        verdicts.main([claims_file, "--root", str(root)])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and len(err.strip().splitlines()) == 1
    assert "claim x: metric='layer_change.cka' is a section" in err and "layer_change.cka.block5_pool" in err


@pytest.mark.parametrize("reference, shown, verdict", [
    # 95% of the mean at 1,600 (0.895): 120's 0.865 reaches it by +0.015, too close to tell with two runs a side
    (None, "120 reaches 0.95 × 1,600: Δ +0.015 (-0.0150–+0.0445) inconclusive, n=2 vs 2]", "inconclusive"),
    # 95% of 400's 0.87; the two runs at 1,600 left out
    (400, "120 reaches 0.95 × 400: Δ +0.038 (", "inconclusive"),  # 0.865 - 0.8265
    (120, "120 reaches 0.95 × 120: Δ +0.043 (", "confirmed"),  # the reference reaches 95% of its own mean
    (800, "— (n=6; 2 above the reference size 800; none at the reference size 800)", "not run"),  # never run
])
def test_a_critical_point_is_taken_against_its_declared_reference_size(root, tmp_path, reference, shown, verdict):
    """Without `reference_size` the largest size run is the reference, so a sweep whose largest size has not run
    yet would quietly answer another question; with it, the claim waits for its reference."""
    claim = {"id": "c", "claim": "critical", "runs": "sizes", "statistic": "critical_point",
             "rule": {"within": [100, 168]}, **({"reference_size": reference} if reference else {})}
    out = tmp_path / "table.md"
    verdicts.main([write_claims(tmp_path, [claim]), "--root", str(root), "--out", str(out)])
    (row,) = _table(out.read_text().splitlines())
    assert shown in row and f"**{verdict}**" in row
    if reference == 400:
        assert "n=6 (2 above the reference size 400)" in row


def test_a_bad_claim_on_the_command_line_is_one_line(tmp_path):
    claim = {"id": "x", "claim": "c", "runs": "a", "statistic": "difference", "baseline": "b", "rule": {"no_worse": -1}}
    result = run_cli([write_claims(tmp_path, [claim])], tmp_path, module="finetune_lab.verdicts")
    assert result.returncode == 2 and "claim x: rule no_worse=-1 is not allowed" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("claim, words", [
    ({"id": "x", "claim": "c", "runs": "a", "statistic": "median", "rule": {"above": 0}}, "statistic='median'"),
    ({"id": "x", "claim": "c", "runs": "a", "statistic": "critical_point", "rule": {"equivalent": 1}}, "rule equivalent"),
    ({"id": "x", "claim": "c", "runs": "a", "statistic": "difference", "rule": {"above": 0}}, "needs `baseline`"),
    ({"id": "x", "claim": "c", "statistic": "mean", "rule": {"above": 0}}, "`runs` is missing"),
    ({"id": "x", "claim": "c", "runs": "a", "statistic": "mean", "baseline_where": {"seed": 1}, "rule": {"above": 0}},
     "`baseline_where`"),
    ({"id": "x", "claim": "c", "runs": "a", "statistic": "mean", "metric": "test accuracy", "rule": {"above": 0}},
     "metric='test accuracy' is not allowed"),
    ({"id": "x", "claim": "c", "runs": "a", "statistic": "mean", "methd": "bootstrap", "rule": {"above": 0}},
     "`methd` is not a claim key"),
    ({"id": "x", "claim": "c", "runs": "a", "statistic": "critical_point", "method": "t", "rule": {"within": [1, 2]}},
     "`method` is not a claim key: the interval follows from the statistic and the metric"),
    ({"id": "x", "claim": "c", "runs": "a", "statistic": "mean", "planned": 1, "rule": {"above": 0}},
     "planned=1 is not allowed: the replicates per arm the study plans, a whole number of 2 or more"),
    ({"id": "x", "claim": "c", "runs": "a", "statistic": "critical_point", "reference_size": 1600.5,
      "rule": {"within": [1, 2]}}, "reference_size=1600.5 is not allowed: a number of training images"),
    ({"id": "x", "claim": "c", "runs": "a", "statistic": "mean", "reference_size": 1600, "rule": {"above": 0}},
     "`reference_size` goes with statistic=critical_point"),
    ({"id": "x", "claim": "c", "runs": "a", "statistic": "trend", "rule": {"above": 0}}, "needs `order`"),
    ({"id": "x", "claim": "c", "runs": "a", "statistic": "trend", "order": {"key": "model.freeze", "levels": ["all"]},
      "rule": {"above": 0}}, "order="),
    ({"id": "x", "claim": "c", "runs": "a", "statistic": "mean", "order": TREND, "rule": {"above": 0}},
     "`order` goes with statistic=trend"),
    ({"id": "x", "claim": "c", "runs": "a", "statistic": "effect", "effect": ["a"], "rule": {"above": 0}},
     "statistic=effect needs `factors`"),
    ({"id": "x", "claim": "c", "runs": "a", "statistic": "effect", "factors": FACTORS, "rule": {"above": 0}},
     "statistic=effect needs `effect`"),
    ({"id": "x", "claim": "c", "runs": "a", "statistic": "mean", "factors": FACTORS, "rule": {"above": 0}},
     "`factors` goes with statistic=effect"),
    (_effect(["data.preprocess"], factors={"data.preprocess": ["unit", "vgg16", "imagenet"]}, rule={"above": 0}),
     "factors={'data.preprocess': ['unit', 'vgg16', 'imagenet']} is not allowed: {CONFIG.KEY: [low, high], ...}"),
    (_effect(["data.preprocess"], factors={"data.preprocess": ["unit", "unit"]}, rule={"above": 0}), "two distinct"),
    (_effect("data.preprocess", rule={"above": 0}), "effect='data.preprocess' is not allowed: a list of distinct factors"),
    (_effect(["model.freeze"], rule={"above": 0}), "the factors are training.optimizer.name, data.preprocess, data.placement"),
    (_effect(["data.preprocess"], where={"data.preprocess": "unit"}, rule={"above": 0}),
     "`where` fixes data.preprocess, a factor of this claim"),
    (_each({"below": 0.1}, where={"training.optimizer.lr": 1e-5}), "for_each='training.optimizer.lr' is not allowed"),
    (_each({"below": 0.1}, for_each=["seed"]), "for_each=['seed'] is not allowed: one config key"),
    (_effect(["data.preprocess"], for_each="data.placement", rule={"above": 0}), "for_each='data.placement'"),
])
def test_a_bad_claim_is_one_line_naming_it(claim, words):
    with pytest.raises(ClaimsError) as caught:
        claims.check_claim(claim)
    assert str(caught.value).startswith("claim x: ") and words in str(caught.value), str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_factorial_effect_is_the_contrast_of_the_cell_means(root):
    """Cell means (optimizer, preprocess): sgd/unit 0.3, sgd/vgg16 0.4, adam/unit 0.5, adam/vgg16 0.7 at both
    placements; the third run at adam/vgg16/center sits at its cell's mean and changes nothing."""
    main = verdicts.evaluate(_effect(["training.optimizer.name"], rule={"above": 0, "margin": 0.1}), str(root))
    assert main["value"] == pytest.approx((0.5 + 0.7) / 2 - (0.3 + 0.4) / 2) and main["verdict"] == "confirmed"
    assert (main["n"], main["other_levels"], main["cells"], main["replicates"]) == (17, 1, 8, (2, 3))
    assert main["method"] == "Welch t over cells"
    cell = ("effect of training.optimizer.name (adam − sgd) +0.250 (", "Welch t over cells, "
            "n=17 (1 at other levels); 8 cells x 2–3")
    assert all(part in verdict_table.measured(main) for part in cell), verdict_table.measured(main)
    both = verdicts.evaluate(_effect(["training.optimizer.name", "data.preprocess"], rule={"above": 0}), str(root))
    # an interaction on the scale its words read: the optimizer's effect with vgg16 minus its effect with unit
    assert both["value"] == pytest.approx((0.7 - 0.4) - (0.5 - 0.3)) and both["verdict"] == "confirmed"
    assert "effect of training.optimizer.name × data.preprocess (adam − sgd) × (vgg16 − unit) +0.100 (" in \
        verdict_table.measured(both)
    placement = verdicts.evaluate(_effect(["data.placement"], rule={"equivalent": 0.02}), str(root))
    assert placement["value"] == pytest.approx(0.0, abs=1e-12) and placement["verdict"] == "confirmed"


def test_where_fixes_other_keys_of_a_factorial(root):
    """At preprocess=unit, the optimizer's effect over placement is 0.5 - 0.3 (a simple effect)."""
    factors = {key: FACTORS[key] for key in ("training.optimizer.name", "data.placement")}
    row = verdicts.evaluate(_effect(["training.optimizer.name"], factors=factors, where={"data.preprocess": "unit"},
                                    rule={"above": 0}), str(root))
    assert row["value"] == pytest.approx(0.2) and row["replicates"] == (2, 2) and row["other_levels"] == 0


def test_a_factorial_with_empty_cells_is_not_run_and_says_how_many(root):
    factors = {**FACTORS, "model.freeze": ["all", "none"]}  # no run of the factorial sweep trains its base
    row = verdicts.evaluate(_effect(["training.optimizer.name"], factors=factors, rule={"above": 0}), str(root))
    assert row["verdict"] == "not run" and row["cells_short"] == 8
    assert verdict_table.measured(row) == ("— (n=17; 1 at other levels; 16 cells x 0–3; needs 2 replicates per cell for "
                                           "its interval, 0 at the fewest)")


def test_a_misspelt_factor_or_for_each_key_is_one_line(root, tmp_path, capsys):
    for claim in (_effect(["data.preproces"], factors={**FACTORS, "data.preproces": ["unit", "vgg16"]},
                          rule={"above": 0}),
                  {"id": "x", "claim": "c", "runs": "lrs", "statistic": "mean", "for_each": "training.optimizer.rl",
                   "rule": {"above": 0}}):
        with pytest.raises(SystemExit) as stop:
            verdicts.main([write_claims(tmp_path, [claim]), "--root", str(root)])
        err = capsys.readouterr().err.strip()
        assert stop.value.code == 2 and len(err.splitlines()) == 1 and "claim x: " in err and "did you mean" in err


def test_for_each_decides_the_claim_at_every_level(root):
    row = verdicts.evaluate(_each({"below": 0.15}), str(root))  # "stays at chance at every learning rate"
    with_unset = verdicts.evaluate(_each({"below": 0.15}, runs=["lrs", "no_lr"]), str(root))
    assert (with_unset["without_key"], row["without_key"]) == (1, 0)  # counted, never a level of its own
    assert [with_unset[k] for k in ("parts", "verdict", "p", "n")] == [row[k] for k in ("parts", "verdict", "p", "n")]
    levels = {level["label"]: level for level in row["parts"]}
    assert list(levels) == ["lr 1e-05", "lr 3e-05", "lr 0.0001"]  # in numeric order
    for lr, accuracies in LRS.items():
        alone = stats.mean(accuracies, (0.0, 1.0))
        level = levels[f"lr {lr}"]
        assert (level["value"], level["ci_hi"]) == (pytest.approx(alone.value), pytest.approx(alone.ci_hi))
    assert all(level["verdict"] == "confirmed" for level in row["parts"]) and row["verdict"] == "confirmed"
    assert row["p"] == max(level["p"] for level in row["parts"]) and row["n"] == 9
    shown = verdict_table.measured(row)
    assert shown.startswith("mean at each training.optimizer.lr [lr 1e-05: 0.110 (") and shown.endswith(
        ") confirmed, n=3], logit t, n=9"), shown
    assert "logit t, n=9 (1 without training.optimizer.lr)" in verdict_table.measured(with_unset)


def test_for_each_is_refuted_only_after_the_correction_for_its_levels(root):
    """Above 0.14: the levels at 0.110 and 0.100 are refuted on their own; the claim is refuted when the
    smallest refuting p times the three levels stays below 0.05."""
    row = verdicts.evaluate(_each({"above": 0.14}), str(root))
    assert [level["verdict"] for level in row["parts"]] == ["refuted", "refuted", "inconclusive"]
    assert row["p"] == pytest.approx(3 * min(level["p"] for level in row["parts"][:2]))
    assert row["verdict"] == ("refuted" if row["p"] < 0.05 else "inconclusive")


def test_for_each_compares_each_level_with_the_baseline_at_that_level(root):
    row = verdicts.evaluate(_each({"equivalent": 0.05}, statistic="difference", baseline="lrs"), str(root))
    assert [level["value"] for level in row["parts"]] == [0.0, 0.0, 0.0] and row["verdict"] == "confirmed"
    assert "lr 1e-05: +0.000 (-0.0227–+0.0227) confirmed, n=3 vs 3;" in verdict_table.measured(row)  # Welch, df 4


def test_for_each_is_not_run_while_a_level_has_too_few_runs(root):
    row = verdicts.evaluate(_each({"below": 0.15}, runs=["lrs", "lr_once"]), str(root))
    assert row["verdict"] == "not run" and math.isnan(row["p"])
    shown = verdict_table.measured(row)
    assert shown.startswith("— (n=10; needs 2 replicates per arm for its interval, 1 at the fewest") and \
        "lr 0.001: n=1" in shown, shown


def test_a_claim_short_of_its_methods_replicates_is_not_run(root, monkeypatch):
    """With the limits the coverage simulation sets (6 a side for Welch), the fake sweeps' 3 runs a side decide
    nothing, and the row says what it lacks."""
    monkeypatch.undo()
    claim = {"id": "optimizer", "claim": "Adam lifts it", "runs": "adam", "baseline": "sgd",
             "statistic": "difference", "rule": {"above": 0, "margin": 0.02}}
    row = verdicts.evaluate(claim, str(root))
    assert stats.FEWEST["Welch t"] == 6 and row["verdict"] == "not run" and math.isnan(row["p"])
    assert verdict_table.measured(row) == "— (n=2 vs 3; 1 without the metric... )" or \
        "needs 6 replicates per arm for its interval, 3 at the fewest" in verdict_table.measured(row)


def test_a_claim_short_of_its_planned_replicates_is_not_run_and_says_how_far(root):
    claim = {"id": "chance", "claim": "c", "runs": "sgd", "statistic": "mean", "rule": {"below": 0.15}}
    decided = verdicts.evaluate(claim, str(root))
    planned = verdicts.evaluate({**claim, "planned": 8}, str(root))
    assert decided["verdict"] == "confirmed" and planned["verdict"] == "not run" and math.isnan(planned["p"])
    assert "not run (3 of 8 planned per arm)" in verdict_table.measured(planned)
    assert verdicts.evaluate({**claim, "planned": 3}, str(root))["verdict"] == "confirmed"


def test_a_verdict_whose_interval_ends_near_its_boundary_is_fragile():
    claimed = rules.region({"above": 0.1}, "mean")
    near, far = _at(0.1 + 0.0224), _at(0.2)   # interval ends 0.1 + 0.0224 - 0.0223 and 0.2 - 0.0223
    assert verdicts.judged(claimed, near)["verdict"] == "confirmed" and verdicts.judged(claimed, near)["fragile"]
    assert verdicts.judged(claimed, far)["verdict"] == "confirmed" and not verdicts.judged(claimed, far)["fragile"]
    assert "(fragile)" in verdict_table.verdict_shown({"verdict": "confirmed", "fragile": True})


def _at(value, se=0.01):
    """An estimate with a t distribution of 10 degrees of freedom around `value`."""
    from scipy import stats as sps
    half = float(sps.t.ppf(0.975, 10)) * se
    return stats.Estimate(value, value - half, value + half, "t", se=se, df=10)


ABOVE = rules.region({"above": 0}, "mean")  # each level's interval: its value -+ 0.022 (t, df 10, se 0.01)


def _p(verdict, value):
    return rules.p_value(verdict, ABOVE, _at(value))


@pytest.mark.parametrize("values, verdict, p", [
    ((0.05, 0.03), "confirmed", _p("confirmed", 0.03)),                     # every level: the largest p
    ((0.05, 0.015), "inconclusive", _p("confirmed", 0.015)),                # 0.015 is short of confirming
    ((0.0, 0.0), "inconclusive", 1.0),
    ((0.05, -0.04), "refuted", 2 * _p("refuted", -0.04)),                   # one refuted is enough: p x 2 levels
    ((0.0, -0.04, -0.03, 0.05), "refuted", 4 * _p("refuted", -0.04)),       # the smallest refuting p x 4 levels
    ((0.05, -0.023), "inconclusive", 2 * _p("refuted", -0.023)),            # refuted alone (p 0.044), not x 2
    ((-0.023,) * 30, "inconclusive", 1.0),                                  # p 0.044 x 30: capped at 1
])
def test_combining_comparisons_is_intersection_union(values, verdict, p):
    assert rules.combine([(ABOVE, _at(v)) for v in values]) == (verdict, pytest.approx(p))


def test_comparisons_may_each_claim_their_own_region():
    """A critical point's two sides: one size must fall short of the target (Δ < 0), the other reach it."""
    short, reach = rules.Region(-math.inf, 0.0), rules.Region(0.0, math.inf)
    assert rules.combine([(short, _at(-0.05)), (reach, _at(0.05))])[0] == "confirmed"
    assert rules.combine([(short, _at(0.05)), (reach, _at(0.05))])[0] == "refuted"


def test_a_claim_repeated_at_another_setting_is_listed_with_whether_the_verdicts_agree():
    from finetune_lab import verdict_table

    rows = [{"id": "a48", "verdict": "confirmed"}, {"id": "a224", "verdict": "refuted", "repeats": "a48"},
            {"id": "b48", "verdict": "inconclusive"}, {"id": "b224", "verdict": "inconclusive", "repeats": "b48"},
            {"id": "c48", "verdict": "not run"}, {"id": "c224", "verdict": "confirmed", "repeats": "c48"},
            {"id": "d48", "verdict": "confirmed"}, {"id": "d224", "verdict": "inconclusive", "repeats": "d48"},
            {"id": "e48", "verdict": "refuted"}, {"id": "e224", "verdict": "refuted", "repeats": "e48"},
            {"id": "f48", "verdict": "confirmed"}, {"id": "f224", "verdict": "refuted", "repeats": "f48", "holm": "no"}]
    rows = [{"holm": "yes" if row["verdict"] in ("confirmed", "refuted") else "—", **row} for row in rows]
    lines = verdict_table.repeated(rows).splitlines()
    assert "- `a48` confirmed, `a224` refuted: **disagree**" in lines
    assert "- `b48` inconclusive, `b224` inconclusive: neither agree nor disagree: `b48` and `b224` undecided" in lines
    assert "- `c48` not run, `c224` confirmed: not comparable yet (one is not run)" in lines
    assert "- `d48` confirmed, `d224` inconclusive: neither agree nor disagree: `d224` undecided" in lines
    assert "- `e48` refuted, `e224` refuted: agree" in lines
    assert "- `f48` confirmed, `f224` refuted: neither agree nor disagree: `f224` not surviving Holm" in lines
    assert verdict_table.repeated(rows[:1]) == ""


def test_repeats_must_name_another_claim_of_the_file(tmp_path):
    claims = [{"id": "x", "claim": "c", "runs": "sgd", "statistic": "mean", "rule": {"below": 0.15},
               "repeats": "nope"}]
    with pytest.raises(ClaimsError, match="claim x: repeats='nope' is not allowed"):
        verdicts.load_claims(write_claims(tmp_path, claims))
