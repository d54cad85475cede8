"""finetune_lab.stats: t / Welch intervals of contrasts of arm means, the logit-scale mean of a bounded metric,
factorial effects, Holm's correction, a mean's interval only where its method covers, and the critical point."""
import dataclasses
import math
from itertools import combinations, product

import numpy as np
import pytest
from scipy import integrate, special
from scipy import stats as sps

from finetune_lab import stats

UNIT = (0.0, 1.0)


def _core(est: stats.Estimate) -> stats.Estimate:
    """The estimate without its to_working closure (a new function object every call, so never ==)."""
    return dataclasses.replace(est, to_working=None)


# ----- mean_ci, the plain t-interval -----

def test_mean_ci_is_the_t_interval_of_the_mean():
    out = stats.mean_ci([0.90, 0.92, 0.94])
    assert out["n"] == 3 and out["mean"] == pytest.approx(0.92) and out["sd"] == pytest.approx(0.02)
    half = 4.302653 * 0.02 / math.sqrt(3)  # t(0.975, df=2)
    assert (out["ci_lo"], out["ci_hi"]) == (pytest.approx(0.92 - half), pytest.approx(0.92 + half))


def test_one_value_has_no_spread_and_no_value_is_refused():
    out = stats.mean_ci([0.5])
    assert out["n"] == 1 and out["mean"] == 0.5 and math.isnan(out["sd"])
    assert math.isnan(out["ci_lo"]) and math.isnan(out["ci_hi"])
    with pytest.raises(ValueError):
        stats.mean_ci([])


def test_mean_without_bounds_is_mean_ci_and_scipys_one_sample_t():
    values = [0.90, 0.92, 0.95, 0.91]
    est, ci = stats.mean(values), stats.mean_ci(values)
    assert (est.value, est.ci_lo, est.ci_hi) == (ci["mean"], pytest.approx(ci["ci_lo"]), pytest.approx(ci["ci_hi"]))
    assert est.se == pytest.approx(ci["sd"] / 2) and est.df == 3 and est.method == "t"
    assert est.to_working is None and math.isnan(est.centre)
    reference = sps.ttest_1samp(values, 0.9).confidence_interval(0.95)
    assert (est.ci_lo, est.ci_hi) == (pytest.approx(reference.low), pytest.approx(reference.high))
    assert stats.contrast([values], [1.0]) == est  # a mean is the contrast of one arm


def test_level_sets_the_t_quantile():
    values = [1.0, 2.0, 4.0, 7.0]
    for level in (0.8, 0.95, 0.99):
        est = stats.mean(values, level=level)
        half = sps.t.ppf(0.5 + level / 2, 3) * np.std(values, ddof=1) / 2
        assert (est.ci_lo, est.ci_hi) == (pytest.approx(3.5 - half), pytest.approx(3.5 + half))


def test_all_equal_values_give_a_point_interval():
    est = stats.mean([0.7] * 4)
    assert (est.value, est.ci_lo, est.ci_hi, est.se) == (pytest.approx(0.7),) * 3 + (0.0,)
    assert est.df == math.inf
    # a point: the whole distribution sits at the value
    assert est.share_below(est.value, inclusive=True) == 1.0 and est.share_below(est.value, inclusive=False) == 0.0
    assert est.share_above(est.value, inclusive=True) == 1.0 and est.share_above(est.value, inclusive=False) == 0.0
    assert est.share_below(0.8, inclusive=False) == 1.0 and est.share_above(0.8, inclusive=False) == 0.0


# ----- Welch's t for differences and contrasts -----

def test_difference_is_welchs_interval_by_hand():
    a, b = [0.90, 0.92, 0.94], [0.50, 0.60, 0.70]
    out = stats.difference(a, b)
    va, vb = 0.02 ** 2 / 3, 0.1 ** 2 / 3
    df = (va + vb) ** 2 / (va ** 2 / 2 + vb ** 2 / 2)
    assert out.value == pytest.approx(0.32) and out.df == pytest.approx(df) and out.method == "Welch t"
    assert out.se == pytest.approx(math.sqrt(va + vb))
    half = sps.t.ppf(0.975, df) * math.sqrt(va + vb)
    assert (out.ci_lo, out.ci_hi) == (pytest.approx(0.32 - half), pytest.approx(0.32 + half))
    flipped = stats.difference(b, a)
    assert (flipped.value, flipped.ci_lo, flipped.ci_hi) == (
        pytest.approx(-0.32), pytest.approx(-out.ci_hi), pytest.approx(-out.ci_lo))
    assert stats.difference_ci(a, b) == {"difference": out.value, "ci_lo": out.ci_lo, "ci_hi": out.ci_hi,
                                         "df": out.df}


