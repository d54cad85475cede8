"""`finetune-lab-verdicts CLAIMS.yaml [--root DIR] [--out FILE]`: the verdict table, made from run folders.

Each claim of a study is declared once in a YAML file: which sweeps hold its runs (and, for a comparison,
which hold the baseline), which statistic of which metric decides, and the region the claim puts that
statistic in. This command reads the run folders (finetune-lab-report's reader) and writes a legend and one
row per claim: the setting the runs really had (data source and split, input size, weights, head, optimizer,
seeds, test-set size, from their configs and metrics), the statistic with its 95% interval, the claimed region,
the verdict, and whether the verdict survives Holm's correction over the table's claims, so a rerun on other
hardware regenerates every verdict from its own runs.

The claims file's format is in finetune_lab/claims.py (keys, metrics, statistics, interval methods), the
rules' regions and the decision in finetune_lab/rules.py.
"""
from __future__ import annotations

import argparse
import math
import os
import sys

from . import claims, rules, stats
from .claims import ClaimsError, load_claims
from .config import cell
from .report import ReportError, find_runs, load_run, same, select

# How a statistic is written in the rule and statistic columns, and whether its numbers carry a sign.
SYMBOLS = {"mean": ("mean", False), "difference": ("Δ", True), "critical_point": ("size", False),
           "trend": ("D", True)}
# Where a metric is in metrics.json, when its name is not its path; the gap is train minus test accuracy.
METRIC_PATHS = {claims.DEFAULT_METRIC: "test.accuracy"}
GAP = (claims.GAP_METRIC, "train_eval.accuracy", "test.accuracy")  # name, minuend, subtrahend
EXIT_USER_ERROR = 2
# The settings every row states (read from each run by `setting`).
SETTING_COLUMNS = ("data", "input", "weights", "head", "optimizer", "schedule")


def describe_rule(claim: dict) -> str:
    """The claimed region in words, e.g. "Δ > +0.02"."""
    return rules.describe(rules.region(claim["rule"], claim["statistic"]), *SYMBOLS[claim["statistic"]])


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


def with_metric(runs, metric: str, name: str) -> tuple[list, list[float], int]:
    """(the runs that have `metric`, their values, how many runs lack it)."""
    pairs = [(run, metric_value(run.metrics, metric, name)) for run in runs]
    kept = [(run, value) for run, value in pairs if value is not None]
    return [run for run, _ in kept], [value for _, value in kept], len(runs) - len(kept)


def metric_value(metrics: dict, metric: str, name: str) -> float | None:
    """One run's number for `metric` (see the module's doc); None when its metrics.json has no finite number there."""
    if metric == GAP[0]:
        train, test = (metric_value(metrics, path, name) for path in GAP[1:])
        return None if train is None or test is None else train - test
    node = metrics
    for part in METRIC_PATHS.get(metric, metric).split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict) and node:
        raise ClaimsError(f"claim {name}: metric={metric!r} is a section of metrics.json, not a number: one of "
                          + ", ".join(f"{metric}.{key}" for key in node))
    number = isinstance(node, (int, float)) and not isinstance(node, bool) and math.isfinite(node)
    return float(node) if number else None


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
        return " | ".join(sorted({setting(run, column) for run in group})) or "—"

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
    """The row of one claim: settings, statistic with interval, verdict and the verdict's p-value."""
    runs, not_done = collect(root, claim["runs"], claim.get("where"))
    baseline, base_not_done = (collect(root, claim["baseline"], claim.get("baseline_where", claim.get("where")))
                               if "baseline" in claim else ([], []))
    row = {"id": claim["id"], "experiment": claim.get("experiment", ""), "claim": claim["claim"],
           "runs": len(runs), "baseline_runs": len(baseline), "not_completed": len(not_done) + len(base_not_done),
           "seeds": seeds(runs + baseline), "rule": describe_rule(claim), **settings(runs, baseline),
           "statistic": claim["statistic"], "metric": claims.metric(claim)}
    estimate, shown = measure(claim, runs, baseline)
    row.update(shown)
    if estimate is None:
        return {**row, "value": math.nan, "ci_lo": math.nan, "ci_hi": math.nan, "method": None,
                "verdict": "not run", "p": math.nan}
    claimed = rules.region(claim["rule"], claim["statistic"])
    verdict = rules.decide(estimate.ci_lo, estimate.ci_hi, claimed)
    return {**row, "value": estimate.value, "ci_lo": estimate.ci_lo, "ci_hi": estimate.ci_hi,
            "method": estimate.method, "verdict": verdict, "p": rules.p_value(verdict, claimed, estimate)}


