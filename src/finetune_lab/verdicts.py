"""`finetune-lab-verdicts CLAIMS.yaml [--root DIR] [--out FILE] [--plot PNG] [--plan [FILE]]`: the verdict table,
made from run folders, and the plan of the replicates that would decide each claim it leaves undecided.

Each claim of a study is declared once in a YAML file (a claims file, or the `claims:` of a study file,
finetune_lab/study.py): which sweeps hold its runs (and, for a comparison,
which hold the baseline), which statistic of which metric decides, and the region the claim puts that
statistic in. This command reads the run folders (finetune_lab.runs, as finetune-lab-report does) and writes
a legend and one row per claim: the setting the runs really had (data source and split, input size, weights,
head, optimizer, seeds, test-set size, from their configs and metrics), the statistic with its 95% interval,
the claimed region, the verdict, and whether the verdict survives Holm's correction over the table's claims,
so a rerun on other hardware regenerates every verdict from its own runs. Above them, at a glance: the counts of
each verdict, a short table (a row per claim: statistic, claimed region, verdict, Holm) and the forest plot (each
claim's interval against its claimed region, coloured by verdict), a PNG written beside --out (or to --plot).
With --plan: for each claim left inconclusive, not run or fragile, the replicates per arm that would decide it
with 80% power at the effect and spread its runs show, and the extra runs and hours that would take at their
arms' recorded wall times (finetune_lab/planner.py), e.g.
  finetune-lab-verdicts experiments/study_split.yaml --plan              # the plan instead of the table
  finetune-lab-verdicts experiments/study_split.yaml --out T.md --plan P.md

The claims file's format is in finetune_lab/claims.py (keys, metrics, statistics, interval methods), the
rules' regions and the decision in finetune_lab/rules.py, how each statistic is computed from the runs in
finetune_lab/measure.py, and the table's form in finetune_lab/verdict_table.py.
"""
from __future__ import annotations

import argparse
import math
import os
import sys

from . import claims, measure, plots, rules, stats
from .errors import UserError, exit_on_user_error
from .runs import check_keys
from .study_file import load_claims
from .verdict_table import counts, describe_rule, markdown

# The settings every row states (read from each run by `setting`).
SETTING_COLUMNS = ("data", "input", "weights", "head", "optimizer", "schedule")


# ----- runs -----

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
        units = run.output_units()
        return (f"{c.get('model.head.name')} {c.get('model.head.units')}→"
                f"{'classes from data' if units is None else units}, dropout {c.get('model.head.dropout')}")
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

def evaluate(claim: dict, root: str, loaded: dict | None = None) -> dict:
    """The row of one claim: settings, statistic with interval (or the comparisons it is decided from: each level
    of a for_each claim, each step of a trend, each side of a critical point), verdict and the verdict's p.
    `loaded`: the runs read so far (measure.collect)."""
    runs, not_done, baseline, base_not_done = measure.claim_runs(claim, root, loaded)
    for option, keys in (("factor", list(claim.get("factors", {}))), ("for_each", [claim.get("for_each")])):
        if runs + baseline and keys != [None]:  # a misspelt key would leave every run out: say so instead
            check_keys(runs + baseline, keys, f"claim {claim['id']}: {option}")
    claimed = rules.region(claim["rule"], claim["statistic"])  # as numbers too, for the forest plot
    row = {"id": claim["id"], "experiment": claim.get("experiment", ""), "claim": claim["claim"],
           "runs": len(runs), "baseline_runs": len(baseline), "not_completed": len(not_done) + len(base_not_done),
           "seeds": seeds(runs + baseline), "rule": describe_rule(claim), **settings(runs, baseline),
           "statistic": claim["statistic"], "metric": claims.metric(claim), "repeats": claim.get("repeats"),
           "planned": claim.get("planned"), "region_lo": claimed.lo, "region_hi": claimed.hi,
           "evidence": evidence(claim, runs, baseline)}
    if claim["statistic"] == "effect":
        row["contrast"] = measure.contrast_words(claim["factors"], claim["effect"])
    if "for_each" in claim:
        row = {**row, **each_level(claim, runs, baseline)}
    else:
        result, shown = measure.statistic(claim, runs, baseline)
        row = {**row, **shown, **(from_parts(claimed, result) if isinstance(result, list)
                                  else judged(claimed, result))}
    return {**row, **planned(claim, row)}


def evidence(claim: dict, runs: list, baseline: list) -> tuple:
    """What a claim's statistic is read from: its runs, its baseline's, and every key that selects among them or
    names the statistic; two claims with equal evidence differ only in their words and rule."""
    chosen = {key: claim[key] for key in ("statistic", "metric", "order", "fraction", "reference_size", "factors",
                                          "effect", "for_each") if key in claim}
    return (frozenset(run.path for run in runs), frozenset(run.path for run in baseline), repr(sorted(chosen.items())))