def test_difference_agrees_with_scipys_welch_test():
    rng = np.random.default_rng(11)
    a, b = rng.normal(0.8, 0.03, 7), rng.normal(0.75, 0.08, 9)
    ours = stats.difference(a, b)
    theirs = sps.ttest_ind(a, b, equal_var=False)
    ci = theirs.confidence_interval(0.95)
    assert (ours.ci_lo, ours.ci_hi) == (pytest.approx(ci.low, rel=1e-10), pytest.approx(ci.high, rel=1e-10))
    assert ours.df == pytest.approx(theirs.df)
    # the two-sided p-value against 0 is twice the smaller tail of the sampling distribution
    p = 2 * min(ours.share_below(0.0, inclusive=True), ours.share_above(0.0, inclusive=True))
    assert p == pytest.approx(theirs.pvalue, rel=1e-9)


def test_welch_interval_of_two_arms_is_scipys_welch_interval():
    """welch_interval is kept for contrasts of any weights (SciPy has none); for a difference (+1, -1) it is
    scipy.stats.ttest_ind(equal_var=False)'s interval, row by row."""
    rng = np.random.default_rng(12)
    a, b = rng.normal(0.8, 0.03, (20, 6)), rng.normal(0.75, rng.uniform(0.01, 0.2, (20, 1)), (20, 9))
    for level in (0.9, 0.95):
        value, lo, hi, se, df = stats.welch_interval([a, b], [1.0, -1.0], level)
        theirs = sps.ttest_ind(a, b, equal_var=False, axis=-1)
        ci = theirs.confidence_interval(level)
        assert np.abs(lo - ci.low).max() < 1e-12 and np.abs(hi - ci.high).max() < 1e-12
        assert np.allclose(df, theirs.df, rtol=1e-12, atol=0)


def test_contrast_with_general_weights_by_hand():
    """The critical point's comparison: mean(a) - 0.95 mean(b), each arm its own variance."""
    a, b = [0.80, 0.84, 0.82, 0.86], [0.90, 0.91, 0.93, 0.94, 0.92]
    out = stats.contrast([a, b], [1.0, -0.95])
    pa, pb = np.var(a, ddof=1) / 4, 0.95 ** 2 * np.var(b, ddof=1) / 5
    df = (pa + pb) ** 2 / (pa ** 2 / 3 + pb ** 2 / 4)
    value = np.mean(a) - 0.95 * np.mean(b)
    half = sps.t.ppf(0.975, df) * math.sqrt(pa + pb)
    assert (out.value, out.se, out.df) == (pytest.approx(value), pytest.approx(math.sqrt(pa + pb)), pytest.approx(df))
    assert (out.ci_lo, out.ci_hi) == (pytest.approx(value - half), pytest.approx(value + half))
    assert out.method == "Welch t"
    assert stats.contrast([a], [1.0]).method == "t"


