"""Numbers over replicate runs (seeds): means, differences and factorial effects with their intervals, the steps
of a trend, the study's "critical point" (the smallest size reaching a share of the largest's mean), and Holm's
correction for many claims.

Every interval of a verdict is a contrast of arm means, sum_j w_j x mean(arm j), with Welch's t-interval: each
arm's own variance, Satterthwaite's degrees of freedom (`contrast`). A mean is the contrast of one arm, a
difference of two (w = +1, -1), a factorial effect of 2^k cells. The mean of a metric with a known range (an
accuracy in [0, 1]) is estimated on the logit scale instead (`bounded_mean`): its interval stays inside the range
and, unlike the plain t-interval, still covers where the runs sit near a bound and skew away from it. Each method
is used only at the runs per arm where finetune_lab.coverage's simulation shows that it covers (`FEWEST`;
tests/test_coverage.py), so a claim with fewer runs is not decided, and a description of runs (the report's tables
and figures) shows no interval for fewer (`covered_mean`).

The interval functions take arrays with the replicates on the last axis and any leading axes, so that the
coverage simulation runs thousands of samples through the same code a verdict uses; `contrast` and
`bounded_mean` wrap them for one sample and return an `Estimate`: the statistic, its interval and the sampling
distribution behind it, from which `share_below` / `share_above` read the tail beyond a boundary (twice that tail
is below 0.05 exactly when the interval clears the boundary).

NumPy and SciPy only, so that the report can use it without TensorFlow.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
from scipy import optimize, special
from scipy import stats as sps

ALPHA = 0.05          # 1 - the confidence level; a p-value below it is an interval clear of the boundary
LEVEL = 0.95          # every interval's confidence level
# A value exactly at a bound of its range has no logit: it is moved this share of the range inside (a thousandth
# of an accuracy, one digit in 1,000).
EDGE = 1e-3
# The fewest runs per arm at which each interval method covers in every scenario of finetune_lab.coverage, for
# designs of one or two arms; a factorial design of 8 cells or more averages over its cells and needs two runs
# a cell (tests/test_coverage.py shows both; docs/statistics.md has the table). At 5 a side, seeds that collapse
# half the time leave a one-sided miss of 0.033-0.036 against the limit of 0.035 (400,000 samples): too close
# to call, so 5 is not used.
FEWEST = {"t": 6, "logit t": 6, "Welch t": 6}
FEWEST_PER_CELL = 2
MANY_CELLS = 8
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(48)   # E f(Z), Z ~ N(0, 1), by Gauss-Hermite quadrature
_WEIGHTS = _WEIGHTS / math.sqrt(2 * math.pi)


def fewest_runs(method: str, cells: int = 1) -> int:
    """The fewest runs per arm (cell) at which `method` is used for a design of `cells` arms."""
    return FEWEST_PER_CELL if cells >= MANY_CELLS else FEWEST[method]


@dataclass(frozen=True)
class Estimate:
    """A statistic, its interval, and the sampling distribution behind the interval: a t distribution with centre
    `centre`, standard error `se` and `df` degrees of freedom on a working scale: the statistic's own, or the
    logit scale of a bounded mean (`to_working` maps a value of the statistic onto it)."""

    value: float
    ci_lo: float
    ci_hi: float
    method: str                       # in words, e.g. "Welch t", "logit t"
    se: float = math.nan
    df: float = math.nan
    centre: float = math.nan          # the t distribution's centre on the working scale (nan: `value`)
    to_working: Callable[[float], float] | None = None

    def _pivot(self, x: float) -> tuple[float, float]:
        """(x, the centre), on the working scale; a point (se 0) is compared on the statistic's own scale."""
        if self.se == 0 or math.isnan(self.centre):
            return x, self.value
        return (self.to_working(x) if self.to_working else x), self.centre

    def share_below(self, x: float, inclusive: bool) -> float:
        """The share of the sampling distribution below x (at or below it when `inclusive`)."""
        w, centre = self._pivot(x)
        if self.se == 0 or not math.isfinite(w):   # a point, or x beyond the statistic's range
            return float(centre <= w if inclusive else centre < w)
        return float(sps.t.cdf((w - centre) / self.se, self.df))

    def share_above(self, x: float, inclusive: bool) -> float:
        """The share of the sampling distribution above x (at or above it when `inclusive`)."""
        w, centre = self._pivot(x)
        if self.se == 0 or not math.isfinite(w):
            return float(centre >= w if inclusive else centre > w)
        return float(sps.t.sf((w - centre) / self.se, self.df))


# ----- intervals on arrays (replicates on the last axis) -----

