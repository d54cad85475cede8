"""`finetune-lab-report PATH... [--out DIR] [--group-by KEY ...] [--filter KEY=VALUE ...]`

Collects every run folder under the paths (single runs, sweeps, nested; a run folder is one that holds
`.hydra/config.yaml`) and writes into the output folder:

- `runs.csv`: one row per run: its path, the config keys whose values differ between the collected runs,
  status, test accuracy and its 95% interval, epochs, training-set size, wall time, the reason a run did
  not complete, and the numeric leaves of metrics.json's `original_task` section;
- `critical_points.csv`: per group run at two training-set sizes or more, the smallest size whose mean
  test accuracy reaches 95% of the largest size's, and the runs at each size (a point, no interval);
- `per_class.csv`: per set of classes, group and class (named as metrics.json's test.per_class_accuracy names
  it), the group's runs and their mean test accuracy on that class;
- `report.md`: test accuracy per group and size (runs, mean, sd, and the mean's 95% interval), test accuracy per
  class (one row per class, one column per group; runs with other classes in a table of their own), the critical
  points, the plots the runs allow (linked PNGs beside it): test accuracy vs training-set size (each run a dot, each
  group's means a line), test accuracy vs original-task agreement (each run a dot, each group's means a cross),
  learning curves overlaid, feature maps before / after training of a few runs, and the runs table;
- `report.html`: the same markdown rendered as one self-contained page (finetune_lab.page: every image embedded
  as base64 PNG).

An interval of a mean is shown only where the group has at least the fewest runs its method covers at in the
coverage simulation (stats.covered_mean: for an accuracy the logit-scale t-interval, from stats.FEWEST["logit t"]
runs; docs/statistics.md); below that the table says there is none and the figures show the runs alone.

Runs that did not complete (failed, diverged, interrupted, killed, running, empty) are listed with their
reason; none is dropped silently. The run folders are only read; everything is written into the output folder:
`--out DIR`, or by default `PATH/report/` for one PATH (inside it: given a run folder alone, the report lands in
that run's folder; given a sweep folder, beside its jobs) and `./report/` for several PATHs.
"""
from __future__ import annotations

import argparse
import math
import os

import pandas as pd

from . import page, plots, tables
from .errors import UserError, exit_on_user_error
from .forgetting import AGREEMENT
from .measure import bounds
from .runs import (RUN_MARK, Run, check_keys, find_runs, group_label, group_value, load_run, parse_filters, select,
                   varying_keys)
from .stats import covered_mean, fewest_runs, mean_method, smallest_reaching

REPLICATE_KEYS = ("seed",)           # averaged over in the plots, never a default group
SIZE_KEYS = ("data.cutoff_rate",)    # the training-set size is the x axis, never a default group
RESULT_COLUMNS = ["status", "test_accuracy", "ci95_lo", "ci95_hi", "test_n", "epochs", "train_size",
                  "wall_seconds", "peak_rss_gib", "error"]
COUNT_COLUMNS = ["test_n", "epochs", "train_size"]
SPREAD_COLUMNS = ["runs", "mean", "sd", "ci95_lo", "ci95_hi", "interval"]  # a group's test accuracy at one size
TITLE = "finetune-lab report"
MAP_COLUMNS = ["layer", "before", "after"]  # the feature-map tables: a layer, its maps before and after training
PER_CLASS_NOTE = ("Test accuracy on each class, as the runs' metrics.json names it: the mean over the completed runs "
                  "of each group (n: its runs; a run without test images of a class counts in no mean of that "
                  "class). Runs whose classes differ are in tables of their own.")
CRITICAL_POINT_NOTE = ("The smallest training-set size whose mean test accuracy reaches 95% of the largest size's "
                       "mean, per group, and the runs at each size. A point, without an interval: no interval of a "
                       "critical size is shown by the coverage simulation to cover (finetune-lab-verdicts decides a "
                       "claimed critical point from each size's mean against the target instead).")


# ----- tabulating -----

