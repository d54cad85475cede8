"""What a claim reads from its runs: the runs themselves (`claim_runs`: its sweeps' run folders, selected by its
`where`), its design (`design`) and the statistic decided from it (`statistic`).

The design: each run's number for the claim's metric; the runs grouped into named arms (the runs and the baseline of
a difference; the levels of a trend; the sizes of a critical point, its reference among them; the 2^k cells of a
factorial effect; for a for_each claim, those of each level); each arm's replicates; the comparisons the claim is
decided from, each an interval over named arms with its region; the fewest replicates per arm its method needs;
what it lacks for any number at all; and what a verdict row shows of the runs behind it (how many, how many were
left out and why, the sizes, levels or cells). `statistic` computes each comparison's interval from the arms'
replicates (finetune_lab.stats); finetune_lab.planner simulates the same arms and comparisons, so that the plan's
intervals are the table's.

The replicate of an arm is a run, or, where the arm's runs were trained on different subsets of the data
(several `data.split_seed` values), a subset: the runs of one subset are averaged first, so that seeds sharing
their training images are not counted as independent draws (a factorial cell's replicates are its runs). Each
interval method is used only at the replicates per arm where stats.FEWEST says that it covers; with fewer, the
claim is not decided.

A mean is the mean of one arm; a difference and a factorial effect are a contrast of arm means, sum_j w_j x
mean(arm j), with Welch's interval. A trend and a critical point are decided from several comparisons at once
(`Part`s), each a Welch interval: a trend from the step between each pair of adjacent levels, a critical point
from the sizes on either side of its claimed range against the target (finetune_lab.rules.combine joins them).

The claims file's keys are in finetune_lab/claims.py.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
import os
from dataclasses import dataclass, field

from . import claims, rules, stats
from .claims import ClaimsError
from .config import cell
from .files import natural_key
from .runs import find_runs, load_run, same, select

# Where a metric is in metrics.json, when its name is not its path; the gap is train minus test accuracy.
METRIC_PATHS = {claims.DEFAULT_METRIC: "test.accuracy"}
GAP = (claims.GAP_METRIC, "train_eval.accuracy", "test.accuracy")  # name, minuend, subtrahend
SUBSET_KEY = "data.split_seed"
LEAST = 2  # runs per side, size, level or cell for any number at all
SEVERAL = ("trend", "critical_point")   # the statistics decided from several comparisons (`Part`s)


@dataclass(frozen=True)
class Part:
    """One comparison of a claim decided from several: its label, its estimate, and the region it must lie in
    (None: the claim's own region)."""

    label: str
    estimate: stats.Estimate | None
    region: rules.Region | None = None
    n: str = ""


@dataclass(frozen=True)
class Arm:
    """One arm's replicates (a run's value each, or a data subset's mean: `subsets` of them; 0 when each is a run)
    and the runs behind them (those with the claim's metric)."""

    values: list[float]
    runs: list
    subsets: int = 0

    @property
    def have(self) -> int:
        return len(self.values)

    @property
    def per_replicate(self) -> float:
        """Runs per replicate: 1, or the runs of a data subset where replicates are subset means."""
        return len(self.runs) / self.have if self.have else 1.0


@dataclass(frozen=True)
class Comparison:
    """One interval a claim is decided from: sum_j w_j x mean(arm j) over the named `arms`, Welch's interval clipped
    to the values the contrast can take where `bounds` (the metric's range) is given; with `mean`, the mean of its
    one arm instead (stats.mean: on the logit scale where `bounds` is given). It is decided against `region` (None:
    the claim's own); `over` names what its replicates are in the estimate's method ("subset means", "cells"); `n`,
    its runs in words."""

    label: str
    arms: tuple[str, ...]
    weights: tuple[float, ...]
    region: rules.Region | None = None
    bounds: tuple[float, float] | None = None
    mean: bool = False
    over: str = ""
    n: str = ""


@dataclass
class Design:
    """A claim as its runs give it: its arms by name, the comparisons it is decided from, the metric's range, the
    fewest replicates per arm its method covers at, what it lacks for any number at all, what its verdict row shows
    of the runs (`shown`; for a for_each claim, each level's: verdicts.each_level), the claim's own region and the
    runs it reads (with or without its metric)."""

    arms: dict[str, Arm] = field(default_factory=dict)
    comparisons: list[Comparison] = field(default_factory=list)
    bounds: tuple[float, float] | None = None
    fewest: int = LEAST
    lacks: list[str] = field(default_factory=list)
    shown: dict = field(default_factory=dict)
    claimed: rules.Region | None = None
    read: int = 0


# ----- a claim's runs -----

def collect(root: str, sweeps, where: dict | None = None, loaded: dict | None = None) -> tuple[list, list]:
    """(completed runs, the others) under root/<sweep> for each named sweep whose config matches `where`
    (config key -> value); a missing sweep adds nothing. `loaded` (run folder -> run) keeps the runs read, so
    that claims sharing sweeps read each run once."""
    wanted = {key: [cell(value)] for key, value in (where or {}).items()}
    loaded = {} if loaded is None else loaded
    done, other = [], []
    for sweep in sweep_names(sweeps):
        path = os.path.join(root, sweep)
        if not os.path.isdir(path):
            continue
        folders = find_runs([path])
        loaded.update({p: load_run(p) for p in folders if p not in loaded})
        for run in select([loaded[p] for p in folders], wanted):
            (done if run.status == "completed" and run.row()["test_accuracy"] is not None else other).append(run)
    return done, other


def sweep_names(sweeps) -> list[str]:
    """A claim's `runs` or `baseline`, one sweep name or a list of them, as a list."""
    return [sweeps] if isinstance(sweeps, str) else list(sweeps)


def claim_runs(claim: dict, root: str, loaded: dict | None = None) -> tuple[list, list, list, list]:
    """(its completed runs, the others, its baseline's completed runs, the others) of a claim (`collect`)."""
    runs, not_done = collect(root, claim["runs"], claim.get("where"), loaded)
    baseline, base_not_done = (collect(root, claim["baseline"], claim.get("baseline_where", claim.get("where")),
                                       loaded) if "baseline" in claim else ([], []))
    return runs, not_done, baseline, base_not_done


# ----- the design -----

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


def levels_of(runs: list, key: str) -> list:
    """The values of `key` among the runs that have it, each once, in order (numbers by value, else naturally)."""
    levels: list = []
    for run in runs:
        if run.config.get(key) is not None and not any(same(run.config[key], level) for level in levels):
            levels.append(run.config[key])
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in levels)
    return sorted(levels, key=(lambda v: v) if numeric else (lambda v: natural_key(str(v))))