def measure(claim: dict, runs: list, baseline: list) -> tuple[stats.Estimate | None, dict]:
    """The claim's statistic (None when its runs are too few) and what the row shows of the runs behind it:
    `n` (and `baseline_n`) runs with the metric, `missing` runs without it, and the `sizes` or `levels`."""
    kind, name = claim["statistic"], claim["id"]
    method, metric = claims.method(claim), claims.metric(claim)
    kept, mine, missing = with_metric(runs, metric, name)
    shown = {"n": len(mine), "missing": missing}
    if kind == "mean":
        return (stats.mean(mine, method) if len(mine) >= 2 else None), shown
    if kind == "difference":
        _, theirs, missing_baseline = with_metric(baseline, metric, name)
        shown = {"n": len(mine), "baseline_n": len(theirs), "missing": missing + missing_baseline}
        return (stats.difference(mine, theirs, method) if min(len(mine), len(theirs)) >= 2 else None), shown
    if kind == "critical_point":
        return critical(kept, mine, float(claim.get("fraction", 0.95)), shown)
    return trend(kept, mine, claim["order"], shown)


def critical(runs: list, accuracies: list[float], fraction: float, shown: dict) -> tuple[stats.Estimate | None, dict]:
    by_size: dict[int, list[float]] = {}
    for run, accuracy in zip(runs, accuracies):
        by_size.setdefault(int(run.row()["train_size"]), []).append(accuracy)
    shown = {**shown, "sizes": {size: len(v) for size, v in sorted(by_size.items())}}
    if len(by_size) < 2 or min(map(len, by_size.values())) < 2:
        return None, shown
    point = stats.critical_point(by_size, fraction)
    method = f"percentile bootstrap over the runs at each size, {point['resamples']:,} resamples"
    return stats.Estimate(point["size"], point["ci_lo"], point["ci_hi"], method, draws=point["draws"]), shown


def trend(runs: list, values: list[float], order: dict, shown: dict) -> tuple[stats.Estimate | None, dict]:
    """Somers' D of value on level (stats.trend); `levels` shows each level's mean with its t-interval."""
    key, levels = order["key"], order["levels"]
    by_level: list[list[float]] = [[] for _ in levels]
    for run, value in zip(runs, values):
        at = [i for i, level in enumerate(levels) if same(run.config.get(key), cell(level))]
        if at:
            by_level[at[0]].append(value)
    used = sum(map(len, by_level))
    shown = {**shown, "n": used, "order_key": key, "other_levels": len(values) - used,
             "levels": [{"level": str(level), **(stats.mean_ci(v) if v else {"n": 0})}
                        for level, v in zip(levels, by_level)]}
    if min(map(len, by_level)) < 2:
        return None, shown
    return stats.trend(by_level), shown


def with_holm(rows: list[dict]) -> list[dict]:
    """The rows with `p_holm`, Holm's adjusted p over every decided row (all but `not run`), and `holm`: whether
    a confirmed or refuted verdict survives it at family level 0.05 (yes / no; — for the others)."""
    decided = [i for i, row in enumerate(rows) if row["verdict"] != "not run"]
    adjusted = dict(zip(decided, stats.holm([rows[i]["p"] for i in decided]))) if decided else {}
    out = []
    for i, row in enumerate(rows):
        p_holm = float(adjusted.get(i, math.nan))
        survives = ("yes" if p_holm < stats.ALPHA else "no") if row["verdict"] in ("confirmed", "refuted") else "—"
        out.append({**row, "p_holm": p_holm, "holm": survives})
    return out


# ----- output -----

COLUMNS = (("experiment", "exp."), ("claim", "claim"), ("data", "data (source, split, test n)"),
           ("input", "input"), ("weights", "weights"), ("head", "head"), ("optimizer", "optimizer"),
           ("schedule", "schedule"), ("seeds", "seeds"), ("measured", "statistic (95% interval), method, runs"),
           ("rule", "rule (claimed region)"), ("verdict", "verdict"), ("holm_shown", "survives Holm (p, adjusted p)"))


def measured(row: dict) -> str:
    """The statistic cell: value (interval), method, and the runs behind it."""
    symbol, signed = SYMBOLS[row["statistic"]]
    n, notes, levels = runs_shown(row)
    if row["verdict"] == "not run":
        return f"— ({'; '.join([n, *notes, *levels])})"
    of = "" if row["metric"] == claims.DEFAULT_METRIC else f" of {row['metric']}"
    if row["statistic"] == "critical_point":
        numbers = f"{row['value']} ({row['ci_lo']}–{row['ci_hi']})"
        symbol = "critical size"
    else:
        form = "{:+.3f}" if signed else "{:.3f}"
        numbers = f"{form.format(row['value'])} ({form.format(row['ci_lo'])}–{form.format(row['ci_hi'])})"
    runs = n + (f" ({'; '.join(notes)})" if notes else "")
    return f"{symbol}{of} {numbers}, {row['method']}, {'; '.join([runs, *levels])}"