def test_an_arm_without_spread_leaves_the_other_arms_degrees_of_freedom():
    out = stats.difference([0.5] * 4, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    assert out.df == pytest.approx(5) and out.se == pytest.approx(np.std([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], ddof=1)
                                                                  / math.sqrt(6))


def test_p_values_agree_with_the_interval():
    """Twice a tail is ALPHA exactly at an end of the interval, below it beyond, above it inside."""
    rng = np.random.default_rng(5)
    for est in (stats.mean(rng.normal(0.3, 0.1, 6)), stats.difference(rng.normal(0.3, 0.1, 6), rng.normal(0.2, 0.05, 8))):
        assert 2 * est.share_below(est.ci_lo, inclusive=True) == pytest.approx(stats.ALPHA, rel=1e-9)
        assert 2 * est.share_above(est.ci_hi, inclusive=True) == pytest.approx(stats.ALPHA, rel=1e-9)
        assert 2 * est.share_below(est.ci_lo - 1e-3, inclusive=True) < stats.ALPHA
        assert 2 * est.share_below(est.ci_lo + 1e-3, inclusive=True) > stats.ALPHA
        assert est.share_below(est.value, inclusive=True) == pytest.approx(0.5)


def test_contrast_is_clipped_to_its_possible_range():
    """A difference of accuracies lies in [-1, 1], a mean in [0, 1], mean(a) - 0.95 mean(b) in [-0.95, 1]."""
    a, b = [0.0, 1.0], [1.0, 0.0]  # value 0, se sqrt(2 x 0.5 / 2) = 0.71 on 2 df: the t-interval is 0 +- 3.04
    free = stats.difference(a, b)
    assert free.ci_lo == pytest.approx(-4.302653 * math.sqrt(0.5)) and free.ci_hi > 1
    clipped = stats.difference(a, b, UNIT)
    assert (clipped.ci_lo, clipped.ci_hi) == (-1.0, 1.0)
    assert (clipped.value, clipped.se, clipped.df, clipped.method) == (free.value, free.se, free.df, free.method)

    one = stats.contrast([a], [1.0], UNIT)
    assert stats.contrast([a], [1.0]).ci_lo < 0 and (one.ci_lo, one.ci_hi) == (0.0, 1.0)

    crit = stats.contrast([a, b], [1.0, -0.95], UNIT)
    assert crit.value == pytest.approx(0.025) and (crit.ci_lo, crit.ci_hi) == (pytest.approx(-0.95), 1.0)

    # only the end that leaves the range moves
    high = stats.difference([1.0, 1.0, 1.0, 0.4], [0.0, 0.1, 0.0, 0.1], UNIT)
    unclipped = stats.difference([1.0, 1.0, 1.0, 0.4], [0.0, 0.1, 0.0, 0.1])
    assert unclipped.ci_hi > 1 and high.ci_hi == 1.0 and high.ci_lo == unclipped.ci_lo

    scaled = stats.difference([0.0, 100.0], [100.0, 0.0], (0.0, 100.0))
    assert (scaled.ci_lo, scaled.ci_hi) == (-100.0, 100.0)


def test_bounds_leave_an_interval_inside_the_range_alone():
    a, b = [0.90, 0.92, 0.94], [0.50, 0.60, 0.70]
    assert stats.difference(a, b, UNIT) == stats.difference(a, b)


def test_intervals_do_not_depend_on_the_order_of_the_runs():
    rng = np.random.default_rng(8)
    a, b = list(rng.normal(0.5, 0.2, 9)), list(rng.uniform(0, 1, 7))
    ra, rb = list(rng.permutation(a)), list(rng.permutation(b))
    assert stats.difference(ra, rb) == stats.difference(a, b)  # identical, not approximately equal
    assert stats.contrast([rb, ra], [0.3, -1.7]) == stats.contrast([b, a], [0.3, -1.7])
    assert stats.mean(ra) == stats.mean(a)
    u = list(np.clip(a, 0, 1))
    ru = list(rng.permutation(u))
    first, again = stats.mean(u, UNIT), stats.mean(ru, UNIT)
    assert _core(first) == _core(again)
    assert first.to_working(0.4) == again.to_working(0.4)
    cells = {code: list(rng.normal(0.5, 0.1, 4)) for code in product((0, 1), repeat=2)}
    shuffled = {code: list(rng.permutation(v)) for code, v in reversed(cells.items())}
    assert stats.factorial_effect(shuffled, [0, 1]) == stats.factorial_effect(cells, [0, 1])


@pytest.mark.parametrize("call", [
    lambda: stats.mean([0.5]), lambda: stats.mean([0.5], UNIT), lambda: stats.bounded_mean([], UNIT),
    lambda: stats.difference([0.5], [0.1, 0.2]), lambda: stats.difference([0.1, 0.2], [0.5]),
    lambda: stats.contrast([[0.1, 0.2], [0.3]], [1.0, -1.0]), lambda: stats.difference_ci([0.1, 0.2], []),
])
def test_an_arm_with_one_replicate_is_refused(call):
    with pytest.raises(ValueError, match="two replicates"):
        call()


# ----- the array functions give the scalar API's numbers row by row -----

def test_welch_interval_on_rows_is_contrast_of_each_row():
    rng = np.random.default_rng(2)
    a, b = rng.normal(0.6, 0.1, (3, 5)), rng.normal(0.5, 0.2, (3, 8))
    for arms, weights in (([a], [1.0]), ([a, b], [1.0, -1.0]), ([a, b], [0.5, -0.25])):
        value, lo, hi, se, df = stats.welch_interval(arms, weights)
        assert value.shape == lo.shape == hi.shape == se.shape == df.shape == (3,)
        for i in range(3):
            est = stats.contrast([arm[i] for arm in arms], weights)
            assert (value[i], lo[i], hi[i], se[i], df[i]) == pytest.approx(
                (est.value, est.ci_lo, est.ci_hi, est.se, est.df), rel=1e-12)


def test_welch_interval_takes_any_leading_axes():
    rng = np.random.default_rng(3)
    a, b = rng.normal(0, 1, (2, 3, 6)), rng.normal(0, 2, (2, 3, 4))
    out = stats.welch_interval([a, b], [1.0, -1.0])
    assert all(o.shape == (2, 3) for o in out)
    rows = stats.welch_interval([a.reshape(6, 6), b.reshape(6, 4)], [1.0, -1.0])
    for o, r in zip(out, rows):
        assert o.ravel() == pytest.approx(r, rel=1e-12)
    # a row without spread: a point, infinite df, no warnings turned into errors
    flat = stats.welch_interval([np.full((1, 4), 0.5)], [1.0])
    assert (flat[1][0], flat[2][0], flat[4][0]) == (0.5, 0.5, np.inf)


def test_bounded_interval_on_rows_is_bounded_mean_of_each_row():
    rng = np.random.default_rng(4)
    x = np.clip(rng.beta(20, 2, (3, 6)), 0, 1)
    x[1, 0] = 1.0  # an end exactly at the bound
    lo, hi, centre, se, spread = stats.bounded_interval(x, UNIT)
    assert lo.shape == hi.shape == centre.shape == se.shape == spread.shape == (3,)
    for i in range(3):
        est = stats.mean(x[i], UNIT)
        assert (lo[i], hi[i], centre[i], se[i]) == pytest.approx((est.ci_lo, est.ci_hi, est.centre, est.se),
                                                                 rel=1e-12)
    deep = stats.bounded_interval(x.reshape(1, 3, 6), UNIT)
    assert all(d.shape == (1, 3) for d in deep) and deep[0].ravel() == pytest.approx(lo, rel=1e-12)


# ----- the logit-scale mean of a bounded metric -----

def test_logit_normal_mean_is_the_integral_it_stands_for():
    for centre, spread in ((0.0, 1.0), (2.5, 0.7), (-4.0, 2.0), (6.0, 0.3)):
        reference, _ = integrate.quad(lambda z: special.expit(centre + spread * z) * sps.norm.pdf(z), -40, 40,
                                      epsabs=1e-13)
        # 48 Gauss-Hermite nodes: good to ~1e-8 relative at a spread of 2, far finer than any verdict reads
        assert float(stats.logit_normal_mean(centre, spread)) == pytest.approx(reference, rel=1e-7, abs=1e-12)
    assert float(stats.logit_normal_mean(1.3, 0.0)) == pytest.approx(special.expit(1.3), rel=1e-12)
    # symmetric about 0 and pulled towards 1/2 by the spread
    assert float(stats.logit_normal_mean(-2.0, 1.5)) == pytest.approx(1 - float(stats.logit_normal_mean(2.0, 1.5)))
    assert 0.5 < float(stats.logit_normal_mean(2.0, 1.5)) < special.expit(2.0)
    grid = stats.logit_normal_mean(np.array([[0.0, 1.0], [2.0, 3.0]]), np.array([[0.5, 0.5], [1.0, 1.0]]))
    assert grid.shape == (2, 2) and grid[1, 0] == pytest.approx(float(stats.logit_normal_mean(2.0, 1.0)))


def test_bounded_mean_by_hand():
    """Logits' t-interval; each end the mean of a logit-normal with the logits' sd (computed by quadrature here)."""
    values = [0.80, 0.90, 0.85, 0.95, 0.70, 1.0]
    z = special.logit(np.clip(values, stats.EDGE, 1 - stats.EDGE))  # 1.0 -> logit(0.999)
    centre, spread = z.mean(), z.std(ddof=1)
    half = sps.t.ppf(0.975, 5) * spread / math.sqrt(6)

    def lnm(c):
        return integrate.quad(lambda t: special.expit(c + spread * t) * sps.norm.pdf(t), -40, 40, epsabs=1e-13)[0]

    est = stats.mean(values, UNIT)
    assert est.method == "logit t" and est.value == pytest.approx(np.mean(values)) and est.df == 5
    assert (est.centre, est.se) == (pytest.approx(centre), pytest.approx(spread / math.sqrt(6)))
    assert (est.ci_lo, est.ci_hi) == (pytest.approx(lnm(centre - half), rel=1e-7),
                                      pytest.approx(lnm(centre + half), rel=1e-7))
    assert _core(stats.bounded_mean(values, UNIT)) == _core(est)


def test_bounded_mean_stays_inside_the_range_at_the_bounds():
    for values in ([1.0, 1.0, 1.0, 1.0, 1.0, 0.98], [0.0, 0.0, 0.0, 0.0, 0.0, 0.01], [0.0, 1.0, 0.0, 1.0, 0.0, 1.0],
                   [1.0, 1.0, 0.2, 1.0, 1.0, 1.0]):
        est = stats.mean(values, UNIT)
        assert 0.0 < est.ci_lo <= est.value <= est.ci_hi < 1.0, values
        t = stats.mean(values)
        assert t.ci_lo < 0 or t.ci_hi > 1, values  # where the plain t-interval leaves the range


def test_bounded_mean_covers_the_sample_mean_and_leans_away_from_a_near_bound():
    rng = np.random.default_rng(6)
    for x in (rng.beta(60, 2, 6), rng.beta(2, 60, 8), rng.uniform(0.2, 0.8, 6), rng.normal(0.7, 0.05, 10)):
        est = stats.mean(x, UNIT)
        assert est.ci_lo < est.value < est.ci_hi
    near_one = stats.mean([0.99, 0.995, 0.97, 1.0, 0.985, 0.998], UNIT)
    assert near_one.value - near_one.ci_lo > 3 * (near_one.ci_hi - near_one.value)  # long tail down, short up
    assert near_one.ci_hi < 1


def test_bounded_mean_matches_the_t_interval_in_the_middle_of_the_range():
    """Far from the bounds with little spread the logit is close to linear: the two intervals agree."""
    rng = np.random.default_rng(9)
    for centre in (0.5, 0.4, 0.65):
        x = rng.normal(centre, 0.01, 6)
        logit, t = stats.mean(x, UNIT), stats.mean(x)
        assert (logit.ci_lo, logit.ci_hi) == (pytest.approx(t.ci_lo, abs=1e-3), pytest.approx(t.ci_hi, abs=1e-3))


def test_bounded_mean_scales_with_its_range():
    x = np.array([0.62, 0.71, 0.66, 0.80, 0.75, 0.69])
    unit, percent = stats.mean(x, UNIT), stats.mean(100 * x, (0.0, 100.0))
    assert (percent.value, percent.ci_lo, percent.ci_hi) == pytest.approx(
        (100 * unit.value, 100 * unit.ci_lo, 100 * unit.ci_hi), rel=1e-10)
    assert (percent.centre, percent.se) == (pytest.approx(unit.centre), pytest.approx(unit.se))
    shifted = stats.mean(x + 1.0, (1.0, 2.0))
    assert (shifted.ci_lo, shifted.ci_hi) == (pytest.approx(unit.ci_lo + 1), pytest.approx(unit.ci_hi + 1))


def test_bounded_mean_p_values_agree_with_its_interval():
    for values in ([0.80, 0.90, 0.85, 0.95, 0.70, 1.0], [0.99, 0.995, 0.97, 1.0, 0.985, 0.998],
                   [0.0, 0.0, 0.02, 0.01, 0.0, 0.05]):
        est = stats.mean(values, UNIT)
        assert 2 * est.share_below(est.ci_lo, inclusive=True) == pytest.approx(stats.ALPHA, rel=1e-6)
        assert 2 * est.share_above(est.ci_hi, inclusive=True) == pytest.approx(stats.ALPHA, rel=1e-6)
        inside, outside = (est.ci_lo + est.ci_hi) / 2, est.ci_lo / 2
        assert 2 * est.share_below(inside, inclusive=True) > stats.ALPHA
        assert 2 * est.share_below(outside, inclusive=True) < stats.ALPHA
        below, above = est.share_below(est.value, inclusive=True), est.share_above(est.value, inclusive=True)
        assert below + above == pytest.approx(1.0)
        # beyond the range the whole distribution is on one side
        assert est.share_below(-0.1, inclusive=True) == 0.0 and est.share_below(1.5, inclusive=False) == 1.0
        assert est.share_above(-0.1, inclusive=False) == 1.0 and est.share_above(1.5, inclusive=True) == 0.0
        assert est.share_below(0.0, inclusive=True) == 0.0 and est.share_above(1.0, inclusive=True) == 0.0


def test_bounded_mean_working_scale_inverts_the_logit_normal_mean():
    est = stats.mean([0.60, 0.72, 0.65, 0.81, 0.70, 0.77], UNIT)
    spread = est.se * math.sqrt(6)
    for c in (-1.0, 0.3, 1.2, 3.0):
        assert est.to_working(float(stats.logit_normal_mean(c, spread))) == pytest.approx(c, abs=1e-9)
    assert est.to_working(0.0) == -math.inf and est.to_working(1.0) == math.inf


def test_bounded_mean_of_equal_values_is_a_point():
    """Values whose logits' mean and sd come out exact (4 runs, or logit 0): a point interval at the value."""
    for values in ([0.3] * 4, [0.5] * 7, [0.0] * 4, [1.0] * 4):
        est = stats.mean(values, UNIT)
        assert (est.ci_lo, est.ci_hi, est.se) == (values[0], values[0], 0.0), values
    mid = stats.mean([0.3] * 4, UNIT)
    assert mid.share_below(0.3, inclusive=True) == 1.0 and mid.share_above(0.3, inclusive=True) == 1.0
    assert mid.share_below(0.3, inclusive=False) == 0.0 and mid.share_above(0.2, inclusive=False) == 1.0
    assert mid.share_below(0.4, inclusive=False) == 1.0 and mid.share_above(0.4, inclusive=True) == 0.0


@pytest.mark.parametrize("bounds, v, n", [(None, 0.05, 3), (UNIT, 0.03, 7), (UNIT, 1.0, 6), (UNIT, 1.0, 7),
                                          (UNIT, 0.0, 6), (UNIT, 0.0, 4)])
def test_runs_all_at_one_value_are_a_point_at_that_value(bounds, v, n):
    est = stats.mean([v] * n, bounds)
    assert est.se == 0 and est.ci_lo <= est.value <= est.ci_hi
    assert est.share_below(v, inclusive=True) == 1.0 and est.share_below(v, inclusive=False) == 0.0
    assert est.share_above(v, inclusive=True) == 1.0 and est.share_above(v, inclusive=False) == 0.0


# ----- factorial designs -----

def test_factorial_weights_of_a_2x2_by_hand():
    """Cells in product((0, 1), repeat=2) order: (0, 0), (0, 1), (1, 0), (1, 1) as (A, B)."""
    assert stats.factorial_weights(2, [0]) == pytest.approx([-0.5, -0.5, 0.5, 0.5])   # high A minus low A
    assert stats.factorial_weights(2, [1]) == pytest.approx([-0.5, 0.5, -0.5, 0.5])
    # (y11 - y01) - (y10 - y00): A's effect at high B minus at low B, with codes (A, B)
    assert stats.factorial_weights(2, [0, 1]) == pytest.approx([1.0, -1.0, -1.0, 1.0])
    assert stats.factorial_weights(2, [1, 0]) == stats.factorial_weights(2, [0, 1])
    assert stats.factorial_weights(1, [0]) == pytest.approx([-1.0, 1.0])  # a difference of two arms


@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_factorial_weights_are_signed_codes_over_the_other_factors_cells(k):
    codes = list(product((0, 1), repeat=k))
    for m in range(1, k + 1):
        for effect in combinations(range(k), m):
            w = np.array(stats.factorial_weights(k, list(effect)))
            signs = np.array([math.prod(2 * c[i] - 1 for i in effect) for c in codes])
            assert w == pytest.approx(signs / 2 ** (k - m))
            assert w.sum() == pytest.approx(0.0) and np.abs(w).sum() == pytest.approx(2 ** m)


@pytest.mark.parametrize("k, effect", [(2, []), (2, [2]), (2, [-1]), (2, [0, 0]), (3, [0, 3])])
def test_factorial_weights_refuse_a_bad_effect(k, effect):
    with pytest.raises(ValueError):
        stats.factorial_weights(k, effect)


# A 2^2 design by hand: (A, B) codes, 0 = low, 1 = high; every cell two runs, mean ± 1, within-cell variance 2.
TWO_BY_TWO = {(0, 0): [1, 3], (1, 0): [5, 7], (0, 1): [2, 4], (1, 1): [10, 12]}  # cell means 2, 6, 3, 11


def test_factorial_effects_of_a_2x2_by_hand():
    a, b, ab = (stats.factorial_effect(TWO_BY_TWO, effect) for effect in ([0], [1], [0, 1]))
    assert a.value == pytest.approx((6 + 11) / 2 - (2 + 3) / 2)  # 6: high A minus low A, over B's levels
    assert b.value == pytest.approx((3 + 11) / 2 - (2 + 6) / 2)  # 3
    assert ab.value == pytest.approx((11 - 3) - (6 - 2))         # 4: A's effect at high B (8) minus at low B (4)
    # Welch: each cell's variance 2 over its 2 runs; main-effect weights 1/2: se^2 = 4 x (1/4) x 1 = 1;
    # interaction weights 1: se^2 = 4 x 1 = 4. Four equal parts of 1 df each: df = 4.
    assert (a.se, a.df, ab.se, ab.df) == (pytest.approx(1.0), pytest.approx(4), pytest.approx(2.0), pytest.approx(4))
    assert (a.ci_lo, a.ci_hi) == (pytest.approx(6 - 2.776445), pytest.approx(6 + 2.776445))  # t(0.975, 4)
    assert (ab.ci_lo, ab.ci_hi) == (pytest.approx(4 - 2 * 2.776445), pytest.approx(4 + 2 * 2.776445))
    assert a.method == ab.method == "Welch t"
    cells = [TWO_BY_TWO[c] for c in product((0, 1), repeat=2)]
    assert ab == stats.contrast(cells, stats.factorial_weights(2, [0, 1]))


def test_a_cell_with_more_runs_counts_as_much_as_any_other():
    """A third run at its cell's mean leaves the cell means, and so the effect, where they were; a mean over runs
    would move (high A: 9 over its 5 runs instead of 8.5 over its 2 cells). Its variance enters over its 3 runs."""
    more = {**TWO_BY_TWO, (1, 1): [10, 12, 11]}
    out = stats.factorial_effect(more, [0])
    assert out.value == pytest.approx(6.0)
    parts = [0.25 * 2 / 2] * 3 + [0.25 * 1 / 3]
    assert out.se == pytest.approx(math.sqrt(sum(parts)))
    assert out.df == pytest.approx(sum(parts) ** 2 / (3 * parts[0] ** 2 / 1 + parts[3] ** 2 / 2))


def test_factorial_effects_of_a_2x2x2_by_hand():
    """Cell means written out by hand (A, B, C): main effects are signed sums over 4, two-factor interactions over
    2 (the mean over C of the difference of simple effects), the three-factor one the plain signed sum."""
    means = {(0, 0, 0): 7.0, (1, 0, 0): 8.0, (0, 1, 0): 10.0, (1, 1, 0): 13.0,
             (0, 0, 1): 8.5, (1, 0, 1): 8.5, (0, 1, 1): 10.5, (1, 1, 1): 14.5}
    cells = {code: [m - 0.5, m + 0.5] for code, m in means.items()}
    expected = {(0,): 2.0,      # (8 + 13 + 8.5 + 14.5 - 7 - 10 - 8.5 - 10.5) / 4
                (1,): 4.0, (2,): 1.0,
                (0, 1): 3.0,    # at C low (13 - 10) - (8 - 7) = 2, at C high (14.5 - 10.5) - (8.5 - 8.5) = 4
                (0, 2): 0.0, (1, 2): 0.0,
                (0, 1, 2): 2.0}  # the AB interaction at C high minus at C low: 4 - 2
    for effect, value in expected.items():
        assert stats.factorial_effect(cells, list(effect)).value == pytest.approx(value), effect
    bounded = stats.factorial_effect({c: [v / 20 for v in r] for c, r in cells.items()}, [0, 1, 2], UNIT)
    assert bounded.value == pytest.approx(0.1) and -4 <= bounded.ci_lo and bounded.ci_hi <= 4


def _ols(cells, k, effects):
    """OLS on +-1 coded factors with every interaction (the saturated model): coefficients, ses, residual df."""
    rows = [(code, y) for code, values in cells.items() for y in values]
    signs = np.array([[2 * c - 1 for c in code] for code, _ in rows])
    x = np.column_stack([np.ones(len(rows))] + [signs[:, list(e)].prod(axis=1) for e in effects])
    y = np.array([y for _, y in rows])
    beta, residual, rank, _ = np.linalg.lstsq(x, y, rcond=None)
    assert rank == 2 ** k
    sigma2 = residual[0] / (len(y) - 2 ** k)
    return beta, np.sqrt(sigma2 * np.diag(np.linalg.inv(x.T @ x))), len(y) - 2 ** k


@pytest.mark.parametrize("k, seed", [(2, 0), (3, 1), (4, 2)])
def test_factorial_effects_are_the_least_squares_coefficients_times_two_to_the_order(k, seed):
    """The saturated model fits the cell means, so its coefficient of an effect of m factors is
    sum(prod(+-1 codes) x cell mean) / 2^k, and factorial_weights are prod(+-1 codes) / 2^(k - m): the effect is
    2^m times the coefficient (a main effect twice it, a two-factor interaction four times), with unequal runs."""
    rng = np.random.default_rng(seed)
    cells = {code: rng.normal(rng.normal(0.5, 0.2), 0.05, rng.integers(2, 5)) for code in product((0, 1), repeat=k)}
    effects = [s for r in range(1, k + 1) for s in combinations(range(k), r)]
    beta, _, _ = _ols(cells, k, effects)
    for j, effect in enumerate(effects, start=1):
        ours = stats.factorial_effect(cells, list(effect))
        assert ours.value == pytest.approx(2 ** len(effect) * beta[j], abs=1e-12), effect
        if len(effect) == 2:
            assert ours.value == pytest.approx(4 * beta[j], abs=1e-12)


@pytest.mark.parametrize("k, n", [(2, 3), (3, 2), (4, 4)])
def test_with_equal_spread_in_every_cell_welch_is_the_pooled_least_squares_interval(k, n):
    """Every cell n runs at the same offsets from its mean: then Welch's se is 2^m times the coefficient's and
    Satterthwaite's df is the pooled residual df, 2^k (n - 1)."""
    rng = np.random.default_rng(k)
    offsets = rng.normal(0, 0.05, n)
    cells = {code: rng.normal(0.5, 0.2) + offsets for code in product((0, 1), repeat=k)}
    effects = [s for r in range(1, k + 1) for s in combinations(range(k), r)]
    beta, se, df = _ols(cells, k, effects)
    assert df == 2 ** k * (n - 1)
    for j, effect in enumerate(effects, start=1):
        ours = stats.factorial_effect(cells, list(effect))
        scale = 2 ** len(effect)
        assert (ours.value, ours.se, ours.df) == (pytest.approx(scale * beta[j], abs=1e-12),
                                                  pytest.approx(scale * se[j], rel=1e-9), pytest.approx(df))


@pytest.mark.parametrize("cells, effect", [
    ({(0, 0): [1, 2], (1, 0): [1, 2], (0, 1): [1, 2]}, [0]),                 # a cell missing
    ({(0, 0): [1, 2], (1, 0): [1, 2], (0, 1): [1, 2], (1, 2): [1, 2]}, [0]),  # a cell not in the design
    ({**TWO_BY_TWO, (1, 1): [10]}, [0]),                                     # a cell with one run
    (TWO_BY_TWO, []), (TWO_BY_TWO, [2]), (TWO_BY_TWO, [0, 0]),               # no effect, a factor not there, twice
])
def test_a_factorial_without_its_cells_or_effect_is_refused(cells, effect):
    with pytest.raises(ValueError):
        stats.factorial_effect(cells, effect)


# ----- how many runs each method needs -----

def test_fewest_runs_per_method_and_design():
    assert all(stats.fewest_runs(method) == stats.FEWEST[method] for method in ("t", "logit t", "Welch t"))
    assert stats.fewest_runs("Welch t", cells=2) == stats.FEWEST["Welch t"]
    assert stats.fewest_runs("Welch t", cells=stats.MANY_CELLS - 1) == stats.FEWEST["Welch t"]
    assert stats.fewest_runs("Welch t", cells=stats.MANY_CELLS) == stats.FEWEST_PER_CELL
    assert stats.fewest_runs("Welch t", cells=32) == stats.FEWEST_PER_CELL
    with pytest.raises(KeyError):
        stats.fewest_runs("percentile bootstrap")  # not a method any verdict uses


def test_a_covered_mean_has_an_interval_only_from_its_methods_fewest_runs():
    """The report's means: the logit t of bounded_mean for an accuracy, the t for a metric without a range, each
    from stats.FEWEST of its method on, and no interval (None) with fewer."""
    for bounds, method in ((UNIT, "logit t"), (None, "t")):
        assert stats.mean_method(bounds) == method
        enough = list(np.linspace(0.90, 0.99, stats.FEWEST[method]))
        got = stats.covered_mean(enough, bounds)
        assert got.method == method and _core(got) == _core(stats.mean(enough, bounds))
        assert stats.covered_mean(enough[:-1], bounds) is None
        assert stats.covered_mean(enough[:1], bounds) is None  # one run: no error, no interval
    accuracy = [0.97, 0.98, 0.99, 0.995, 0.999, 0.96]
    assert _core(stats.covered_mean(accuracy, UNIT)) == _core(stats.bounded_mean(accuracy, UNIT))


# ----- Holm -----

def test_holm_steps_down_by_hand():
    # sorted 0.005, 0.01, 0.03, 0.04: x4 = 0.02, x3 = 0.03, x2 = 0.06, x1 = 0.04 -> kept non-decreasing: 0.06
    adjusted = stats.holm([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert list(adjusted < 0.05) == [True, False, False, True]  # 0.04 alone would pass; the step-down stopped at 0.03
    # where Holm keeps what Bonferroni drops: 0.01 x3 = 0.03, 0.02 x2 = 0.04, 0.04 x1 = 0.04
    assert stats.holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert stats.holm([0.02]) == pytest.approx([0.02]) and stats.holm([]).size == 0


# ----- the critical point -----

def test_smallest_reaching_by_hand():
    means = {10: 0.5, 20: 0.85, 40: 0.93, 80: 0.95, 160: 0.96}
    assert stats.smallest_reaching(means, 0.95) == 40   # 0.95 x 0.96 = 0.912
    assert stats.smallest_reaching(means, 1.0) == 160
    assert stats.smallest_reaching(means, 0.5) == 10
    assert stats.smallest_reaching({20: 0.9, 10: 0.95}, 0.95) == 10  # the sizes need not be given in order