def at_levels(claim: dict, runs: list, baseline: list) -> list[tuple]:
    """(level, its runs, its baseline's) at each value of a for_each claim's key among the runs (`levels_of`)."""
    key = claim["for_each"]
    return [(level, *([run for run in group if same(run.config.get(key), level)] for group in (runs, baseline)))
            for level in levels_of(runs + baseline, key)]


def method_of(statistic: str, metric: str) -> str:
    """The interval method a statistic of a metric gets (stats.FEWEST's keys)."""
    return stats.mean_method(bounds(metric)) if statistic == "mean" else "Welch t"


# ----- the design -----

def design(claim: dict, runs: list, baseline: list) -> Design:
    """The arms and comparisons the verdict of `claim` is read from; for a for_each claim, those of every level,
    each arm named by its level (e.g. "lr 0.001: runs")."""
    if "for_each" not in claim:
        return group(claim, runs, baseline)
    key = claim["for_each"]
    out = Design(bounds=bounds(claims.metric(claim)), claimed=rules.region(claim["rule"], claim["statistic"]),
                 read=len(runs) + len(baseline))
    for level, at_runs, at_baseline in at_levels(claim, runs, baseline):
        one = group(claim, at_runs, at_baseline, f"{key.rsplit('.', 1)[-1]} {level}: ")
        out.arms.update(one.arms)
        out.comparisons += one.comparisons
        out.lacks += one.lacks
        out.fewest = one.fewest
    if not out.comparisons:
        out.lacks.append(f"no runs with {key}")
    return out


def group(claim: dict, runs: list, baseline: list, prefix: str = "") -> Design:
    """The design of one group of runs (the whole claim, or one level of a for_each claim; its arms' names start
    with `prefix`), whatever the claim's for_each."""
    kind, metric = claim["statistic"], claims.metric(claim)
    kept, values, missing = with_metric(runs, metric, claim["id"])
    method = fewest(method_of(kind, metric))
    out = Design(bounds=bounds(metric), fewest=method, claimed=rules.region(claim["rule"], kind),
                 read=len(runs) + len(baseline), shown={"n": len(values), "missing": missing, "fewest": method})
    if kind == "mean":
        _mean(kept, values, prefix, out)
    elif kind == "difference":
        _difference(claim, kept, values, baseline, prefix, out)
    elif kind == "trend":
        _trend(claim["order"], kept, values, prefix, out)
    elif kind == "critical_point":
        _critical(claim, kept, values, prefix, out)
        return out
    else:
        _effect(claim["factors"], claim["effect"], kept, values, prefix, out)
    out.lacks += _short(out.arms)
    return out


