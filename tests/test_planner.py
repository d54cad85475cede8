"""finetune-lab-verdicts --plan: the replicates per arm that would decide an undecided claim, and their cost."""
import json

import numpy as np
import pytest
import yaml
from scipy import stats as sps

from fake_sweeps import ADAM, FACTORS, TREND, fake_run, write_claims
from finetune_lab import measure, planner, rules, stats, verdicts

pytestmark = pytest.mark.usefixtures("few_replicates")  # the fake sweeps decide at 2 a side

AT = 3   # replicates per arm now in the designs below: fewer than any k they are simulated at


def _exactly(mean, sd, n=AT):
    """n values whose sample mean and sd are exactly `mean` and `sd`."""
    z = np.linspace(-1, 1, n)
    return mean + sd * (z - z.mean()) / z.std(ddof=1)


def _difference(delta, sd, rule, base=0.5):
    """A difference design of two arms AT replicates each, observed Δ = delta and sd `sd` in each arm."""
    arms = {"runs": measure.Arm(_exactly(base + delta, sd), [None] * AT),
            "baseline": measure.Arm(_exactly(base, sd), [None] * AT)}
    comparison = measure.Comparison("difference", ("runs", "baseline"), (1.0, -1.0), rules.region(rule, "difference"),
                                    bounds=(0.0, 1.0))
    return measure.Design(arms, [comparison], bounds=(0.0, 1.0), fewest=6)


def _needed(design, start=6):
    return planner.needed(planner.Simulation(design, seed=1), start)


def test_a_large_effect_with_small_spread_needs_few_replicates_and_one_on_its_boundary_never_decides():
    rule = {"above": 0, "margin": 0.02}
    assert _needed(_difference(0.30, 0.02, rule))[0] == 6   # the fewest Welch covers at: decided at once
    k, power = _needed(_difference(0.02, 0.03, rule))          # Δ exactly on its boundary
    assert k is None and power < 0.5
    assert 18 < _needed(_difference(0.045, 0.03, rule))[0] <= 30   # a small effect above it: many


def test_power_rises_with_the_replicates():
    simulation = planner.Simulation(_difference(0.05, 0.04, {"above": 0, "margin": 0.02}), seed=1)
    powers = [simulation.power(k) for k in (4, 8, 12, 16, 24, 32, 40)]
    assert powers == sorted(powers) and powers[0] < 0.2 and powers[-1] > 0.9


@pytest.mark.parametrize("delta, sd", [(0.06, 0.04), (0.07, 0.06), (0.10, 0.08), (0.04, 0.02)])
def test_the_planned_replicates_of_a_difference_agree_with_the_normal_approximation(delta, sd):
    """n = 2 ((z_0.975 + z_0.8) sd / (Δ - margin))^2; Welch's t quantiles ask a replicate or so more."""
    margin = 0.02
    formula = 2 * ((sps.norm.ppf(0.975) + sps.norm.ppf(0.8)) * sd / (delta - margin)) ** 2
    k, power = _needed(_difference(delta, sd, {"above": 0, "margin": margin}), start=2)
    assert 6 < formula < 35 and abs(k - formula) <= 2.5, (k, formula)
    assert power >= planner.POWER


def test_a_claim_of_several_comparisons_is_refuted_only_after_the_bonferroni_factor():
    """Four levels of a for_each claim, one of them clearly below the claimed region: the draws decide by refuting
    it, at 1 - 0.05/4 for that level; with every level on its boundary, nothing decides."""
    region = rules.region({"above": 0.5}, "mean")
    arms = {f"lr {i}": measure.Arm(_exactly(0.5 if i else 0.42, 0.03), [None] * AT) for i in range(4)}
    comparisons = [measure.Comparison(name, (name,), (1.0,), region, (0.0, 1.0), mean=True) for name in arms]
    one_low = planner.Simulation(measure.Design(arms, comparisons, (0.0, 1.0), 6), seed=1)
    assert one_low.power(6) > 0.8
    arms["lr 0"] = measure.Arm(_exactly(0.5, 0.03), [None] * AT)
    on_the_boundary = planner.Simulation(measure.Design(arms, comparisons, (0.0, 1.0), 6), seed=1)
    assert on_the_boundary.power(20) < 0.2