def welch_interval(arms: Sequence[np.ndarray], weights: Sequence[float], level: float = LEVEL):
    """(value, lo, hi, se, df) of sum_j w_j mean(arm j), each arm of shape (..., n_j): Welch's t-interval, each arm's
    own variance and Satterthwaite's degrees of freedom (n - 1 for one arm). SciPy's ttest_ind(equal_var=False)
    gives it for a difference of two arms only (equal to it there: tests/test_stats.py)."""
    value = sum(w * _mean(x) for w, x in zip(weights, arms))
    parts = [w ** 2 * _variance(x) / x.shape[-1] for w, x in zip(weights, arms)]
    var = sum(parts)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = var ** 2 / sum(p ** 2 / (x.shape[-1] - 1) for p, x in zip(parts, arms))
    df = np.where(var > 0, df, np.inf)
    se = np.sqrt(var)
    half = sps.t.ppf(0.5 + level / 2, df) * se
    return value, value - half, value + half, se, df


def _mean(x: np.ndarray) -> np.ndarray:
    """The mean over the last axis; exactly the value where every value is the same (no rounding residue)."""
    return np.where(np.ptp(x, axis=-1) == 0, x[..., 0], np.mean(x, axis=-1))


def _variance(x: np.ndarray) -> np.ndarray:
    """The sample variance over the last axis; exactly 0 where every value is the same (not a rounding residue)."""
    return np.where(np.ptp(x, axis=-1) == 0, 0.0, np.var(x, axis=-1, ddof=1))


def logit_normal_mean(centre, spread):
    """E[expit(centre + spread x Z)], Z ~ N(0, 1): the mean of a logit-normal variable, on the unit interval."""
    centre, spread = np.asarray(centre, dtype=float), np.asarray(spread, dtype=float)
    z = centre[..., None] + spread[..., None] * _NODES
    return (special.expit(z) * _WEIGHTS).sum(axis=-1)


def bounded_interval(x: np.ndarray, bounds: tuple[float, float], level: float = LEVEL):
    """(lo, hi, centre, se, spread) of the mean of values in `bounds`, on the logit scale: the values mapped onto
    (0, 1) (an end moved EDGE inside), their logits' t-interval, each end the mean of a logit-normal with the
    logits' spread, mapped back. Inside the range by construction."""
    a, b = bounds
    u = np.clip((np.asarray(x, dtype=float) - a) / (b - a), EDGE, 1 - EDGE)
    z = special.logit(u)
    n = z.shape[-1]
    centre, spread = z.mean(axis=-1), np.sqrt(_variance(z))
    se = spread / math.sqrt(n)
    half = sps.t.ppf(0.5 + level / 2, n - 1) * se
    lo, hi = (a + (b - a) * logit_normal_mean(centre + s * half, spread) for s in (-1, 1))
    return lo, hi, centre, se, spread


# ----- one sample -> Estimate -----

def contrast(arms: Sequence[Sequence[float]], weights: Sequence[float], bounds: tuple[float, float] | None = None,
             level: float = LEVEL) -> Estimate:
    """sum_j w_j x mean(arm j) with Welch's t-interval (`welch_interval`); `bounds`, the range of the runs' metric,
    clips the interval to the values the contrast can take."""
    groups = [_replicates(values, "an interval, per arm,") for values in arms]
    value, lo, hi, se, df = (float(v) for v in welch_interval(groups, weights, level))
    if bounds is not None:
        a, b = bounds
        lo = max(lo, sum(min(w * a, w * b) for w in weights))
        hi = min(hi, sum(max(w * a, w * b) for w in weights))
    method = "t" if len(groups) == 1 else "Welch t"
    return Estimate(value, lo, hi, method, se=se, df=df)


def mean(values: Sequence[float], bounds: tuple[float, float] | None = None, level: float = LEVEL) -> Estimate:
    """The mean over replicates: `bounded_mean` for a metric with a range, else the t-interval."""
    return bounded_mean(values, bounds, level) if bounds is not None else contrast([values], [1.0], level=level)


def covered_mean(values: Sequence[float], bounds: tuple[float, float] | None = None,
                 level: float = LEVEL) -> Estimate | None:
    """`mean` where there are at least the fewest replicates its method covers at (`fewest_runs`: "logit t" for a
    metric with a range, else "t"; `mean_method`); None with fewer, where no interval of the mean is known to cover."""
    return mean(values, bounds, level) if len(values) >= fewest_runs(mean_method(bounds)) else None


def mean_method(bounds: tuple[float, float] | None) -> str:
    """The interval method `mean` uses (a key of FEWEST): "logit t" for a metric with a range, else "t"."""
    return "logit t" if bounds is not None else "t"