def _arm(runs: list, values: list[float]) -> Arm:
    """An arm of the runs with their values: its replicates are subset means where the runs come from several."""
    means, subsets = replicates(runs, values)
    return Arm(means, runs, subsets)


def _short(arms: dict[str, Arm]) -> list[str]:
    """The arms with fewer replicates than any number needs, in words."""
    return [f"{name} {arm.have} of {LEAST} replicates" for name, arm in arms.items() if arm.have < LEAST]


def _grouped(runs: list, values: list[float], key) -> dict:
    """{key(run): (its runs, their values)}, leaving out the runs whose key is None or holds a None."""
    groups: dict = {}
    for run, value in zip(runs, values):
        at = key(run)
        if at is not None and not (isinstance(at, tuple) and None in at):
            group_of = groups.setdefault(at, ([], []))
            group_of[0].append(run)
            group_of[1].append(value)
    return groups


def _mean(runs: list, values: list[float], prefix: str, out: Design) -> None:
    """The mean of the runs' replicates (stats.mean)."""
    arm = out.arms[prefix + "runs"] = _arm(runs, values)
    out.shown.update(replicates=arm.have, subsets=arm.subsets)
    out.comparisons.append(Comparison(prefix + "mean", (prefix + "runs",), (1.0,), None, out.bounds, mean=True,
                                      over="subset means" if arm.subsets else ""))


def _difference(claim: dict, runs: list, values: list[float], baseline: list, prefix: str, out: Design) -> None:
    """The runs' mean minus the baseline's."""
    base_kept, theirs, missing_baseline = with_metric(baseline, claims.metric(claim), claim["id"])
    a = out.arms[prefix + "runs"] = _arm(runs, values)
    b = out.arms[prefix + "baseline"] = _arm(base_kept, theirs)
    subsets = max(a.subsets, b.subsets)
    out.shown.update(baseline_n=len(theirs), missing=out.shown["missing"] + missing_baseline, replicates=a.have,
                     baseline_replicates=b.have, subsets=subsets)
    out.comparisons.append(Comparison(prefix + "difference", (prefix + "runs", prefix + "baseline"), (1.0, -1.0),
                                      None, out.bounds, over="subset means" if subsets else ""))


def _trend(order: dict, runs: list, values: list[float], prefix: str, out: Design) -> None:
    """The steps between adjacent levels of `order`: each the later level's mean minus the earlier's, the claim's
    region holding for every step; `levels` shows each level's mean with its interval."""
    key, ordered = order["key"], order["levels"]
    groups = _grouped(runs, values, lambda run: level_of(run.config.get(key), ordered))
    names = [f"{prefix}{key.rsplit('.', 1)[-1]} {level}" for level in ordered]
    arms = [_arm(*groups.get(i, ([], []))) for i in range(len(ordered))]
    out.arms.update(zip(names, arms))
    used = sum(len(arm.runs) for arm in arms)
    out.shown.update(n=used, order_key=key, other_levels=len(values) - used,
                     levels=[{"level": str(level), **(stats.mean_ci(arm.values) if arm.values else {"n": 0})}
                             for level, arm in zip(ordered, arms)])
    for (before, a, a_name), (after, b, b_name) in itertools.pairwise(zip(ordered, arms, names)):
        out.comparisons.append(Comparison(f"{before} → {after}", (b_name, a_name), (1.0, -1.0), None, out.bounds,
                                          n=f"n={b.have} vs {a.have}"))


