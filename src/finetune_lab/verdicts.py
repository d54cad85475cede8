"""`finetune-lab-verdicts CLAIMS.yaml [--root DIR] [--out FILE]`: the verdict table, made from run folders.

Each claim of a study is declared once in a YAML file: which sweeps hold its runs (and, for a comparison,
which hold the baseline), which statistic of the runs' test accuracy decides, and the rule that turns the
statistic's 95% interval into a verdict. This command reads the run folders (finetune-lab-report's reader)
and writes one row per claim: the setting the runs really had (data source and split, input size, weights,
head, optimizer, seeds, test-set size, from their configs and metrics), the statistic with its interval,
and the verdict, so a rerun on other hardware regenerates every verdict from its own runs.

Statistics (over completed runs, one value per run: `metric`, by default test_accuracy; train_test_gap is the
last epoch's training accuracy, as Keras logs it with dropout on, minus the test accuracy):
  mean            mean test accuracy, 95% t-interval over the runs
  difference      mean(runs) - mean(baseline), Welch's 95% interval
  critical_point  the smallest training-set size reaching `fraction` (0.95) of the largest size's mean,
                  percentile-bootstrap 95% interval over the seeds at each size

Rules, on the interval [lo, hi]:
  {above: t, margin: m}  confirmed when lo > t; refuted when hi < t + m (any effect is smaller than m);
                         otherwise inconclusive.  (below: mirrored: confirmed when hi < t, refuted when lo > t - m)
  {within: [a, b]}       (critical_point) confirmed when a <= lo and hi <= b; refuted when the interval
                         misses [a, b]; otherwise inconclusive.
`where: {config.key: value}` keeps only the runs (and baseline runs) with that value, e.g. one training-set
size of a sweep over sizes; `baseline_where` filters the baseline instead, e.g. another size of the same
sweep. A claim whose runs are missing or too few (two per side at least) is `not run`, never guessed.
"""
from __future__ import annotations

import argparse
import math
import os
import sys

import yaml

from .config import cell
from .errors import fail
from .report import ReportError, find_runs, load_run, select
from .stats import critical_point, difference_ci, mean_ci

STATISTICS = ("mean", "difference", "critical_point")
METRICS = ("test_accuracy", "train_test_gap")
# The settings every row states (read from each run by `setting`).
SETTING_COLUMNS = ("data", "input", "weights", "head", "optimizer", "schedule")


class ClaimsError(Exception):
    """A claims file that cannot be used: one line naming the claim, the key and what is allowed."""


def load_claims(path: str) -> tuple[str | None, list[dict]]:
    """(the file's `root`, its claims, each checked)."""
    try:
        with open(path) as f:
            doc = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ClaimsError(f"{path}: {exc}") from None
    claims = doc.get("claims")
    if not isinstance(claims, list) or not claims:
        raise ClaimsError(f"{path}: expected a non-empty list under `claims:`")
    for claim in claims:
        check_claim(claim)
    return doc.get("root"), claims


def check_claim(claim: dict) -> None:
    name = claim.get("id", "?")
    for key in ("id", "claim", "runs", "statistic", "rule"):
        if key not in claim:
            raise ClaimsError(f"claim {name}: `{key}` is missing")
    if claim["statistic"] not in STATISTICS:
        raise ClaimsError(f"claim {name}: statistic={claim['statistic']!r} is not allowed: one of {', '.join(STATISTICS)}")
    if (claim["statistic"] == "difference") != ("baseline" in claim):
        raise ClaimsError(f"claim {name}: `baseline` goes with statistic=difference, and only with it")
    if "baseline_where" in claim and "baseline" not in claim:
        raise ClaimsError(f"claim {name}: `baseline_where` filters a baseline, and this claim has none")
    if claim.get("metric", "test_accuracy") not in METRICS or (
            claim["statistic"] == "critical_point" and "metric" in claim):
        raise ClaimsError(f"claim {name}: metric={claim.get('metric')!r} is not allowed: one of {', '.join(METRICS)} "
                          "(critical_point uses test accuracy)")
    rule = claim["rule"]
    wanted = {"within"} if claim["statistic"] == "critical_point" else {"above", "below"}
    if not isinstance(rule, dict) or len(wanted & set(rule)) != 1:
        raise ClaimsError(f"claim {name}: rule={rule!r} is not allowed: one of {' / '.join(sorted(wanted))} "
                          f"for statistic={claim['statistic']}")


