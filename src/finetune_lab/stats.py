"""Numbers over replicate runs (seeds): means and differences with their intervals, the study's "critical point",
a trend over ordered levels, the effects of a 2^k factorial design, and Holm's correction for many claims.

Every interval is an `Estimate`: the statistic, its 95% interval, and the sampling distribution behind the
interval (a t distribution, or the bootstrap's resampled statistics), from which `share_below` / `share_above`
read the tail beyond a boundary; twice that tail is below 0.05 exactly when the interval clears the boundary.
Bootstrap intervals are percentile intervals read off the resampled statistics as order statistics: the k-th
smallest and the k-th largest of N, k = ceil(0.025 N) (`percentile_interval`).

NumPy and SciPy only, so that the report can use it without TensorFlow.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
from scipy import stats as sps

ALPHA = 0.05          # 1 - the confidence level; a p-value below it is an interval clear of the boundary
LEVEL = 0.95          # every interval's confidence level
RESAMPLES = 10_000    # bootstrap resamples of the mean, the difference and the trend
SEED = 0              # bootstrap seed: a rerun on the same runs gives the same interval


@dataclass(frozen=True)
class Estimate:
    """A statistic, its interval, and the sampling distribution behind the interval: a t distribution
    (`se`, `df`) or the bootstrap's resampled statistics (`draws`)."""

    value: float
    ci_lo: float
    ci_hi: float
    method: str                       # in words, e.g. "Welch t", "percentile bootstrap, 10,000 resamples"
    se: float = math.nan
    df: float = math.nan
    draws: np.ndarray | None = None

    def share_below(self, x: float, inclusive: bool) -> float:
        """The share of the sampling distribution below x (at or below it when `inclusive`)."""
        if self.draws is not None:
            return float(np.mean(self.draws <= x if inclusive else self.draws < x))
        if self.se == 0:
            return float(self.value <= x if inclusive else self.value < x)
        return float(sps.t.cdf((x - self.value) / self.se, self.df))

    def share_above(self, x: float, inclusive: bool) -> float:
        """The share of the sampling distribution above x (at or above it when `inclusive`)."""
        if self.draws is not None:
            return float(np.mean(self.draws >= x if inclusive else self.draws > x))
        if self.se == 0:
            return float(self.value >= x if inclusive else self.value > x)
        return float(sps.t.sf((x - self.value) / self.se, self.df))


def t_estimate(value: float, se: float, df: float, method: str, level: float = LEVEL) -> Estimate:
    """value ± t(level, df) x se."""
    half = float(sps.t.ppf(0.5 + level / 2, df)) * se if se > 0 else 0.0
    return Estimate(value, value - half, value + half, method, se=se, df=df)


def mean_ci(values: Sequence[float], level: float = LEVEL) -> dict:
    """Mean, sample sd and the t-interval of the mean over replicates (a single value has no interval)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("no values")
    mean = float(x.mean())
    if x.size == 1:
        return {"n": 1, "mean": mean, "sd": math.nan, "ci_lo": math.nan, "ci_hi": math.nan}
    sd = float(x.std(ddof=1))
    est = t_estimate(mean, sd / math.sqrt(x.size), x.size - 1, "t", level)
    return {"n": int(x.size), "mean": mean, "sd": sd, "ci_lo": est.ci_lo, "ci_hi": est.ci_hi}


def mean(values: Sequence[float], method: str = "t", level: float = LEVEL) -> Estimate:
    """The mean over replicates: t-interval (`t`) or percentile bootstrap of the mean (`bootstrap`)."""
    x = _replicates(values, "a mean")
    if method == "bootstrap":
        return bootstrap((x,), _means, float(x.mean()), level)
    return t_estimate(float(x.mean()), float(x.std(ddof=1)) / math.sqrt(x.size), x.size - 1, "t", level)


def difference(a: Sequence[float], b: Sequence[float], method: str = "t", level: float = LEVEL) -> Estimate:
    """mean(a) - mean(b): Welch's t-interval (unequal variances; `t`), or a percentile bootstrap that resamples
    each setting's replicates on its own (`bootstrap`)."""
    x, y = _replicates(a, "a difference"), _replicates(b, "a difference")
    diff = float(x.mean() - y.mean())
    if method == "bootstrap":
        return bootstrap((x, y), lambda p, q, axis: _means(p, axis) - _means(q, axis), diff, level)
    va, vb = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (x.size - 1) + vb ** 2 / (y.size - 1)) if se > 0 else math.inf
    return t_estimate(diff, se, df, "Welch t", level)