def _critical(claim: dict, runs: list, values: list[float], prefix: str, out: Design) -> None:
    """A critical point (the smallest size whose mean reaches `fraction` of the mean at `reference` images, or at
    the largest size run) decided from the sizes on either side of the claimed range: each size's mean minus
    `fraction` x the reference's. Above a: the largest size run below a falls short of the target; below b: the
    largest size run at or under b reaches it. Runs at sizes above the reference are left out (`above_reference`).
    Its arms: the reference size, then the others in order."""
    fraction, reference = float(claim.get("fraction", 0.95)), claim.get("reference_size")
    groups = _grouped(runs, values, lambda run: int(run.row()["train_size"]))
    above = sum(len(v[1]) for size, v in groups.items() if reference is not None and size > reference)
    sizes = sorted(size for size in groups if reference is None or size <= reference)
    arms = {size: _arm(*groups[size]) for size in sizes}
    out.shown.update(n=out.shown["n"] - above, sizes={size: arm.have for size, arm in arms.items()},
                     fewest=fewest("Welch t"),
                     **({"reference_size": reference, "above_reference": above} if reference is not None else {}))
    out.fewest = out.shown["fewest"]
    ref = reference if reference is not None else max(sizes, default=None)
    name = {size: f"{prefix}{size:,} images" for size in sizes}
    out.arms.update((name[size], arms[size]) for size in sorted(sizes, key=lambda size: size != ref))
    if len(sizes) < 2 or ref not in arms:
        out.lacks.append(f"no runs at the reference size {ref:,}" if ref is not None and sizes else
                         "runs at two training-set sizes at least")
        return
    if short := _short({name[size]: arms[size] for size in sizes}):   # nothing is decided while any size has fewer
        out.lacks += short
        return
    out.shown["point"] = stats.smallest_reaching({size: sum(arm.values) / arm.have for size, arm in arms.items()},
                                                 fraction)
    claimed = out.claimed
    checks = ([(max(below), False)] if (below := [s for s in sizes if s < claimed.lo]) else []) + (
        [(max(under), True)] if (under := [s for s in sizes if s <= claimed.hi]) else [])
    for size, reaches in checks:
        region = rules.Region(0.0, math.inf) if reaches else rules.Region(-math.inf, 0.0)
        label = f"{size:,} {'reaches' if reaches else 'falls short of'} {fraction:g} × {ref:,}"
        out.comparisons.append(Comparison(label, (name[size], name[ref]), (1.0, -fraction), region,
                                          n=f"n={arms[size].have} vs {arms[ref].have}"))
    if not checks:
        out.lacks.append("no size run on either side of the claimed range")


def _effect(factors: dict, chosen: list, runs: list, values: list[float], prefix: str, out: Design) -> None:
    """The factorial effect (stats.factorial_weights) of the `chosen` factors over the cells of `factors`, a cell's
    replicates its runs; a run at neither level of a factor is left out (`other_levels`). Shows the cells, their
    runs (`replicates`: fewest, most) and the cells with fewer than the method needs (`cells_short`)."""
    keys = list(factors)
    codes = list(itertools.product((0, 1), repeat=len(keys)))
    groups = _grouped(runs, values, lambda run: tuple(level_of(run.config.get(key), factors[key]) for key in keys))
    names = [prefix + "cell " + "/".join(str(factors[k][c]) for k, c in zip(keys, code)) for code in codes]
    for name, code in zip(names, codes):
        cell_runs, cell_values = groups.get(code, ([], []))
        out.arms[name] = Arm(list(cell_values), cell_runs)
    counts = [out.arms[name].have for name in names]
    out.fewest = fewest("Welch t", len(codes))
    out.shown.update(n=sum(counts), other_levels=len(values) - sum(counts), cells=len(codes), fewest=out.fewest,
                     replicates=(min(counts), max(counts)), cells_short=sum(n < out.fewest for n in counts))
    weights = stats.factorial_weights(len(keys), [keys.index(key) for key in chosen])
    out.comparisons.append(Comparison(prefix + "effect", tuple(names), tuple(weights), None, out.bounds, over="cells"))


# ----- the statistic -----

def statistic(claim: dict, runs: list, baseline: list):
    """The claim's statistic from the design of its runs (`group`; a for_each claim's level is one group:
    verdicts.each_level): an Estimate, a list of `Part`s (a trend, a critical point), or None when it lacks
    replicates for its method; and what the row shows of the runs behind it: `n` (and `baseline_n`) runs with the
    metric, `missing` runs without it, `fewest` replicates its method needs per arm, `subsets` where replicates are
    subset means, and the `sizes`, `levels` or `cells`."""
    found = group(claim, runs, baseline)
    if found.lacks:
        return None, found.shown
    estimates = [estimate(found, comparison) for comparison in found.comparisons]
    if claim["statistic"] in SEVERAL:
        return [Part(c.label, e, c.region, c.n) for c, e in zip(found.comparisons, estimates)] or None, found.shown
    return estimates[0], found.shown


def estimate(found: Design, comparison: Comparison) -> stats.Estimate | None:
    """A comparison's estimate from its arms' replicates; None where an arm has fewer than the method needs."""
    arms = [found.arms[name].values for name in comparison.arms]
    if min(map(len, arms)) < found.fewest:
        return None
    if comparison.mean:
        out = stats.mean(arms[0], comparison.bounds)
    else:
        out = stats.contrast(arms, comparison.weights, comparison.bounds)
    return dataclasses.replace(out, method=f"{out.method} over {comparison.over}") if comparison.over else out


def contrast_words(factors: dict, chosen: list) -> str:
    """An effect in words, high level minus low, e.g. "training.optimizer.name × data.preprocess (adam − sgd) ×
    (vgg16 − unit)"."""
    levels = " × ".join(f"({factors[key][1]} − {factors[key][0]})" for key in chosen)
    return f"{' × '.join(chosen)} {levels}"