def table(runs: list[Run], keys: list[str]) -> pd.DataFrame:
    """One row per run. Config columns keep their values as written (an int stays an int; a key a run's
    config lacks is empty)."""
    settings = pd.DataFrame([[run.path, *(run.config.get(k) for k in keys)] for run in runs],
                            columns=["run", *keys], dtype=object)
    results = pd.DataFrame([run.row() for run in runs])
    for column in COUNT_COLUMNS:  # integers, empty where unknown (not 64.0)
        results[column] = pd.to_numeric(results[column]).astype("Int64")
    extra = sorted(c for c in results.columns if c.startswith("original_task."))
    return pd.concat([settings, results[[*RESULT_COLUMNS, *extra]]], axis=1)


def default_groups(runs: list[Run]) -> list[str]:
    completed = [run for run in runs if run.status == "completed"]
    return [k for k in varying_keys(completed) if k not in REPLICATE_KEYS + SIZE_KEYS]


def spread(values: list[float], metric: str) -> dict:
    """runs, mean, sd, and the mean's 95% interval (`covered_mean`, on `metric`'s range) with its method in
    `interval`; with fewer runs than that method covers at, no interval (NaN) and `interval` says so."""
    limits = bounds(metric)
    est = covered_mean(values, limits)
    x = pd.Series(values, dtype=float)
    fewest = fewest_runs(mean_method(limits))
    return {"runs": len(x), "mean": x.mean(), "sd": x.std(ddof=1),
            "ci95_lo": est.ci_lo if est else math.nan, "ci95_hi": est.ci_hi if est else math.nan,
            "interval": est.method if est else f"none ({len(x)} run{'s' * (len(x) != 1)}, fewer than {fewest})"}


def summary(frame: pd.DataFrame, groups: list[str]) -> pd.DataFrame:
    """Completed runs per group and training-set size: test accuracy's runs, mean, sd and 95% interval of the mean
    (`spread`: only where the runs are enough for it)."""
    columns = [*groups, "train_size", *SPREAD_COLUMNS]
    done = frame[(frame.status == "completed") & frame.test_accuracy.notna()].copy()
    if done.empty:
        return pd.DataFrame(columns=columns)
    done["train_size"] = done["train_size"].fillna(-1).astype(int)
    keys = [*groups, "train_size"]
    rows = []
    for key, part in done.groupby([done[k].map(group_value) if k in groups else done[k] for k in keys], sort=True):
        row = spread(part.test_accuracy.tolist(), "test_accuracy")
        rows.append([*key, *(row[c] for c in SPREAD_COLUMNS)])
    return pd.DataFrame(rows, columns=columns)


def per_class(runs: list[Run], groups: list[str]) -> pd.DataFrame:
    """Completed runs' test accuracy per class (metrics.json's test.per_class_accuracy, keyed by class name): one
    row per set of classes (numbered in the order first met), group and class (in label order): the group's runs
    with that set of classes and their mean accuracy on the class."""
    sets, rows = {}, []
    for run in runs:
        accuracy = (run.metrics.get("test") or {}).get("per_class_accuracy")
        if run.status != "completed" or not accuracy:
            continue
        number = sets.setdefault(tuple(accuracy), len(sets) + 1)
        settings = {k: group_value(run.config.get(k)) for k in groups}
        rows += [{"class_set": number, "group": group_label(run.config, groups), **settings, "run": run.path,
                  "class": name, "accuracy": value} for name, value in accuracy.items()]
    keys = ["class_set", "group", *groups]
    if not rows:
        return pd.DataFrame(columns=[*keys, "class", "runs", "mean"])
    long = pd.DataFrame(rows)
    long["accuracy"] = pd.to_numeric(long.accuracy)  # a class without test images: None -> NaN, in no mean
    return long.groupby([*keys, "class"], sort=False).agg(runs=("run", "nunique"), mean=("accuracy", "mean")
                                                          ).reset_index()


def per_class_tables(classes: pd.DataFrame) -> list[pd.DataFrame]:
    """per_class's rows as one table per set of classes: a row per class, a column per group (`label (n=runs)`)."""
    shown = []
    for _, part in classes.groupby("class_set", sort=False):
        wide = part.pivot(index="class", columns="group", values="mean")
        wide = wide.reindex(index=part["class"].unique(), columns=part.group.unique())
        runs = part.groupby("group").runs.first()
        wide.columns = [f"{group} (n={runs[group]})" for group in wide.columns]
        shown.append(wide.rename_axis("class").reset_index())
    return shown