def difference_ci(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> dict:
    """`difference`'s Welch interval as a dict: difference, ci_lo, ci_hi, df."""
    d = difference(a, b, "t", level)
    return {"difference": d.value, "ci_lo": d.ci_lo, "ci_hi": d.ci_hi, "df": d.df}


def trend(by_level: Sequence[Sequence[float]], level: float = LEVEL) -> Estimate:
    """Somers' D of the value on the level, over the runs (`by_level`: the replicates at each level, in the claimed
    order): of all pairs of runs at different levels, the share in which the run at the later level has the larger
    value, minus the share in which it has the smaller (ties count as neither); +1 when every run beats every run
    of every earlier level. Stratified percentile bootstrap interval: runs resampled within each level.

    Why not Spearman's rho: with many runs per level the levels are ties, which cap rho below 1 (0.95 for three
    levels of three runs), and a resample's copies of one run add ties that raise it, so its bootstrap interval can
    miss its own estimate; D counts only pairs across levels, so a resample's mean D is the estimate."""
    groups = [_replicates(v, "a trend, per level,") for v in by_level]
    if len(groups) < 2:
        raise ValueError("a trend needs two levels at least")
    return bootstrap(groups, _somers_d, float(_somers_d(*groups)), level,
                     "stratified percentile bootstrap (runs within levels)")


def _somers_d(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
    """Somers' D of value on level over the samples (one per level, in order); vectorized over leading axes."""
    ys = [np.moveaxis(np.asarray(s, dtype=float), axis, -1) for s in samples]
    signs, pairs = 0.0, 0
    for i, earlier in enumerate(ys):
        for later in ys[i + 1:]:
            signs = signs + np.sign(later[..., None, :] - earlier[..., :, None]).sum(axis=(-2, -1))
            pairs += earlier.shape[-1] * later.shape[-1]
    return signs / pairs


def factorial_effect(cells: Mapping[tuple[int, ...], Sequence[float]], effect: Sequence[int], method: str = "t",
                     level: float = LEVEL) -> Estimate:
    """An effect of a 2^k factorial design: `cells` maps each cell, a tuple of k level codes (0 = a factor's low
    level, 1 = its high one), to its runs' values; `effect` names the factors (their positions) of a main effect
    (one) or an interaction (several). The effect is the contrast of the cell means with weight
    prod(+-1 codes of the effect's factors) / 2^(k-1) per cell: for a main effect, the mean over the cells at the
    factor's high level minus the mean over those at its low level; for an interaction, the usual product contrast
    (half the difference between the effect of one factor at the other's high and low level, for two). Every cell
    counts the same, whatever its number of runs; interval as `contrast`."""
    k = len(next(iter(cells)))
    codes = list(itertools.product((0, 1), repeat=k))
    if sorted(cells) != codes or not effect or not set(effect) <= set(range(k)):
        raise ValueError(f"a 2^{k} design needs all {2 ** k} cells and an effect of its factors (0..{k - 1})")
    weights = [math.prod(2 * code[i] - 1 for i in effect) / 2 ** (k - 1) for code in codes]
    return contrast([cells[code] for code in codes], weights, method, level)


def contrast(cells: Sequence[Sequence[float]], weights: Sequence[float], method: str = "t",
             level: float = LEVEL) -> Estimate:
    """sum_j w_j x mean(cell j), a linear contrast of cell means (each cell's mean weighted by w_j, never by its
    number of runs): its t-interval from the pooled within-cell variance s^2 (se = s sqrt(sum w_j^2 / n_j),
    df = runs - cells; `t`), or a stratified percentile bootstrap that resamples runs within each cell
    (`bootstrap`)."""
    groups = [_replicates(values, "an effect, per cell,") for values in cells]
    w = np.asarray(weights, dtype=float)

    def statistic(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
        return sum(wj * _means(x, axis) for wj, x in zip(w, samples))

    value = float(statistic(*groups))
    if method == "bootstrap":
        return bootstrap(groups, statistic, value, level, "stratified percentile bootstrap (runs within cells)")
    df = sum(g.size for g in groups) - len(groups)
    pooled = sum(float(((g - g.mean()) ** 2).sum()) for g in groups) / df
    se = math.sqrt(pooled * sum(wj ** 2 / g.size for wj, g in zip(w, groups)))
    return t_estimate(value, se, df, "t (pooled within-cell variance)", level)


def bootstrap(samples: Sequence[np.ndarray], statistic: Callable, value: float, level: float = LEVEL,
              kind: str = "percentile bootstrap", resamples: int = RESAMPLES, seed: int = SEED) -> Estimate:
    """`statistic` (vectorized, with an `axis` argument) resampled by scipy.stats.bootstrap, each sample on its
    own; the interval is `percentile_interval` of the resampled statistics."""
    res = sps.bootstrap(tuple(samples), statistic, n_resamples=resamples, vectorized=True, method="percentile",
                        confidence_level=level, rng=np.random.default_rng(seed))
    draws = np.asarray(res.bootstrap_distribution, dtype=float)
    lo, hi = percentile_interval(draws, level)
    return Estimate(value, lo, hi, f"{kind}, {resamples:,} resamples", draws=draws)


def percentile_interval(draws: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The k-th smallest and the k-th largest of the resampled statistics, k = ceil((1 - level) / 2 x N): fewer
    than (1 - level) / 2 of them lie strictly beyond each end."""
    ordered = np.sort(np.asarray(draws).ravel())
    k = max(1, math.ceil((1 - level) / 2 * ordered.size - 1e-9))  # 0.025 x 10,000 is 250.00000000000003
    return ordered[k - 1].item(), ordered[ordered.size - k].item()


def _means(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def _replicates(values: Sequence[float], what: str) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    if x.size < 2:
        raise ValueError(f"{what} needs two replicates at least")
    return x


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values, in the order given: the i-th smallest p times (m - i + 1), made
    non-decreasing in that order and capped at 1. A hypothesis survives at family level alpha when its
    adjusted p is below alpha."""
    p = np.asarray(pvalues, dtype=float)
    order = np.argsort(p, kind="stable")
    stepped = np.minimum(1.0, np.maximum.accumulate((p.size - np.arange(p.size)) * p[order]))
    adjusted = np.empty_like(p)
    adjusted[order] = stepped
    return adjusted


def smallest_reaching(means: Mapping[int, float], fraction: float) -> int:
    """The smallest size whose mean reaches `fraction` of the largest size's mean."""
    sizes = sorted(means)
    target = fraction * means[sizes[-1]]
    return next(s for s in sizes if means[s] >= target)


def critical_point(by_size: Mapping[int, Sequence[float]], fraction: float = 0.95, resamples: int = 2000,
                   level: float = LEVEL, seed: int = SEED) -> dict:
    """The smallest training-set size whose mean accuracy reaches `fraction` of the largest size's mean,
    with a percentile bootstrap interval: replicates are resampled with replacement within each size and
    the estimate recomputed (`draws`). The interval is in sizes that were run, so its resolution is the grid's."""
    by_size = {int(s): np.asarray(v, dtype=float) for s, v in by_size.items() if len(v)}
    if len(by_size) < 2:
        raise ValueError("a critical point needs runs at two training-set sizes at least")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction={fraction}: allowed is a value in (0, 1]")
    estimate = smallest_reaching({s: float(v.mean()) for s, v in by_size.items()}, fraction)
    rng = np.random.default_rng(seed)
    draws = np.array([smallest_reaching({s: float(rng.choice(v, v.size).mean()) for s, v in by_size.items()},
                                        fraction) for _ in range(resamples)])
    lo, hi = percentile_interval(draws, level)
    largest = max(by_size)
    return {"size": estimate, "ci_lo": int(lo), "ci_hi": int(hi), "fraction": fraction,
            "target_accuracy": fraction * float(by_size[largest].mean()), "largest_size": largest,
            "resamples": resamples, "replicates": {s: int(v.size) for s, v in sorted(by_size.items())},
            "draws": draws}