def planned(claim: dict, row: dict) -> dict:
    """`replicates_least`, the fewest replicates of any arm; a claim short of its `planned` replicates is `not run`
    whatever its interval says."""
    least = arm_counts(row)
    if claim.get("planned") is None or least is None or least >= claim["planned"] or row["verdict"] == "not run":
        return {"replicates_least": least}
    return {"replicates_least": least, "verdict": "not run", "p": math.nan, "fragile": False}


def arm_counts(row: dict) -> int | None:
    """The fewest replicates of any arm (side, size, level or cell) of a row."""
    if "parts" in row and "for_each" in row:
        counts = [c for part in row["parts"] for c in part["counts"]]
    elif "levels" in row:
        counts = [level["n"] for level in row["levels"]]
    elif "sizes" in row:
        counts = list(row["sizes"].values())
    elif row["statistic"] == "effect":
        counts = [row["replicates"][0]]
    else:
        counts = [row.get("replicates", row["n"]), *([row["baseline_replicates"]] if "baseline_replicates" in row
                                                     else [])]
    return min(counts) if counts else None


def judged(claimed: rules.Region, estimate: stats.Estimate | None) -> dict:
    """value, interval, method, verdict, its p and whether it is fragile, from the claim's estimate (`not run`
    without one)."""
    if estimate is None:
        return {"value": math.nan, "ci_lo": math.nan, "ci_hi": math.nan, "method": None, "verdict": "not run",
                "p": math.nan, "fragile": False}
    verdict = rules.decide(estimate.ci_lo, estimate.ci_hi, claimed)
    return {"value": estimate.value, "ci_lo": estimate.ci_lo, "ci_hi": estimate.ci_hi, "method": estimate.method,
            "verdict": verdict, "p": rules.p_value(verdict, claimed, estimate),
            "fragile": verdict != "inconclusive" and fragile(estimate, claimed)}


def fragile(estimate: stats.Estimate, claimed: rules.Region) -> bool:
    """Whether an interval end lies within rules.FRAGILE of a finite boundary of the region."""
    ends, bounds = (estimate.ci_lo, estimate.ci_hi), [b for b in (claimed.lo, claimed.hi) if math.isfinite(b)]
    return any(abs(end - bound) < rules.FRAGILE for end in ends for bound in bounds)


def from_parts(claimed: rules.Region, parts: list[measure.Part] | None) -> dict:
    """A claim decided from several comparisons (rules.combine): `parts`, each with its label, runs, interval and
    own verdict; `not run` while any comparison has too few replicates."""
    shown = [{"label": part.label, "n_shown": part.n, "counts": [], "region_lo": (part.region or claimed).lo,
              "region_hi": (part.region or claimed).hi, **judged(part.region or claimed, part.estimate)}
             for part in parts or []]
    out = {"parts": shown, "value": math.nan, "ci_lo": math.nan, "ci_hi": math.nan}
    if not parts or any(part.estimate is None for part in parts):
        return {**out, "method": None, "verdict": "not run", "p": math.nan, "fragile": False}
    verdict, p = rules.combine([(part.region or claimed, part.estimate) for part in parts])
    return {**out, "method": " | ".join(dict.fromkeys(part.estimate.method for part in parts)), "verdict": verdict,
            "p": p, "fragile": verdict != "inconclusive" and any(level["fragile"] for level in shown)}


def each_level(claim: dict, runs: list, baseline: list) -> dict:
    """A for_each claim: the claim decided at each value of its key among the runs (`parts`: the level, its runs,
    value, interval and verdict), and the verdict and p of all levels together (rules.combine); `not run` while
    any level has too few runs. Runs without the key are left out and counted (`without_key`)."""
    key = claim["for_each"]
    present = [run for run in runs + baseline if run.config.get(key) is not None]
    levels = measure.at_levels(claim, runs, baseline)
    parts, counts, totals = [], [], {"n": 0, "missing": 0, "baseline_n": 0}
    name = key.rsplit(".", 1)[-1]  # the key's last part, e.g. lr
    for level, *at in levels:
        estimate, shown = measure.statistic(claim, *at)
        for total in totals:
            totals[total] += shown.get(total, 0)
        n = f"n={shown['n']}" + (f" vs {shown['baseline_n']}" if "baseline_n" in shown else "")
        parts.append(measure.Part(f"{name} {level}", estimate, None, n))
        counts.append([shown.get("replicates", shown["n"]), *([shown["baseline_replicates"]]
                                                               if "baseline_replicates" in shown else [])])
        fewest = shown["fewest"]
    out = from_parts(rules.region(claim["rule"], claim["statistic"]), parts)
    for part, count in zip(out["parts"], counts):
        part["counts"] = count
    if "baseline" not in claim:
        totals.pop("baseline_n")
    return {**out, **totals, "for_each": key, "without_key": len(runs) + len(baseline) - len(present),
            **({"fewest": fewest} if levels else {})}


