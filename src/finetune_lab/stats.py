"""Numbers over replicate runs (seeds): the spread of a mean, and the study's "critical point".

NumPy and SciPy only, so that the report can use it without TensorFlow.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
from scipy import stats as sps


def mean_ci(values: Sequence[float], level: float = 0.95) -> dict:
    """Mean, sample sd and the t-interval of the mean over replicates (a single value has no interval)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("no values")
    mean = float(x.mean())
    if x.size == 1:
        return {"n": 1, "mean": mean, "sd": math.nan, "ci_lo": math.nan, "ci_hi": math.nan}
    sd = float(x.std(ddof=1))
    half = float(sps.t.ppf(0.5 + level / 2, x.size - 1)) * sd / math.sqrt(x.size)
    return {"n": int(x.size), "mean": mean, "sd": sd, "ci_lo": mean - half, "ci_hi": mean + half}


def smallest_reaching(means: Mapping[int, float], fraction: float) -> int:
    """The smallest size whose mean reaches `fraction` of the largest size's mean."""
    sizes = sorted(means)
    target = fraction * means[sizes[-1]]
    return next(s for s in sizes if means[s] >= target)


def critical_point(by_size: Mapping[int, Sequence[float]], fraction: float = 0.95, resamples: int = 2000,
                   level: float = 0.95, seed: int = 0) -> dict:
    """The smallest training-set size whose mean accuracy reaches `fraction` of the largest size's mean,
    with a percentile bootstrap interval: replicates are resampled with replacement within each size and
    the estimate recomputed. The interval is in sizes that were run, so its resolution is the grid's."""
    by_size = {int(s): np.asarray(v, dtype=float) for s, v in by_size.items() if len(v)}
    if len(by_size) < 2:
        raise ValueError("a critical point needs runs at two training-set sizes at least")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction={fraction}: allowed is a value in (0, 1]")
    estimate = smallest_reaching({s: float(v.mean()) for s, v in by_size.items()}, fraction)
    rng = np.random.default_rng(seed)
    draws = np.array([smallest_reaching({s: float(rng.choice(v, v.size).mean()) for s, v in by_size.items()},
                                        fraction) for _ in range(resamples)])
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], method="inverted_cdf")
    largest = max(by_size)
    return {"size": estimate, "ci_lo": int(lo), "ci_hi": int(hi), "fraction": fraction,
            "target_accuracy": fraction * float(by_size[largest].mean()), "largest_size": largest,
            "resamples": resamples, "replicates": {s: int(v.size) for s, v in sorted(by_size.items())}}


def difference_ci(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> dict:
    """mean(a) - mean(b) with Welch's t-interval (unequal variances), for comparing two settings over seeds."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.size < 2 or y.size < 2:
        raise ValueError("a difference interval needs two replicates per setting at least")
    va, vb = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    diff, se = float(x.mean() - y.mean()), math.sqrt(va + vb)
    if se == 0:
        return {"difference": diff, "ci_lo": diff, "ci_hi": diff, "df": math.inf}
    df = (va + vb) ** 2 / (va ** 2 / (x.size - 1) + vb ** 2 / (y.size - 1))
    half = float(sps.t.ppf(0.5 + level / 2, df)) * se
    return {"difference": diff, "ci_lo": diff - half, "ci_hi": diff + half, "df": float(df)}