def runs_shown(row: dict) -> tuple[str, list[str], list[str]]:
    """The runs behind a row: n (vs the baseline's); notes on the runs left out (without the metric, at other
    levels); a trend's levels (their means, or while not run their counts)."""
    n = f"n={row['n']}" + (f" vs {row['baseline_n']}" if row["statistic"] == "difference" else "")
    notes = [f"{row['missing']} without the metric"] if row["missing"] else []
    if row["statistic"] != "trend":
        return n, notes, []
    notes += [f"{row['other_levels']} at other levels"] if row["other_levels"] else []
    if row["verdict"] == "not run":
        counts = ", ".join(f"{level['level']} n={level['n']}" for level in row["levels"])
        return n, notes, [f"by {row['order_key']}: {counts}, 2 per level needed"]
    means = ", ".join(f"{level['level']} {level['mean']:.3f}" for level in row["levels"])
    return n, notes, [f"by {row['order_key']}: {means}"]


def holm_shown(row: dict) -> str:
    if row["holm"] == "—":
        return "—"
    return f"{row['holm']} ({_p(row['p'])}, {_p(row['p_holm'])})"


def _p(p: float) -> str:
    return "<0.0001" if p < 1e-4 else f"{p:.2g}"


def legend(rows: list[dict]) -> str:
    """What the verdict words mean, how many claims the table decides, and how many survive Holm."""
    decided = [row for row in rows if row["verdict"] != "not run"]
    clear = [row for row in decided if row["verdict"] in ("confirmed", "refuted")]
    kept = sum(row["holm"] == "yes" for row in clear)
    level = f"{stats.LEVEL:.0%}"
    return "\n".join([
        f"This table decides {len(decided)} of its {len(rows)} claims ({len(rows) - len(decided)} not run), each "
        f"from the {level} interval of the statistic its row names, against the region its `rule` column claims:",
        "",
        "- **confirmed**: the interval lies wholly inside the claimed region;",
        "- **refuted**: the interval lies wholly outside it;",
        "- **inconclusive**: the interval reaches both; an interval end exactly on a `>` or `<` boundary counts as "
        "both (a `≤ … ≤` range holds its ends);",
        "- **not run**: the claim's runs are missing or too few (two per side, per size or per level); the row "
        "counts them.",
        "",
        "A margin is the smallest effect that counts and moves the boundary: `above 0, margin 0.02` claims "
        "Δ > +0.02, so it is confirmed only when the whole interval lies above +0.02 and refuted when it lies "
        "below +0.02 (any effect smaller than the margin). `no_worse` claims Δ > −margin, `equivalent` "
        "|Δ| < margin.",
        "",
        f"Multiplicity: at {level} each, some of {len(decided)} verdicts may be chance. Each decided claim has a "
        f"p-value for its verdict (below {stats.ALPHA:g} exactly when its interval clears the boundary), and "
        f"Holm's step-down correction over all {len(decided)} keeps the chance of any false confirmed or refuted "
        f"verdict in the table at or below {stats.ALPHA:g}: {kept} of the {len(clear)} confirmed or refuted verdicts "
        "survive it (last column: yes / no, with the p-value and the Holm-adjusted p-value).",
        ""])


def markdown(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(title for _, title in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        cells = {**row, "measured": measured(row), "verdict": f"**{row['verdict']}**", "holm_shown": holm_shown(row)}
        lines.append("| " + " | ".join(_cell(cells[key]) for key, _ in COLUMNS) + " |")
    return legend(rows) + "\n" + "\n".join(lines) + "\n"


def _cell(value) -> str:
    """A markdown table cell: one line, its bars escaped (|Δ| < 0.02, settings that differ between runs)."""
    return str(value).replace("\n", " ").replace("|", "\\|")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="finetune-lab-verdicts", description=__doc__.split("\n\n")[1],
                                     epilog=claims.__doc__ + "\n" + rules.__doc__.split("\n\n")[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("claims", help="the claims file (YAML), e.g. experiments/claims.yaml")
    parser.add_argument("--root", help="the folder the claims' sweep names are under (default: the file's `root`)")
    parser.add_argument("--out", help="also write the table (markdown) to this file")
    args = parser.parse_args(argv)
    try:
        root, declared = load_claims(args.claims)
        rows = with_holm([evaluate(claim, args.root or root or ".") for claim in declared])
    except (ClaimsError, ReportError) as exc:
        print(f"finetune-lab-verdicts: error: {exc}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    table = markdown(rows)
    if args.out:
        with open(args.out, "w") as f:
            f.write(table)
    sys.stdout.write(table)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["verdict"]] = counts.get(row["verdict"], 0) + 1
    print(f"{len(rows)} claims: " + ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
          + f"; {sum(row['holm'] == 'yes' for row in rows)} survive Holm", file=sys.stderr)


if __name__ == "__main__":
    main()