def critical_points(frame: pd.DataFrame, groups: list[str], fraction: float = 0.95) -> pd.DataFrame:
    """Per group run at two training-set sizes or more: the smallest size whose mean test accuracy reaches
    `fraction` of the largest size's mean (stats.smallest_reaching), the target, and the runs at each size; no
    interval (CRITICAL_POINT_NOTE)."""
    columns = [*groups, "critical_size", "target_accuracy", "largest_size", "runs_per_size"]
    done = frame[(frame.status == "completed") & frame.test_accuracy.notna() & frame.train_size.notna()]
    rows = []
    for label, part in by_group(done, groups):
        by_size = part.groupby(part.train_size.astype(int)).test_accuracy
        means = by_size.mean().to_dict()
        if len(means) < 2:
            continue
        largest = max(means)
        rows.append([*(group_value(part.iloc[0].get(k)) for k in groups), smallest_reaching(means, fraction),
                     fraction * means[largest], largest, ", ".join(f"{s}: {n}" for s, n in by_size.size().items())])
    return pd.DataFrame(rows, columns=columns)


# ----- figures (drawn by finetune_lab.plots) -----

def by_group(frame: pd.DataFrame, groups: list[str]) -> list[tuple[str, pd.DataFrame]]:
    """(label, rows) per group of `frame`, in order of first appearance."""
    if frame.empty:
        return []
    return list(frame.groupby(frame.apply(lambda r: group_label(r, groups), axis=1), sort=False))


def figures(out: str, frame: pd.DataFrame, stats: pd.DataFrame, points: pd.DataFrame, runs: list[Run],
            groups: list[str], agreement_key: str | None) -> list[tuple[str, str]]:
    """The plots the runs allow, as (title, file) in the report's order: test accuracy vs training-set size
    (each run, the groups' means, their intervals where `stats` has them, and the critical points), vs
    original-task agreement (each run and each group's means), and the learning curves."""
    made = []
    sized = stats[stats.train_size > 0]
    if len(sized):
        critical = {group_label(row, groups): row for _, row in points.iterrows()}
        done = frame[(frame.status == "completed") & frame.test_accuracy.notna() & (frame.train_size.fillna(-1) > 0)]
        made.append(("test accuracy vs training-set size",
                     plots.accuracy_vs_size(by_group(sized, groups), dict(by_group(done, groups)), critical,
                                            fewest_runs(mean_method(bounds("test_accuracy"))),
                                            os.path.join(out, "accuracy_vs_train_size.png"))))
    column = agreement_column(frame, agreement_key)
    done = frame[(frame.status == "completed") & frame.test_accuracy.notna() & frame[column].notna()] if column else []
    if len(done):
        made.append(("test accuracy vs original-task agreement",
                     plots.accuracy_vs_agreement(by_group(done, groups), agreement_summary(done, groups, column),
                                                 column, os.path.join(out, "accuracy_vs_original_task.png"))))
    curves = [(group_label(run.config, groups), run.history) for run in runs if run.history]
    if curves:
        made.append(("learning curves",
                     plots.learning_curves_overlaid(curves, os.path.join(out, "learning_curves.png"))))
    return made


def agreement_column(frame: pd.DataFrame, wanted: str | None) -> str | None:
    columns = [c for c in frame.columns if c.startswith("original_task.") and frame[c].notna().any()]
    if wanted:
        name = wanted if wanted.startswith("original_task.") else f"original_task.{wanted}"
        if name not in columns:
            raise UserError(f"--agreement-key {wanted}: no run has it; the runs have: "
                              + (", ".join(c.split(".", 1)[1] for c in columns) or "no original_task metrics"))
        return name
    for key in AGREEMENT:
        if f"original_task.{key}" in columns:
            return f"original_task.{key}"
    return next((c for c in columns if "agreement" in c), None)