def bounded_mean(values: Sequence[float], bounds: tuple[float, float], level: float = LEVEL) -> Estimate:
    """The mean of values in `bounds` with `bounded_interval`'s interval; its p-values are read on the logit scale."""
    x = _replicates(values, "a mean")
    lo, hi, centre, se, spread = (float(v) for v in bounded_interval(x, bounds, level))
    a, b = bounds

    def to_working(v: float) -> float:
        """The logit-scale centre whose logit-normal mean (with the runs' spread) is v."""
        u = (v - a) / (b - a)
        if u <= 0 or u >= 1:
            return -math.inf if u <= 0 else math.inf
        if spread == 0:
            return float(special.logit(u))
        return optimize.brentq(lambda c: float(logit_normal_mean(c, spread)) - u, -60.0, 60.0, xtol=1e-12)

    if spread == 0:
        lo = hi = float(_mean(x))
    return Estimate(float(_mean(x)), lo, hi, "logit t", se=se, df=x.size - 1, centre=centre, to_working=to_working)


def difference(a: Sequence[float], b: Sequence[float], bounds: tuple[float, float] | None = None,
               level: float = LEVEL) -> Estimate:
    """mean(a) - mean(b), Welch's t-interval (`contrast`)."""
    return contrast([a, b], [1.0, -1.0], bounds, level)


def factorial_weights(k: int, effect: Sequence[int]) -> list[float]:
    """The weights over the 2^k cells (in itertools.product((0, 1), repeat=k) order) of an effect of the factors
    `effect`, on the scale the claims are read on: for one factor, the mean over the cells at its high level minus
    the mean over those at its low level; for two, the difference of one factor's effect at the other's high and
    low level (twice the coded-regression coefficient's contrast); in general prod(+-1 codes) / 2^(k - m) for an
    effect of m factors."""
    if not effect or not set(effect) <= set(range(k)) or len(set(effect)) != len(effect):
        raise ValueError(f"a 2^{k} design needs an effect of its factors (0..{k - 1})")
    codes = _codes(k)
    return [math.prod(2 * code[i] - 1 for i in effect) / 2 ** (k - len(effect)) for code in codes]


def factorial_effect(cells: Mapping[tuple[int, ...], Sequence[float]], effect: Sequence[int],
                     bounds: tuple[float, float] | None = None, level: float = LEVEL) -> Estimate:
    """An effect of a 2^k factorial design (`factorial_weights`): `cells` maps each cell, a tuple of k level codes
    (0 low, 1 high), to its runs' values; every cell counts the same, whatever its number of runs."""
    k = len(next(iter(cells)))
    if sorted(cells) != _codes(k):
        raise ValueError(f"a 2^{k} design needs all {2 ** k} cells")
    return contrast([cells[code] for code in _codes(k)], factorial_weights(k, effect), bounds, level)


def _codes(k: int) -> list[tuple[int, ...]]:
    return [tuple(int(c) for c in format(i, f"0{k}b")) for i in range(2 ** k)] if k else [()]


def _replicates(values: Sequence[float], what: str) -> np.ndarray:
    x = np.sort(np.asarray(values, dtype=float))   # sorted: nothing depends on the order runs were listed in
    if x.size < 2:
        raise ValueError(f"{what} needs two replicates at least")
    return x


def mean_ci(values: Sequence[float], level: float = LEVEL) -> dict:
    """Mean, sample sd and the t-interval of the mean over replicates (a single value has no interval)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("no values")
    if x.size == 1:
        return {"n": 1, "mean": float(x[0]), "sd": math.nan, "ci_lo": math.nan, "ci_hi": math.nan}
    est = contrast([x], [1.0], level=level)
    return {"n": int(x.size), "mean": est.value, "sd": float(x.std(ddof=1)), "ci_lo": est.ci_lo, "ci_hi": est.ci_hi}


def difference_ci(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> dict:
    """`difference`'s Welch interval as a dict: difference, ci_lo, ci_hi, df."""
    d = difference(a, b, level=level)
    return {"difference": d.value, "ci_lo": d.ci_lo, "ci_hi": d.ci_hi, "df": d.df}


# ----- many claims -----

def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values, in the order given: the i-th smallest p times (m - i + 1), made
    non-decreasing in that order and capped at 1. A hypothesis survives at family level alpha when its
    adjusted p is below alpha. (SciPy has no Holm: its false_discovery_control is Benjamini-Hochberg's.)"""
    p = np.asarray(pvalues, dtype=float)
    order = np.argsort(p, kind="stable")
    stepped = np.minimum(1.0, np.maximum.accumulate((p.size - np.arange(p.size)) * p[order]))
    adjusted = np.empty_like(p)
    adjusted[order] = stepped
    return adjusted


# ----- the critical point -----

def smallest_reaching(means: Mapping[int, float], fraction: float) -> int:
    """The smallest size whose mean reaches `fraction` of the largest size's mean."""
    sizes = sorted(means)
    target = fraction * means[sizes[-1]]
    return next(s for s in sizes if means[s] >= target)
