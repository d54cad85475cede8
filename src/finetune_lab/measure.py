"""A claim's statistic from its runs: each run's number for the claim's metric, then the mean, difference,
critical point, trend or factorial effect the claim names (finetune_lab.stats), and what a verdict row shows
of the runs behind it (how many, how many were left out and why, the sizes, levels or cells).

The claims file's keys are in finetune_lab/claims.py.
"""
from __future__ import annotations

import itertools
import math

from . import claims, stats
from .claims import ClaimsError
from .config import cell
from .runs import same

# Where a metric is in metrics.json, when its name is not its path; the gap is train minus test accuracy.
METRIC_PATHS = {claims.DEFAULT_METRIC: "test.accuracy"}
GAP = (claims.GAP_METRIC, "train_eval.accuracy", "test.accuracy")  # name, minuend, subtrahend
LEAST = 2  # runs per side, size, level or cell


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


def level_of(value, levels: list) -> int | None:
    """The position of a run's config value among a claim's levels; None when it is none of them."""
    return next((i for i, level in enumerate(levels) if same(value, cell(level))), None)


def statistic(claim: dict, runs: list, baseline: list) -> tuple[stats.Estimate | None, dict]:
    """The claim's statistic (None when its runs are too few) and what the row shows of the runs behind it:
    `n` (and `baseline_n`) runs with the metric, `missing` runs without it, and the `sizes`, `levels` or `cells`."""
    kind, name = claim["statistic"], claim["id"]
    method, metric = claims.method(claim), claims.metric(claim)
    kept, mine, missing = with_metric(runs, metric, name)
    shown = {"n": len(mine), "missing": missing}
    if kind == "mean":
        return (stats.mean(mine, method) if len(mine) >= LEAST else None), shown
    if kind == "difference":
        _, theirs, missing_baseline = with_metric(baseline, metric, name)
        shown = {"n": len(mine), "baseline_n": len(theirs), "missing": missing + missing_baseline}
        return (stats.difference(mine, theirs, method) if min(len(mine), len(theirs)) >= LEAST else None), shown
    if kind == "critical_point":
        return critical(kept, mine, float(claim.get("fraction", 0.95)), claim.get("reference_size"), shown)
    if kind == "trend":
        return trend(kept, mine, claim["order"], shown)
    return effect(kept, mine, claim["factors"], claim["effect"], method, shown)


def critical(runs: list, accuracies: list[float], fraction: float, reference: int | None,
             shown: dict) -> tuple[stats.Estimate | None, dict]:
    """The critical point over the runs' training-set sizes, against the mean at `reference` images (runs at
    larger sizes left out and counted as `above_reference`) or, without one, at the largest size run."""
    by_size: dict[int, list[float]] = {}
    for run, accuracy in zip(runs, accuracies):
        by_size.setdefault(int(run.row()["train_size"]), []).append(accuracy)
    above = sum(len(v) for size, v in by_size.items() if reference is not None and size > reference)
    by_size = {size: v for size, v in sorted(by_size.items()) if reference is None or size <= reference}
    shown = {**shown, "n": shown["n"] - above, "sizes": {size: len(v) for size, v in by_size.items()},
             **({"reference_size": reference, "above_reference": above} if reference is not None else {})}
    if (len(by_size) < 2 or min(map(len, by_size.values())) < LEAST
            or (reference is not None and reference not in by_size)):
        return None, shown
    point = stats.critical_point(by_size, fraction)
    method = f"percentile bootstrap over the runs at each size, {point['resamples']:,} resamples"
    return stats.Estimate(point["size"], point["ci_lo"], point["ci_hi"], method, draws=point["draws"]), shown


def trend(runs: list, values: list[float], order: dict, shown: dict) -> tuple[stats.Estimate | None, dict]:
    """Somers' D of value on level (stats.trend); `levels` shows each level's mean with its t-interval."""
    key, levels = order["key"], order["levels"]
    by_level: list[list[float]] = [[] for _ in levels]
    for run, value in zip(runs, values):
        at = level_of(run.config.get(key), levels)
        if at is not None:
            by_level[at].append(value)
    used = sum(map(len, by_level))
    shown = {**shown, "n": used, "order_key": key, "other_levels": len(values) - used,
             "levels": [{"level": str(level), **(stats.mean_ci(v) if v else {"n": 0})}
                        for level, v in zip(levels, by_level)]}
    if min(map(len, by_level)) < LEAST:
        return None, shown
    return stats.trend(by_level), shown


def effect(runs: list, values: list[float], factors: dict, chosen: list, method: str,
           shown: dict) -> tuple[stats.Estimate | None, dict]:
    """The factorial effect (stats.factorial_effect) of the `chosen` factors over the cells of `factors`; a run at
    neither level of a factor is left out (`other_levels`). Shows the cells, their runs (`replicates`: fewest,
    most) and the cells with fewer than two (`cells_short`)."""
    keys = list(factors)
    cells: dict[tuple[int, ...], list[float]] = {code: [] for code in itertools.product((0, 1), repeat=len(keys))}
    for run, value in zip(runs, values):
        code = tuple(level_of(run.config.get(key), factors[key]) for key in keys)
        if None not in code:
            cells[code].append(value)
    counts = [len(v) for v in cells.values()]
    shown = {**shown, "n": sum(counts), "other_levels": len(values) - sum(counts), "cells": len(cells),
             "replicates": (min(counts), max(counts)), "cells_short": sum(n < LEAST for n in counts)}
    if shown["cells_short"]:
        return None, shown
    return stats.factorial_effect(cells, [keys.index(key) for key in chosen], method), shown


def contrast_words(factors: dict, chosen: list) -> str:
    """An effect in words, high level minus low, e.g. "training.optimizer.name × data.preprocess (adam − sgd) ×
    (vgg16 − unit)"."""
    levels = " × ".join(f"({factors[key][1]} − {factors[key][0]})" for key in chosen)
    return f"{' × '.join(chosen)} {levels}"