def agreement_summary(points: pd.DataFrame, groups: list[str], column: str) -> pd.DataFrame:
    """Per group, in the order its first run came: its runs, and the mean with its 95% interval of `column` (x)
    and of test accuracy (y) (`spread`: NaN where the group has too few runs for one)."""
    rows = []
    for label, part in by_group(points, groups):
        x, y = (spread(part[c].astype(float).tolist(), c) for c in (column, "test_accuracy"))
        rows.append({"group": label, "runs": len(part),
                     **{f"{axis}_{key}": values[key] for axis, values in (("x", x), ("y", y))
                        for key in ("mean", "ci95_lo", "ci95_hi", "interval")}})
    return pd.DataFrame(rows)


def feature_map_pairs(runs: list[Run], groups: list[str], limit: int) -> list[tuple[Run, list[tuple]]]:
    """Up to `limit` completed runs with before/after feature maps, one per group first:
    [(run, [(layer, before.png, after.png), ...]), ...]."""
    candidates = []
    for run in runs:
        folder = os.path.join(run.path, "feature_maps")
        if run.status != "completed" or not os.path.isdir(folder):
            continue
        layers = sorted({name.split(".")[0] for name in os.listdir(folder) if name.endswith(".before.png")})
        pairs = [(layer, os.path.join(folder, f"{layer}.before.png"), os.path.join(folder, f"{layer}.after.png"))
                 for layer in layers if os.path.isfile(os.path.join(folder, f"{layer}.after.png"))]
        if pairs:
            candidates.append((run, pairs))
    chosen, seen = [], set()
    for run, pairs in candidates:  # one per group first, then the rest in order
        label = group_label(run.config, groups)
        if label not in seen:
            seen.add(label)
            chosen.append((run, pairs))
    chosen += [c for c in candidates if c not in chosen]
    return chosen[:limit]


# ----- writing -----