def decide(lo: float, hi: float, rule: dict) -> str:
    """confirmed / refuted / inconclusive for an interval [lo, hi] under `rule` (see the module's doc)."""
    if "within" in rule:
        a, b = rule["within"]
        if a <= lo and hi <= b:
            return "confirmed"
        return "refuted" if hi < a or lo > b else "inconclusive"
    margin = float(rule.get("margin", 0.0))
    if "above" in rule:
        t = float(rule["above"])
        return "confirmed" if lo > t else "refuted" if hi < t + margin else "inconclusive"
    t = float(rule["below"])
    return "confirmed" if hi < t else "refuted" if lo > t - margin else "inconclusive"


def describe_rule(statistic: str, rule: dict) -> str:
    if "within" in rule:
        return f"interval within {rule['within'][0]}–{rule['within'][1]}"
    side = "above" if "above" in rule else "below"
    margin = f", margin {rule['margin']}" if rule.get("margin") else ""
    return f"{side} {rule[side]}{margin}"


# ----- runs -----

def collect(root: str, sweeps, where: dict | None = None) -> tuple[list, list]:
    """(completed runs, the others) under root/<sweep> for each named sweep whose config matches `where`
    (config key -> value); a missing sweep adds nothing."""
    wanted = {key: [cell(value)] for key, value in (where or {}).items()}
    done, other = [], []
    for sweep in [sweeps] if isinstance(sweeps, str) else sweeps:
        path = os.path.join(root, sweep)
        if not os.path.isdir(path):
            continue
        for run in select([load_run(p) for p in find_runs([path])], wanted):
            (done if run.status == "completed" and run.row()["test_accuracy"] is not None else other).append(run)
    return done, other


def values(runs, metric: str = "test_accuracy") -> list[float]:
    """One number per run: its test accuracy, or its last training accuracy minus its test accuracy."""
    test = [run.row()["test_accuracy"] for run in runs]
    if metric == "test_accuracy":
        return test
    return [run.metrics["train"]["accuracy"] - acc for run, acc in zip(runs, test)]


def setting(run, column: str) -> str:
    """One run's value of a SETTING_COLUMNS column, read from its config (and its data counts)."""
    c = run.config
    if column == "data":
        counts = run.data_counts()
        train, val = counts.get("train"), counts.get("val")
        taken = f"first {train + val:,} of the train pool" if train is not None and val is not None else "?"
        return f"{c.get('data.source')}: {taken} ({train} train / {val} val), test {counts.get('test', '?')}"
    if column == "input":
        return f"{c.get('data.input_size')}px {c.get('data.placement')}/{c.get('data.channels')}/{c.get('data.preprocess')}"
    if column == "weights":
        return f"{c.get('model.weights')}, freeze {c.get('model.freeze')}"
    if column == "head":
        return (f"{c.get('model.head.name')} {c.get('model.head.units')}→{c.get('model.output_units')}, "
                f"dropout {c.get('model.head.dropout')}")
    if column == "optimizer":
        name = c.get("training.optimizer.name")
        extra = f" m{c.get('training.optimizer.momentum')}" if name == "sgd" else ""
        return f"{name} {c.get('training.optimizer.lr')}{extra}"
    epochs, per_epoch = c.get("training.epochs"), c.get("training.samples_per_epoch")
    return (f"{epochs} ep x {per_epoch if per_epoch not in (None, 'null') else 'all'}, "
            f"batch {c.get('training.batch_size')}, {c.get('training.precision', 'fp32')}")


def sizes_shown(group) -> str | None:
    """The data column of runs at several training-set sizes of one source and test set, in one line."""
    counts = [run.data_counts() for run in group]
    sources = {(run.config.get("data.source"), c.get("test")) for run, c in zip(group, counts)}
    train, val = ({c.get(part) for c in counts if c.get(part) is not None} for part in ("train", "val"))
    if len(sources) != 1 or len(train) < 3:
        return None
    (source, test), = sources

    def span(values):
        if not values:
            return "?"
        return f"{min(values):,}–{max(values):,}" if len(values) > 1 else f"{min(values):,}"

    return f"{source}: {len(train)} sizes cut from the train pool, {span(train)} train / {span(val)} val, test {test}"


def settings(runs, baseline) -> dict[str, str]:
    """Each column's values over the runs; `runs vs baseline` where the baseline differs."""
    def shown(group, column):
        if column == "data" and (line := sizes_shown(group)):
            return line
        return " \\| ".join(sorted({setting(run, column) for run in group})) or "—"

    out = {}
    for column in SETTING_COLUMNS:
        mine = shown(runs, column)
        theirs = shown(baseline, column) if baseline else mine
        out[column] = mine if theirs == mine else f"{mine} vs {theirs}"
    return out


def seeds(runs) -> str:
    return ",".join(str(s) for s in sorted({run.config.get("seed") for run in runs}, key=str)) or "—"


# ----- one claim -----