def with_holm(rows: list[dict]) -> list[dict]:
    """The rows with `p_holm`, Holm's adjusted p over every decided row (all but `not run`), `holm`: whether a
    confirmed or refuted verdict survives it at family level 0.05 (yes / no; — for the others), and
    `same_evidence`: the other claims that read the very same runs for the same statistic."""
    decided = [i for i, row in enumerate(rows) if row["verdict"] != "not run"]
    adjusted = dict(zip(decided, stats.holm([rows[i]["p"] for i in decided]))) if decided else {}
    out = []
    for i, row in enumerate(rows):
        p_holm = float(adjusted.get(i, math.nan))
        survives = ("yes" if p_holm < stats.ALPHA else "no") if row["verdict"] in ("confirmed", "refuted") else "—"
        read = row.get("evidence")
        twins = [other["id"] for other in rows if other is not row and read and other.get("evidence") == read
                 and (read[0] or read[1])]
        out.append({**row, "p_holm": p_holm, "holm": survives, "same_evidence": twins})
    return out


def write_table(declared: list[dict], root: str, out: str | None = None, plot: str | None = None,
                loaded: dict | None = None) -> tuple[list[dict], str, str | None]:
    """(the rows, the table in markdown, the forest plot's path) of the claims `declared` over the runs under
    `root`; the table written to `out` and the plot to `plot`, by default beside `out` (none without either)."""
    rows = with_holm([evaluate(claim, root, loaded) for claim in declared])
    plot = plot or (os.path.splitext(out)[0] + ".png" if out else None)
    if plot:
        plots.forest_plot(rows, plot)
    # linked from where the table is: beside it, or the current folder when it is only printed
    linked = os.path.relpath(plot, os.path.dirname(os.path.abspath(out)) if out else None) if plot else None
    table = markdown(rows, linked)
    if out:
        with open(out, "w") as f:
            f.write(table)
    return rows, table, plot


@exit_on_user_error("finetune-lab-verdicts")
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="finetune-lab-verdicts", description=__doc__.split("\n\n")[1],
                                     epilog=claims.__doc__ + "\n" + rules.__doc__.split("\n\n")[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("claims", help="the claims file or study file (YAML), e.g. "
                                                  "experiments/study_split.yaml")
    parser.add_argument("--root", help="the folder the claims' sweep names are under (default: the file's `root`)")
    parser.add_argument("--out", help="also write the table (markdown) to this file")
    parser.add_argument("--plot", help="write the forest plot (PNG) to this file, linked from the table; default: "
                                       "beside --out, the same name ending in .png (none without --out)")
    parser.add_argument("--plan", nargs="?", const="-", metavar="FILE",
                        help="the plan (finetune_lab/planner.py): for each claim that is inconclusive, not run or "
                             "fragile, the replicates per arm that would decide it with 80%% power at the effect "
                             "and spread its runs show, the extra runs and their hours from the runs' recorded "
                             "times. --plan alone prints the plan instead of the table (--out and --plot still "
                             "write theirs); --plan FILE writes it to FILE and prints the table as without it")
    args = parser.parse_args(argv)
    root, declared = load_claims(args.claims)
    if args.plan not in (None, "-") and args.out and os.path.abspath(args.plan) == os.path.abspath(args.out):
        raise UserError(f"--plan {args.plan} is the --out file: the plan needs a file of its own")
    loaded: dict = {}   # each run folder read once, for every claim and the plan
    rows, table, plot = write_table(declared, args.root or root or ".", args.out, args.plot, loaded)
    planned = None
    if args.plan:
        from . import planner   # pandas and the simulations: only for --plan
        planned = planner.plan(declared, rows, args.root or root or ".", loaded)
        text = planner.markdown(planned)
        if args.plan != "-":
            with open(args.plan, "w") as f:
                f.write(text)
    sys.stdout.write(text if args.plan == "-" else table)
    print(f"{counts(rows)}; {sum(row['holm'] == 'yes' for row in rows)} survive Holm"
          + (f"; forest plot: {plot}" if plot else "")
          + (f"; plan: {len(planned)} claims" + (f" in {args.plan}" if args.plan != "-" else "")
             if planned is not None else ""), file=sys.stderr)


if __name__ == "__main__":
    main()