def _timed(folder, seconds, cpu="Test CPU"):
    """Give a fake run (test_verdicts._run) its wall time and the CPU it ran on."""
    path = folder / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics["wall_seconds"] = seconds
    metrics["provenance"]["cpu"] = {"model": cpu, "cores": 2, "flags": ["avx2", "avx512f"]}
    path.write_text(json.dumps(metrics))


def test_the_cost_is_the_missing_runs_at_each_arms_median_time(root):
    """adam: 3 completed runs, 2 with train_eval; sgd: 3. At k = 7 per arm: 4 sgd runs at a median of 60 s and
    4 adam runs at a median of 600 s; the gap's runs lack train_eval in one run, so its arm has two."""
    for i, seconds in enumerate((50, 60, 90)):
        _timed(root / "sgd" / str(i), seconds)
    for i, seconds in enumerate((600, 300, 900)):
        _timed(root / "adam" / str(i), seconds)
    claim = {"id": "optimizer", "claim": "c", "runs": "adam", "baseline": "sgd", "statistic": "difference",
             "rule": {"above": 0, "margin": 0.02}}
    runs, _, baseline, _ = measure.claim_runs(claim, str(root))
    found = measure.design(claim, runs, baseline)
    spent = planner.cost(found, 7)
    assert spent["extra_runs"] == 8 and spent["hours"] == pytest.approx((4 * 60 + 4 * 600) / 3600)
    assert spent["cpus"] == {"Test CPU, 2 cores, AVX-512"} and not spent["untimed"]
    assert planner.cost(found, 3)["extra_runs"] == 0
    gap = {**claim, "metric": "train_test_gap", "statistic": "mean", "rule": {"above": 0}}
    del gap["baseline"]
    assert planner.cost(measure.design(gap, runs, []), 5)["extra_runs"] == 3   # 2 with train_eval