def evaluate(claim: dict, root: str) -> dict:
    """The row of one claim: settings, statistic with interval, verdict."""
    runs, not_done = collect(root, claim["runs"], claim.get("where"))
    baseline, base_not_done = (collect(root, claim["baseline"], claim.get("baseline_where", claim.get("where")))
                               if "baseline" in claim else ([], []))
    row = {"id": claim["id"], "experiment": claim.get("experiment", ""), "claim": claim["claim"],
           "runs": len(runs), "baseline_runs": len(baseline), "not_completed": len(not_done) + len(base_not_done),
           "seeds": seeds(runs + baseline), "rule": describe_rule(claim["statistic"], claim["rule"]),
           **settings(runs, baseline), "statistic": claim["statistic"],
           "metric": claim.get("metric", "test_accuracy")}
    value = _statistic(claim, runs, baseline)
    if value is None:
        return {**row, "value": math.nan, "ci_lo": math.nan, "ci_hi": math.nan, "verdict": "not run"}
    return {**row, **value, "verdict": decide(value["ci_lo"], value["ci_hi"], claim["rule"])}


def _statistic(claim: dict, runs: list, baseline: list) -> dict | None:
    kind, metric = claim["statistic"], claim.get("metric", "test_accuracy")
    if kind == "mean":
        if len(runs) < 2:
            return None
        spread = mean_ci(values(runs, metric))
        return {"value": spread["mean"], "ci_lo": spread["ci_lo"], "ci_hi": spread["ci_hi"]}
    if kind == "difference":
        if len(runs) < 2 or len(baseline) < 2:
            return None
        d = difference_ci(values(runs, metric), values(baseline, metric))
        return {"value": d["difference"], "ci_lo": d["ci_lo"], "ci_hi": d["ci_hi"]}
    by_size: dict[int, list[float]] = {}
    for run in runs:
        by_size.setdefault(int(run.row()["train_size"]), []).append(run.row()["test_accuracy"])
    if len(by_size) < 2 or min(map(len, by_size.values())) < 2:
        return None
    point = critical_point(by_size, float(claim.get("fraction", 0.95)))
    return {"value": point["size"], "ci_lo": point["ci_lo"], "ci_hi": point["ci_hi"],
            "sizes": {size: len(v) for size, v in sorted(by_size.items())}}


# ----- output -----

COLUMNS = (("experiment", "exp."), ("claim", "claim"), ("data", "data (source, split, test n)"),
           ("input", "input"), ("weights", "weights"), ("head", "head"), ("optimizer", "optimizer"),
           ("schedule", "schedule"), ("seeds", "seeds"), ("measured", "statistic (95% interval)"),
           ("rule", "rule"), ("verdict", "verdict"))


def measured(row: dict) -> str:
    if row["verdict"] == "not run":
        return f"— ({row['runs']} runs, {row['baseline_runs']} baseline)"
    runs = f"n={row['runs']}" + (f" vs {row['baseline_runs']}" if row["statistic"] == "difference" else "")
    if row["statistic"] == "critical_point":
        return f"critical size {row['value']} ({row['ci_lo']}–{row['ci_hi']}), {runs}"
    of = "" if row["metric"] == "test_accuracy" else f" of {row['metric']}"
    if row["statistic"] == "difference":
        return f"Δ{of} {row['value']:+.3f} ({row['ci_lo']:+.3f}–{row['ci_hi']:+.3f}), {runs}"
    return f"mean{of} {row['value']:.3f} ({row['ci_lo']:.3f}–{row['ci_hi']:.3f}), {runs}"


def markdown(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(title for _, title in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        cells = {**row, "measured": measured(row), "verdict": f"**{row['verdict']}**"}
        lines.append("| " + " | ".join(str(cells[key]).replace("\n", " ") for key, _ in COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="finetune-lab-verdicts", description=__doc__.split("\n\n")[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("claims", help="the claims file (YAML), e.g. experiments/claims.yaml")
    parser.add_argument("--root", help="the folder the claims' sweep names are under (default: the file's `root`)")
    parser.add_argument("--out", help="also write the table (markdown) to this file")
    args = parser.parse_args(argv)
    try:
        root, claims = load_claims(args.claims)
        rows = [evaluate(claim, args.root or root or ".") for claim in claims]
    except (ClaimsError, ReportError) as exc:
        fail(parser.prog, str(exc))
    table = markdown(rows)
    if args.out:
        with open(args.out, "w") as f:
            f.write(table)
    sys.stdout.write(table)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["verdict"]] = counts.get(row["verdict"], 0) + 1
    print(f"{len(rows)} claims: " + ", ".join(f"{n} {v}" for v, n in sorted(counts.items())), file=sys.stderr)


if __name__ == "__main__":
    main()
