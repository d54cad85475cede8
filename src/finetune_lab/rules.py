"""A claim's rule is the region it claims for a statistic S; one decision turns S's 95% interval into a verdict.

Rules (YAML), and the region each claims:
  {above: t, margin: m}   S > t + m        m, the smallest effect that counts, defaults to 0
  {below: t, margin: m}   S < t - m
  {no_worse: m}           Δ > -m           difference, effect or trend: the runs are at most m worse than the
                                           baseline (the high level than the low one)
  {equivalent: m}         -m < Δ < m       difference, effect or trend: within m either way (an effect that
                                           does not matter)
  {within: [a, b]}        a <= S <= b

On the interval [lo, hi]: confirmed when it lies wholly inside the region, refuted when it lies wholly outside,
inconclusive otherwise. Boundaries: a `>` or `<` boundary belongs to neither side, so an interval end exactly
on it leaves the claim inconclusive; a `within` range holds its ends (a critical point is a size of the grid,
and 120-168 means those sizes too), so an interval end on a or b is inside it.

The p-value of a verdict is twice the tail of the statistic's sampling distribution beyond the boundary the
interval cleared (for two boundaries, the larger tail to confirm, the smaller to refute; for equivalence this
is TOST): it is below 0.05 exactly when the 95% interval clears them, so that Holm's correction can be applied
to the verdicts. (One tie is left: a t-interval end exactly on a `within` bound is inside, and its p is 0.05.)

A claim decided from several comparisons at once (each level of a key with `for_each`, each step of a trend, the
two sides of a critical point's range) holds only where every comparison holds (intersection-union, `combine`):
confirmed when every comparison is confirmed, with the largest of their p; refuted when the smallest refuting p
times the number of comparisons is below 0.05 (Bonferroni: any one of them could have refuted it, so a comparison
refuted at its own 95% alone is not enough); inconclusive otherwise, with the smaller of those two p.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real

from .stats import ALPHA, Estimate

FRAGILE = 0.005   # a decided verdict whose interval ends this close to a boundary it cleared is marked fragile
KINDS = ("above", "below", "no_worse", "equivalent", "within")
COMPARISON_ONLY = ("no_worse", "equivalent")   # rules about a change from one setting to another
COMPARISONS = ("difference", "effect", "trend")  # the statistics that are such a change (a trend: its steps)


@dataclass(frozen=True)
class Region:
    """lo < S < hi, or lo <= S <= hi when `closed`; an end may be infinite."""

    lo: float
    hi: float
    closed: bool = False


def region(rule, statistic: str) -> Region:
    """The region `rule` claims for `statistic`; ValueError naming the key and what is allowed."""
    allowed = KINDS if statistic in COMPARISONS else tuple(k for k in KINDS if k not in COMPARISON_ONLY)
    kinds = [k for k in KINDS if isinstance(rule, dict) and k in rule]
    if len(kinds) != 1:
        raise ValueError(f"rule={rule!r} is not allowed: one of {' / '.join(allowed)} "
                         f"(above / below may add a margin) for statistic={statistic}")
    kind, = kinds
    if kind not in allowed:
        raise ValueError(f"rule {kind} compares two settings: statistic={' or '.join(COMPARISONS)} only, "
                         f"and this claim has statistic={statistic} (allowed: {' / '.join(allowed)})")
    extra = set(rule) - {kind} - ({"margin"} if kind in ("above", "below") else set())
    if extra:
        raise ValueError(f"rule key {sorted(extra)[0]!r} is not allowed with {kind}: "
                         f"{'margin' if kind in ('above', 'below') else 'no other key'}")
    if kind == "within":
        bounds = rule["within"]
        if not (isinstance(bounds, list) and len(bounds) == 2 and all(map(_is_number, bounds))
                and bounds[0] <= bounds[1]):
            raise ValueError(f"rule within={bounds!r} is not allowed: [a, b], two numbers with a <= b")
        return Region(float(bounds[0]), float(bounds[1]), closed=True)
    if kind in ("above", "below"):
        t, m = _number(rule, kind), _number(rule, "margin", default=0.0, least=0.0)
        # rounded: 0.15 - 0.05 is 0.09999999999999999 in binary, and the claim means 0.1
        return Region(round(t + m, 12), math.inf) if kind == "above" else Region(-math.inf, round(t - m, 12))
    m = _number(rule, kind, least=0.0, positive=kind == "equivalent")
    return Region(-m, math.inf) if kind == "no_worse" else Region(-m, m)


def _is_number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def _number(rule: dict, key: str, default: float | None = None, least: float | None = None,
            positive: bool = False) -> float:
    value = rule.get(key, default)
    if not _is_number(value) or (least is not None and value < least) or (positive and value <= 0):
        wanted = "a number > 0" if positive else "a number >= 0" if least is not None else "a number"
        raise ValueError(f"rule {key}={value!r} is not allowed: {wanted}")
    return float(value)


def decide(lo: float, hi: float, claimed: Region) -> str:
    """confirmed / refuted / inconclusive for the interval [lo, hi] (see the module's doc)."""
    if claimed.closed:
        inside = claimed.lo <= lo and hi <= claimed.hi
    else:
        inside = claimed.lo < lo and hi < claimed.hi
    if inside:
        return "confirmed"
    return "refuted" if hi < claimed.lo or lo > claimed.hi else "inconclusive"


def p_value(verdict: str, claimed: Region, estimate: Estimate) -> float:
    """Twice the tail beyond the boundary the verdict rests on; for an inconclusive claim, the smaller of the
    confirming and the refuting p (both 0.05 or more)."""
    if verdict == "inconclusive":
        return min(p_value("confirmed", claimed, estimate), p_value("refuted", claimed, estimate))
    if verdict == "confirmed":
        strict = claimed.closed  # a closed region's boundary is inside it: only what lies beyond counts against
        tail = max(estimate.share_below(claimed.lo, inclusive=not strict),
                   estimate.share_above(claimed.hi, inclusive=not strict))
    else:
        tail = min(estimate.share_above(claimed.lo, inclusive=True), estimate.share_below(claimed.hi, inclusive=True))
    return min(1.0, 2 * tail)


def combine(parts: list[tuple[Region, Estimate]]) -> tuple[str, float]:
    """(verdict, p) of a claim decided from several comparisons, each an estimate and the region it must lie in
    (see the module's doc)."""
    confirming = max(p_value("confirmed", claimed, e) for claimed, e in parts)
    refuting = min(1.0, len(parts) * min(p_value("refuted", claimed, e) for claimed, e in parts))
    if all(decide(e.ci_lo, e.ci_hi, claimed) == "confirmed" for claimed, e in parts):
        return "confirmed", confirming
    if refuting < ALPHA:
        return "refuted", refuting
    return "inconclusive", min(confirming, refuting)


def describe(claimed: Region, symbol: str, signed: bool) -> str:
    """The region in words, e.g. "Δ > +0.02", "|Δ| < 0.02", "120 ≤ size ≤ 168"."""
    def num(x: float, sign: bool = signed) -> str:
        return (f"{x:+g}" if sign and x != 0 else f"{x:g}").replace("-", "−")

    if claimed.closed:
        return f"{num(claimed.lo)} ≤ {symbol} ≤ {num(claimed.hi)}"
    if claimed.hi == math.inf:
        return f"{symbol} > {num(claimed.lo)}"
    if claimed.lo == -math.inf:
        return f"{symbol} < {num(claimed.hi)}"
    if claimed.lo == -claimed.hi:
        return f"|{symbol}| < {num(claimed.hi, sign=False)}"
    return f"{num(claimed.lo)} < {symbol} < {num(claimed.hi)}"