def display_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The runs table for reading: accuracy with its interval in one column, no original_task columns."""
    shown = frame.drop(columns=[c for c in frame.columns if c.startswith("original_task.")] + ["ci95_lo", "ci95_hi"])
    ci = frame.apply(lambda r: f"{r.ci95_lo:.3f}-{r.ci95_hi:.3f}" if pd.notna(r.ci95_lo) else "", axis=1)
    shown.insert(shown.columns.get_loc("test_accuracy") + 1, "ci95", ci)
    return shown.drop(columns=["error"])


def class_set_title(number: int, shown: pd.DataFrame) -> str:
    names = list(shown["class"])
    return f"Class set {number}: {len(names)} classes ({', '.join(names[:5])}{', ...' if len(names) > 5 else ''})"


def document(out: str, paths: list[str], frame: pd.DataFrame, stats: pd.DataFrame, points: pd.DataFrame,
             groups: list[str], pictures: list[tuple[str, str]], maps, problems: pd.DataFrame,
             by_class: list[pd.DataFrame]) -> str:
    """The report as markdown, its images linked relative to `out`: the one source of report.md and report.html."""
    counts = frame.status.value_counts()
    count_line = ", ".join(f"{n} {s}" for s, n in counts.items())
    intro = (f"{len(frame)} runs from {', '.join(paths)}: {count_line}. "
             f"Grouped by: {', '.join(groups) if groups else 'nothing (one group)'}; "
             "runs, mean and sd of each group and training-set size, and the mean's 95% interval where there are runs "
             "enough for one to cover.")

    md = [f"# {TITLE}", "", tables.plain(intro), ""]
    md += ["## Runs that did not complete", ""]
    md += [f"- `{r.run}`: **{r.status}**: {tables.plain(r.error)}" for r in problems.itertuples()] or ["None."]
    md += ["", "## Test accuracy by group", "",
           tables.markdown(stats, plain_text=True) if len(stats) else "No completed run.", ""]
    if by_class:
        md += ["## Test accuracy per class", "", PER_CLASS_NOTE, ""]
        for number, shown in enumerate(by_class, start=1):
            md += [f"### {tables.plain(class_set_title(number, shown))}", ""] if len(by_class) > 1 else []
            md += [tables.markdown(shown, plain_text=True), ""]
    if len(points):
        md += ["## Critical point", "", CRITICAL_POINT_NOTE, "", tables.markdown(points, plain_text=True), ""]
    md += ["## Plots", ""]
    md += [f"### {title}\n\n![{title}]({os.path.basename(p)})\n" for title, p in pictures] or [
        "No plot: no completed run.", ""]
    if maps:
        md += ["## Feature maps before / after training", ""]
        for run, pairs in maps:
            shown = pd.DataFrame([[tables.plain(layer), f"![]({os.path.relpath(b, out)})",
                                   f"![]({os.path.relpath(a, out)})"] for layer, b, a in pairs], columns=MAP_COLUMNS)
            md += [f"### `{run.path}`", "", tables.markdown(shown), ""]
    md += ["## Runs", "", tables.markdown(display_table(frame), plain_text=True), ""]
    return "\n".join(md)


def write_report(out: str, md: str) -> None:
    """report.md, and report.html: the same document as one page, its images embedded (finetune_lab.page)."""
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(md)
    with open(os.path.join(out, "report.html"), "w") as f:
        f.write(page.html_page(md, out, TITLE))


def build(paths: list[str], out: str, group_by: list[str] | None = None, filters: list[str] | None = None,
          feature_maps: int = 2, agreement_key: str | None = None) -> dict:
    """Collect, select, tabulate, plot and write. Returns what was written and the counts."""
    found = find_runs(paths)
    if not found:
        raise UserError(f"no run folder (a folder with {RUN_MARK}) under {', '.join(paths)}")
    runs = [load_run(p) for p in found]
    wanted = parse_filters(filters or [])
    check_keys(runs, list(wanted), "--filter")
    check_keys(runs, list(group_by or []), "--group-by")
    runs = select(runs, wanted)
    if not runs:
        raise UserError(f"no run matches the filters ({len(found)} runs collected)")
    groups = list(group_by) if group_by else default_groups(runs)
    keys = varying_keys(runs)
    keys += [k for k in groups if k not in keys and k != "status"]
    frame = table(runs, keys)

    os.makedirs(out, exist_ok=True)
    frame.to_csv(os.path.join(out, "runs.csv"), index=False)
    stats = summary(frame, groups)
    points = critical_points(frame, groups)
    pictures = figures(out, frame, stats, points, runs, groups, agreement_key)
    maps = feature_map_pairs(runs, groups, feature_maps)
    problems = frame[frame.status != "completed"][["run", "status", "error"]]
    points.to_csv(os.path.join(out, "critical_points.csv"), index=False)
    classes = per_class(runs, groups)
    classes.drop(columns="group").to_csv(os.path.join(out, "per_class.csv"), index=False)
    write_report(out, document(out, paths, frame, stats, points, groups, pictures, maps, problems,
                               per_class_tables(classes)))
    return {"runs": len(frame), "counts": frame.status.value_counts().to_dict(), "groups": groups,
            "plots": [p for _, p in pictures], "out": out}


@exit_on_user_error("finetune-lab-report")
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="finetune-lab-report",
        description="Tabulate and plot run folders (single runs and sweeps, found recursively under PATH).")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="run folders, sweep folders, or folders above them")
    parser.add_argument("--out", help="output folder (default: PATH/report for one PATH, ./report for several)")
    parser.add_argument("--group-by", nargs="+", action="extend", default=[], metavar="KEY",
                        help="dotted config keys whose values make the groups (plot lines). Default: the varying "
                             "keys other than " + ", ".join(REPLICATE_KEYS + SIZE_KEYS))
    parser.add_argument("--filter", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                        help="keep runs whose config KEY equals VALUE (`status` works too); a key given twice "
                             "keeps either value")
    parser.add_argument("--feature-maps", type=int, default=2, metavar="N",
                        help="show feature maps before/after of up to N runs (one per group first; default 2)")
    parser.add_argument("--agreement-key", metavar="KEY",
                        help="original_task metric on the scatter's x axis (default: " + ", ".join(AGREEMENT)
                             + ", the first present)")
    args = parser.parse_args(argv)
    out = args.out or (os.path.join(args.paths[0], "report") if len(args.paths) == 1 else "report")
    result = build(args.paths, out, args.group_by, args.filter, max(args.feature_maps, 0), args.agreement_key)
    counts = ", ".join(f"{n} {s}" for s, n in result["counts"].items())
    print(f"{result['runs']} runs ({counts}) -> {os.path.join(out, 'report.html')}, report.md, runs.csv, per_class.csv"
          + (f", {len(result['plots'])} plots" if result["plots"] else ""))


if __name__ == "__main__":
    main()