def test_a_replicate_that_is_a_subsets_mean_costs_its_subsets_runs(tmp_path):
    """Two seeds on each of three data subsets: three replicates, each two runs."""
    for subset in range(3):
        for seed in range(2):
            folder = tmp_path / "subsets" / f"{subset}_{seed}"
            fake_run(folder, 0.5 + 0.01 * subset + 0.001 * seed, seed)
            config = yaml.safe_load((folder / ".hydra" / "config.yaml").read_text())
            config["data"]["split_seed"] = subset
            (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
            _timed(folder, 100)
    claim = {"id": "m", "claim": "c", "runs": "subsets", "statistic": "mean", "rule": {"above": 0.4}}
    runs, *_ = measure.claim_runs(claim, str(tmp_path))
    found = measure.design(claim, runs, [])
    assert found.arms["runs"].have == 3 and found.arms["runs"].per_replicate == 2
    assert planner.cost(found, 5) == {"extra_runs": 4, "hours": pytest.approx(400 / 3600),
                                      "cpus": {"Test CPU, 2 cores, AVX-512"}, "untimed": []}


def test_the_planners_intervals_are_the_tables(root):
    """The planner simulates the design the verdict table decides from (measure.design): at the replicates its
    arms have, the planner's intervals (stats.welch_interval, stats.bounded_interval) are the rows' (a mean, a
    difference, a trend's steps, a critical point's sides, a factorial effect, each level of a for_each claim)."""

    cases = [
        {"runs": "sgd", "statistic": "mean", "rule": {"below": 0.15}},
        {"runs": "adam", "baseline": "sgd", "statistic": "difference", "rule": {"above": 0, "margin": 0.02}},
        {"runs": "freeze", "where": ADAM, "statistic": "trend", "order": TREND, "rule": {"above": 0}},
        {"runs": "sizes", "statistic": "critical_point", "rule": {"within": [100, 168]}},
        {"runs": "factorial", "statistic": "effect", "factors": FACTORS, "effect": ["training.optimizer.name"],
         "rule": {"above": 0}},
        {"runs": "lrs", "statistic": "mean", "for_each": "training.optimizer.lr", "rule": {"below": 0.15}},
    ]
    for case in cases:
        claim = {"id": "x", "claim": "c", **case}
        row = verdicts.evaluate(claim, str(root))
        runs, _, baseline, _ = measure.claim_runs(claim, str(root))
        found = planner.compared(measure.design(claim, runs, baseline))
        samples = {name: np.asarray(arm.values, dtype=float)[None, :] for name, arm in found.arms.items()}
        shown = row.get("parts") or [row]
        assert len(found.comparisons) == len(shown) and not found.lacks, case
        for comparison, part in zip(found.comparisons, shown):
            lo, hi = planner.interval(comparison, samples, stats.LEVEL)
            assert (lo[0], hi[0]) == pytest.approx((part["ci_lo"], part["ci_hi"]), abs=1e-9), case
            assert planner.verdicts_of(comparison, samples, stats.LEVEL, found.claimed)[0] == part["verdict"], case


def test_the_command_line_plan_lists_every_undecided_claim(root, tmp_path, capsys):
    claims_file = write_claims(tmp_path, [
        {"id": "chance", "claim": "at chance", "runs": "sgd", "statistic": "mean", "rule": {"below": 0.15}},
        {"id": "near", "claim": "on its boundary", "runs": "sgd", "statistic": "mean", "rule": {"below": 0.108}},
        {"id": "short", "claim": "planned 8", "runs": "adam", "baseline": "sgd", "statistic": "difference",
         "planned": 8, "rule": {"above": 0, "margin": 0.02}},
        {"id": "missing", "claim": "never run", "runs": ["nothing_here", "nor_here"], "statistic": "mean",
         "rule": {"above": 0.5}},
        {"id": "lr_once", "claim": "one run at 1e-3", "runs": ["lrs", "lr_once"], "statistic": "mean",
         "for_each": "training.optimizer.lr", "rule": {"below": 0.15}},
    ])
    out = tmp_path / "table.md"
    verdicts.main([claims_file, "--root", str(root), "--plan", "--out", str(out)])
    printed = capsys.readouterr()
    lines = [line for line in printed.out.splitlines() if line.startswith("| `")]
    assert [line.split(" | ")[0] for line in lines] == ["| `near`", "| `short`", "| `missing`", "| `lr_once`"]
    by_id = {line.split(" | ")[0][3:-1]: line.split(" | ") for line in lines}
    assert by_id["short"][4] == "8" and by_id["short"][5] == "10"    # 5 more a side: it plans 8, has 3
    assert "not within 40" in by_id["near"][4]
    assert "no runs yet: run sweeps nothing_here, nor_here" in by_id["missing"][7]
    assert "lacks lr 0.001: runs 1 of 2 replicates" in by_id["lr_once"][7]
    assert "## At a glance" in out.read_text() and "## At a glance" not in printed.out
    assert "plan: 4 claims" in printed.err

    plan = tmp_path / "plan.md"
    verdicts.main([claims_file, "--root", str(root), "--plan", str(plan)])
    assert "## At a glance" in capsys.readouterr().out and plan.read_text().startswith("## Plan")
    first = plan.read_text()
    verdicts.main([claims_file, "--root", str(root), "--plan", str(plan)])
    assert plan.read_text() == first   # seeded: the same plan on every rerun


def test_a_plan_file_that_is_the_table_file_is_one_line(root, tmp_path, capsys):
    claims_file = write_claims(tmp_path, [{"id": "a", "claim": "c", "runs": "sgd", "statistic": "mean",
                                      "rule": {"below": 0.15}}])
    with pytest.raises(SystemExit):
        verdicts.main([claims_file, "--root", str(root), "--out", str(tmp_path / "t.md"), "--plan",
                       str(tmp_path / "t.md")])
    assert "is the --out file" in capsys.readouterr().err
