"""A claim's statistic from its runs: each run's number for the claim's metric, then the mean, difference,
factorial effect, trend steps or critical point the claim names (finetune_lab.stats), and what a verdict row
shows of the runs behind it (how many, how many were left out and why, the sizes, levels or cells).

The replicate of an arm is a run, or, where the arm's runs were trained on different subsets of the data
(several `data.split_seed` values), a subset: the runs of one subset are averaged first, so that seeds sharing
their training images are not counted as independent draws. Each interval method is used only at the replicates
per arm where stats.FEWEST says that it covers; with fewer, the claim is not decided.

A trend and a critical point are decided from several comparisons at once (`Part`s), each a Welch interval:
a trend from the step between each pair of adjacent levels, a critical point from the sizes on either side of
its claimed range against the target (finetune_lab.rules.combine joins them).

The claims file's keys are in finetune_lab/claims.py.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass

from . import claims, rules, stats
from .claims import ClaimsError
from .config import cell
from .runs import same

# Where a metric is in metrics.json, when its name is not its path; the gap is train minus test accuracy.
METRIC_PATHS = {claims.DEFAULT_METRIC: "test.accuracy"}
GAP = (claims.GAP_METRIC, "train_eval.accuracy", "test.accuracy")  # name, minuend, subtrahend
SUBSET_KEY = "data.split_seed"
LEAST = 2  # runs per side, size, level or cell for any number at all


@dataclass(frozen=True)
class Part:
    """One comparison of a claim decided from several: its label, its estimate, and the region it must lie in
    (None: the claim's own region)."""

    label: str
    estimate: stats.Estimate | None
    region: rules.Region | None = None
    n: str = ""


def bounds(metric: str) -> tuple[float, float] | None:
    """The range of a metric's values: an accuracy and a CKA in [0, 1], a gap of accuracies and a correlation in
    [-1, 1]; None for any other metric (its mean gets the plain t-interval)."""
    last = metric.rsplit(".", 1)[-1]
    if metric == GAP[0] or last.endswith("correlation"):
        return (-1.0, 1.0)
    if metric == claims.DEFAULT_METRIC or last.endswith("accuracy") or ".cka." in f".{metric}":
        return (0.0, 1.0)
    return None


def with_metric(runs, metric: str, name: str) -> tuple[list, list[float], int]:
    """(the runs that have `metric`, their values, how many runs lack it)."""
    pairs = [(run, metric_value(run.metrics, metric, name)) for run in runs]
    kept = [(run, value) for run, value in pairs if value is not None]
    return [run for run, _ in kept], [value for _, value in kept], len(runs) - len(kept)


def metric_value(metrics: dict, metric: str, name: str) -> float | None:
    """One run's number for `metric` (see claims.py); None when its metrics.json has no finite number there."""
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


def replicates(runs: list, values: list[float]) -> tuple[list[float], int]:
    """(an arm's replicates, how many subsets they are the means of; 0 when each run is one): a run per
    replicate, or the mean of each data subset's runs where the runs come from several subsets."""
    by_subset: dict[str, list[float]] = {}
    for run, value in zip(runs, values):
        by_subset.setdefault(str(run.config.get(SUBSET_KEY)), []).append(value)
    if len(by_subset) < 2:
        return list(values), 0
    return [sum(v) / len(v) for _, v in sorted(by_subset.items())], len(by_subset)


def fewest(method: str, cells: int = 1) -> int:
    return max(LEAST, stats.fewest_runs(method, cells))


def level_of(value, levels: list) -> int | None:
    """The position of a run's config value among a claim's levels; None when it is none of them."""
    return next((i for i, level in enumerate(levels) if same(value, cell(level))), None)


def method_of(statistic: str, metric: str) -> str:
    """The interval method a statistic of a metric gets (stats.FEWEST's keys)."""
    if statistic == "mean":
        return "logit t" if bounds(metric) else "t"
    return "Welch t"


def statistic(claim: dict, runs: list, baseline: list):
    """The claim's statistic (an Estimate, a list of `Part`s, or None when its replicates are too few for its
    method) and what the row shows of the runs behind it: `n` (and `baseline_n`) runs with the metric, `missing`
    runs without it, `fewest` replicates its method needs per arm, `subsets` where replicates are subset means,
    and the `sizes`, `levels` or `cells`."""
    kind, name = claim["statistic"], claim["id"]
    metric = claims.metric(claim)
    kept, mine, missing = with_metric(runs, metric, name)
    shown = {"n": len(mine), "missing": missing, "fewest": fewest(method_of(kind, metric))}
    if kind == "mean":
        values, subsets = replicates(kept, mine)
        shown.update(replicates=len(values), subsets=subsets)
        enough = len(values) >= shown["fewest"]
        return (_named(stats.mean(values, bounds(metric)), subsets) if enough else None), shown
    if kind == "difference":
        base_kept, theirs, missing_baseline = with_metric(baseline, metric, name)
        a, sa = replicates(kept, mine)
        b, sb = replicates(base_kept, theirs)
        shown.update(baseline_n=len(theirs), missing=missing + missing_baseline, replicates=len(a),
                     baseline_replicates=len(b), subsets=max(sa, sb))
        enough = min(len(a), len(b)) >= shown["fewest"]
        return (_named(stats.difference(a, b, bounds(metric)), max(sa, sb)) if enough else None), shown
    if kind == "critical_point":
        return critical(kept, mine, float(claim.get("fraction", 0.95)), claim.get("reference_size"),
                        rules.region(claim["rule"], kind), shown)
    if kind == "trend":
        return trend(kept, mine, claim["order"], metric, shown)
    return effect(kept, mine, claim["factors"], claim["effect"], metric, shown)


def _named(estimate: stats.Estimate, subsets: int) -> stats.Estimate:
    """The estimate, its method naming the subset means it was read from."""
    if not subsets:
        return estimate
    return dataclasses.replace(estimate, method=f"{estimate.method} over subset means")


def critical(runs: list, accuracies: list[float], fraction: float, reference: int | None, claimed: rules.Region,
             shown: dict):
    """A critical point (the smallest size whose mean reaches `fraction` of the mean at `reference` images, or at
    the largest size run) decided from the sizes on either side of the claimed range: each size's mean minus
    `fraction` x the reference's, a Welch interval. Above a: the largest size run below a falls short of the target;
    below b: the largest size run at or under b reaches it. Runs at sizes above the reference are left out
    (`above_reference`); replicates are subset means where the runs come from several subsets."""
    by_size: dict[int, tuple[list, list[float]]] = {}
    for run, accuracy in zip(runs, accuracies):
        group = by_size.setdefault(int(run.row()["train_size"]), ([], []))
        group[0].append(run)
        group[1].append(accuracy)
    above = sum(len(v[1]) for size, v in by_size.items() if reference is not None and size > reference)
    arms = {size: replicates(*v)[0] for size, v in sorted(by_size.items())
            if reference is None or size <= reference}
    shown = {**shown, "n": shown["n"] - above, "sizes": {size: len(v) for size, v in arms.items()},
             "fewest": fewest("Welch t"),
             **({"reference_size": reference, "above_reference": above} if reference is not None else {})}
    ref = reference if reference is not None else max(arms, default=None)
    if len(arms) < 2 or ref not in arms or min(map(len, arms.values())) < LEAST:
        return None, shown
    sizes = sorted(arms)
    shown["point"] = stats.smallest_reaching({s: sum(v) / len(v) for s, v in arms.items()}, fraction)
    checks = []   # (size, whether it must reach the target)
    if claimed.lo > -math.inf:
        below = [s for s in sizes if s < claimed.lo]
        checks += [(below[-1], False)] if below else []
    if claimed.hi < math.inf:
        under = [s for s in sizes if s <= claimed.hi]
        checks += [(under[-1], True)] if under else []
    parts = []
    for size, reaches in checks:
        enough = min(len(arms[size]), len(arms[ref])) >= shown["fewest"]
        estimate = stats.contrast([arms[size], arms[ref]], [1.0, -fraction]) if enough else None
        region = rules.Region(0.0, math.inf) if reaches else rules.Region(-math.inf, 0.0)
        label = f"{size:,} {'reaches' if reaches else 'falls short of'} {fraction:g} × {ref:,}"
        parts.append(Part(label, estimate, region, f"n={len(arms[size])} vs {len(arms[ref])}"))
    return (parts or None), shown


def trend(runs: list, values: list[float], order: dict, metric: str, shown: dict):
    """The steps between adjacent levels of `order` (each the later level's mean minus the earlier's, a Welch
    interval), the claim's region holding for every step; `levels` shows each level's mean with its interval."""
    key, levels = order["key"], order["levels"]
    by_level: list[tuple[list, list[float]]] = [([], []) for _ in levels]
    for run, value in zip(runs, values):
        at = level_of(run.config.get(key), levels)
        if at is not None:
            by_level[at][0].append(run)
            by_level[at][1].append(value)
    arms = [replicates(*group)[0] for group in by_level]
    used = sum(len(group[1]) for group in by_level)
    shown = {**shown, "n": used, "order_key": key, "other_levels": len(values) - used,
             "levels": [{"level": str(level), **(stats.mean_ci(v) if v else {"n": 0})}
                        for level, v in zip(levels, arms)]}
    if min(map(len, arms)) < LEAST:
        return None, shown
    parts = []
    for (before, a), (after, b) in itertools.pairwise(zip(levels, arms)):
        enough = min(len(a), len(b)) >= shown["fewest"]
        estimate = stats.difference(b, a, bounds(metric)) if enough else None
        parts.append(Part(f"{before} → {after}", estimate, None, f"n={len(b)} vs {len(a)}"))
    return parts, shown


def effect(runs: list, values: list[float], factors: dict, chosen: list, metric: str, shown: dict):
    """The factorial effect (stats.factorial_effect) of the `chosen` factors over the cells of `factors`; a run at
    neither level of a factor is left out (`other_levels`). Shows the cells, their runs (`replicates`: fewest,
    most) and the cells with fewer than the method needs (`cells_short`)."""
    keys = list(factors)
    cells: dict[tuple[int, ...], list[float]] = {code: [] for code in itertools.product((0, 1), repeat=len(keys))}
    for run, value in zip(runs, values):
        code = tuple(level_of(run.config.get(key), factors[key]) for key in keys)
        if None not in code:
            cells[code].append(value)
    counts = [len(v) for v in cells.values()]
    needed = fewest("Welch t", len(cells))
    shown = {**shown, "n": sum(counts), "other_levels": len(values) - sum(counts), "cells": len(cells),
             "fewest": needed, "replicates": (min(counts), max(counts)),
             "cells_short": sum(n < needed for n in counts)}
    if shown["cells_short"]:
        return None, shown
    estimate = stats.factorial_effect(cells, [keys.index(key) for key in chosen], bounds(metric))
    return dataclasses.replace(estimate, method="Welch t over cells"), shown


def contrast_words(factors: dict, chosen: list) -> str:
    """An effect in words, high level minus low, e.g. "training.optimizer.name × data.preprocess (adam − sgd) ×
    (vgg16 − unit)"."""
    levels = " × ".join(f"({factors[key][1]} − {factors[key][0]})" for key in chosen)
    return f"{' × '.join(chosen)} {levels}"
