import math

import numpy as np
import pytest

from finetune_lab import stats


def test_mean_ci_is_the_t_interval_of_the_mean():
    out = stats.mean_ci([0.90, 0.92, 0.94])
    assert out["n"] == 3 and out["mean"] == pytest.approx(0.92) and out["sd"] == pytest.approx(0.02)
    half = 4.302653 * 0.02 / math.sqrt(3)  # t(0.975, df=2)
    assert (out["ci_lo"], out["ci_hi"]) == (pytest.approx(0.92 - half), pytest.approx(0.92 + half))


def test_one_value_has_no_spread():
    out = stats.mean_ci([0.5])
    assert out["mean"] == 0.5 and math.isnan(out["sd"]) and math.isnan(out["ci_lo"])


def test_critical_point_is_the_smallest_size_reaching_the_fraction_of_the_largest():
    by_size = {40: [0.20, 0.22, 0.18], 80: [0.60, 0.62, 0.58], 160: [0.95, 0.97, 0.96], 320: [0.97, 0.98, 0.99]}
    out = stats.critical_point(by_size, fraction=0.95)
    assert out["size"] == 160 and out["largest_size"] == 320
    assert out["target_accuracy"] == pytest.approx(0.95 * 0.98)
    assert (out["ci_lo"], out["ci_hi"]) == (160, 160)  # every resample agrees: no overlap between sizes
    assert out["replicates"] == {40: 3, 80: 3, 160: 3, 320: 3}


def test_noisy_replicates_widen_the_bootstrap_interval():
    by_size = {40: [0.2, 0.3, 0.25], 80: [0.70, 0.95, 0.98], 160: [0.90, 0.97, 0.99], 320: [0.96, 0.98, 0.97]}
    out = stats.critical_point(by_size, fraction=0.95, resamples=4000)
    assert out["ci_lo"] <= out["size"] <= out["ci_hi"]
    assert out["ci_lo"] == 80 and out["ci_hi"] >= 160


def test_flat_curve_reaches_at_the_smallest_size_and_bootstrap_is_reproducible():
    by_size = {10: [0.1, 0.11], 100: [0.1, 0.1]}
    assert stats.critical_point(by_size)["size"] == 10
    noisy = {10: list(np.linspace(0.5, 0.9, 5)), 100: list(np.linspace(0.7, 0.95, 5))}
    first, again = stats.critical_point(noisy, seed=1), stats.critical_point(noisy, seed=1)
    assert np.array_equal(first.pop("draws"), again.pop("draws")) and first == again


@pytest.mark.parametrize("by_size, fraction", [({10: [0.5]}, 0.95), ({10: [0.5], 20: [0.6]}, 1.5)])
def test_bad_input_is_refused(by_size, fraction):
    with pytest.raises(ValueError):
        stats.critical_point(by_size, fraction=fraction)


def test_difference_is_welchs_interval():
    a, b = [0.90, 0.92, 0.94], [0.50, 0.60, 0.70]
    out = stats.difference(a, b)
    va, vb = 0.02 ** 2 / 3, 0.1 ** 2 / 3
    df = (va + vb) ** 2 / (va ** 2 / 2 + vb ** 2 / 2)
    assert out.value == pytest.approx(0.32) and out.df == pytest.approx(df) and out.method == "Welch t"
    from scipy import stats as sps
    half = sps.t.ppf(0.975, df) * math.sqrt(va + vb)
    assert (out.ci_lo, out.ci_hi) == (pytest.approx(0.32 - half), pytest.approx(0.32 + half))
    assert stats.difference(b, a).value == pytest.approx(-0.32)
    assert stats.difference_ci(a, b) == {"difference": out.value, "ci_lo": out.ci_lo, "ci_hi": out.ci_hi, "df": out.df}
    with pytest.raises(ValueError):
        stats.difference([0.5], b)


def test_mean_t_estimate_is_mean_ci():
    values = [0.90, 0.92, 0.95, 0.91]
    est, ci = stats.mean(values), stats.mean_ci(values)
    assert (est.value, est.ci_lo, est.ci_hi) == (ci["mean"], pytest.approx(ci["ci_lo"]), pytest.approx(ci["ci_hi"]))
    assert est.se == pytest.approx(ci["sd"] / 2) and est.df == 3 and est.method == "t"


BIMODAL = [0.1, 0.1, 0.1, 0.9, 0.9, 0.9]  # seeds that either fail or learn


def test_bootstrap_mean_of_bimodal_runs_is_not_the_t_interval():
    """A resample's mean is 0.1 + 0.8 K/6, K ~ Binomial(6, 1/2): P(K = 0) = 1/64 < 2.5% < P(K <= 1) = 7/64, so the
    percentile interval runs from K = 1 to K = 5, well inside the t-interval, which reaches past the data."""
    boot, t = stats.mean(BIMODAL, "bootstrap"), stats.mean(BIMODAL, "t")
    assert (boot.ci_lo, boot.ci_hi) == (pytest.approx(0.1 + 0.8 / 6), pytest.approx(0.9 - 0.8 / 6))
    assert boot.value == pytest.approx(0.5) and boot.method == "percentile bootstrap, 10,000 resamples"
    assert t.ci_lo < 0.06 and t.ci_hi > 0.94
    assert boot.draws.size == 10_000 and stats.mean(BIMODAL, "bootstrap").ci_lo == boot.ci_lo  # fixed seed


def test_bootstrap_interval_agrees_with_scipys_percentile_interval():
    from scipy import stats as sps

    x = np.random.default_rng(3).normal(0.8, 0.05, 7)
    ours = stats.mean(x, "bootstrap")
    theirs = sps.bootstrap((x,), np.mean, n_resamples=10_000, method="percentile", rng=np.random.default_rng(0))
    gap = np.diff(np.sort(ours.draws)).max()  # ours is an order statistic, scipy's interpolates next to it
    assert abs(ours.ci_lo - theirs.confidence_interval.low) <= gap
    assert abs(ours.ci_hi - theirs.confidence_interval.high) <= gap


def test_bootstrap_difference_resamples_each_setting_on_its_own():
    out = stats.difference(BIMODAL, [0.5, 0.5, 0.5], "bootstrap")  # the baseline never moves: only a's mean does
    assert out.value == pytest.approx(0.0)
    assert (out.ci_lo, out.ci_hi) == (pytest.approx(0.8 / 6 - 0.4), pytest.approx(0.4 - 0.8 / 6))
    assert stats.difference(BIMODAL, [0.5, 0.5, 0.5]).ci_lo < -0.45  # Welch's t reaches further


def test_percentile_interval_is_the_kth_order_statistic_from_each_end():
    draws = np.arange(1, 10_001)[::-1]  # 1..10,000, in any order
    assert stats.percentile_interval(draws) == (250, 9751)  # 249 lie strictly below 250 and above 9751
    assert stats.percentile_interval(np.arange(1, 2001)) == (50, 1951)


def test_trend_is_somers_d_over_the_runs_with_a_stratified_interval():
    from scipy import stats as sps

    by_level = [[0.10, 0.12, 0.11], [0.40, 0.55, 0.45], [0.52, 0.50, 0.70], [0.90, 0.93, 0.91]]
    out = stats.trend(by_level)
    x = [i for i, v in enumerate(by_level) for _ in v]
    assert out.value == pytest.approx(sps.somersd(x, sum(by_level, [])).statistic)
    assert out.value == pytest.approx(1 - 2 * 2 / 54)  # 54 pairs across levels, 2 of them (0.55 > 0.52, 0.50) fall
    assert 0.6 < out.ci_lo <= out.value <= out.ci_hi <= 1
    assert out.method == "stratified percentile bootstrap (runs within levels), 10,000 resamples"
    assert np.mean(out.draws) == pytest.approx(out.value, abs=0.005)  # resampling leaves D where it is
    falling = stats.trend(by_level[::-1])
    assert falling.value == pytest.approx(-out.value) and falling.ci_hi < -0.6


def test_levels_apart_give_d_one_in_every_resample():
    """Spearman's rho would give 0.949 here, and more in resamples that copy a run (copies are ties)."""
    out = stats.trend([[0.10, 0.12, 0.11], [0.60, 0.66, 0.62], [0.95, 0.97, 0.96]])
    assert (out.value, out.ci_lo, out.ci_hi) == (1.0, 1.0, 1.0)


def test_trend_without_an_order_has_an_interval_around_zero():
    flat = [[0.5, 0.7, 0.6], [0.7, 0.5, 0.6], [0.6, 0.5, 0.7]]
    out = stats.trend(flat)
    assert out.value == pytest.approx(0.0) and out.ci_lo < -0.3 and out.ci_hi > 0.3
    assert stats.trend([[0.5, 0.5], [0.5, 0.5]]).value == 0.0  # all equal: ties, no trend
    with pytest.raises(ValueError):
        stats.trend([[0.1, 0.2], [0.3]])


def test_holm_steps_down_by_hand():
    # sorted 0.005, 0.01, 0.03, 0.04: x4 = 0.02, x3 = 0.03, x2 = 0.06, x1 = 0.04 -> kept non-decreasing: 0.06
    adjusted = stats.holm([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert list(adjusted < 0.05) == [True, False, False, True]  # 0.04 alone would pass; the step-down stopped at 0.03
    # where Holm keeps what Bonferroni drops: 0.01 x3 = 0.03, 0.02 x2 = 0.04, 0.04 x1 = 0.04
    assert stats.holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1


# A 2^2 design by hand: (A, B) codes, 0 = low, 1 = high; every cell two runs, mean ± 1, within-cell variance 2.
TWO_BY_TWO = {(0, 0): [1, 3], (1, 0): [5, 7], (0, 1): [2, 4], (1, 1): [10, 12]}  # cell means 2, 6, 3, 11


def test_factorial_effects_of_a_2x2_by_hand():
    a, b, ab = (stats.factorial_effect(TWO_BY_TWO, effect) for effect in ([0], [1], [0, 1]))
    assert a.value == pytest.approx((6 + 11) / 2 - (2 + 3) / 2)  # 6: high A minus low A, over B's levels
    assert b.value == pytest.approx((3 + 11) / 2 - (2 + 6) / 2)  # 3
    assert ab.value == pytest.approx(((11 - 3) - (6 - 2)) / 2)   # 2: A's effect at high B (8) vs at low B (4), halved
    # pooled within-cell variance 2 on 8 - 4 = 4 df; each weight is 1/2, so se = sqrt(2 x 4 x (1/4) / 2) = 1
    assert (a.se, a.df, ab.se) == (pytest.approx(1.0), 4, pytest.approx(1.0))
    assert (a.ci_lo, a.ci_hi) == (pytest.approx(6 - 2.776445), pytest.approx(6 + 2.776445))  # t(0.975, 4)
    assert a.method == "t (pooled within-cell variance)"


def test_a_cell_with_more_runs_counts_as_much_as_any_other():
    """A third run at its cell's mean leaves the cell means, and so the effect, where they were; a mean over runs
    would move (high A: 9 over its 5 runs instead of 8.5 over its 2 cells)."""
    more = {**TWO_BY_TWO, (1, 1): [10, 12, 11]}
    assert stats.factorial_effect(more, [0]).value == pytest.approx(6.0)
    assert stats.factorial_effect(more, [0]).df == 5


def test_factorial_effects_of_a_2x2x2_by_hand():
    """Cell means written out by hand (A, B, C): each effect is the signed sum of the eight over 4."""
    means = {(0, 0, 0): 7.0, (1, 0, 0): 8.0, (0, 1, 0): 10.0, (1, 1, 0): 13.0,
             (0, 0, 1): 8.5, (1, 0, 1): 8.5, (0, 1, 1): 10.5, (1, 1, 1): 14.5}
    cells = {code: [m - 0.5, m + 0.5] for code, m in means.items()}
    expected = {(0,): 2.0,      # (8 + 13 + 8.5 + 14.5 - 7 - 10 - 8.5 - 10.5) / 4
                (1,): 4.0, (2,): 1.0,
                (0, 1): 1.5,    # (7 - 8 - 10 + 13 + 8.5 - 8.5 - 10.5 + 14.5) / 4
                (0, 2): 0.0, (1, 2): 0.0,
                (0, 1, 2): 0.5}  # (-7 + 8 + 10 - 13 + 8.5 - 8.5 - 10.5 + 14.5) / 4
    for effect, value in expected.items():
        assert stats.factorial_effect(cells, list(effect)).value == pytest.approx(value), effect


@pytest.mark.parametrize("k, seed", [(2, 0), (3, 1), (4, 2)])
def test_factorial_effects_are_twice_the_least_squares_coefficients(k, seed):
    """OLS on +-1 coded factors with every interaction (the saturated model) fits the cell means; each effect is
    twice its coefficient, and its t standard error twice the coefficient's, with unequal runs per cell."""
    from itertools import combinations, product

    rng = np.random.default_rng(seed)
    codes = list(product((0, 1), repeat=k))
    cells = {code: rng.normal(rng.normal(0.5, 0.2), 0.05, rng.integers(2, 5)) for code in codes}
    effects = [list(s) for r in range(1, k + 1) for s in combinations(range(k), r)]
    rows = [(code, y) for code, values in cells.items() for y in values]
    signs = np.array([[2 * c - 1 for c in code] for code, _ in rows])
    x = np.column_stack([np.ones(len(rows))] + [signs[:, e].prod(axis=1) for e in effects])
    y = np.array([y for _, y in rows])
    beta, residual, rank, _ = np.linalg.lstsq(x, y, rcond=None)
    assert rank == 2 ** k
    sigma2 = residual[0] / (len(y) - 2 ** k)
    se = np.sqrt(sigma2 * np.diag(np.linalg.inv(x.T @ x)))
    for j, effect in enumerate(effects, start=1):
        ours = stats.factorial_effect(cells, effect)
        assert ours.value == pytest.approx(2 * beta[j], abs=1e-12), effect
        assert ours.se == pytest.approx(2 * se[j], rel=1e-9) and ours.df == len(y) - 2 ** k


def test_factorial_bootstrap_resamples_runs_within_cells():
    steady = {code: [v, v, v] for code, v in {(0, 0): 0.1, (1, 0): 0.5, (0, 1): 0.2, (1, 1): 0.9}.items()}
    out = stats.factorial_effect(steady, [0], "bootstrap")  # no spread within a cell: every resample agrees
    assert (out.value, out.ci_lo, out.ci_hi) == (pytest.approx(0.55),) * 3
    assert out.method == "stratified percentile bootstrap (runs within cells), 10,000 resamples"
    rng = np.random.default_rng(4)
    noisy = {code: rng.normal(0.5 + 0.2 * code[0], 0.05, 4) for code in steady}
    boot, t = stats.factorial_effect(noisy, [0], "bootstrap"), stats.factorial_effect(noisy, [0])
    assert boot.value == t.value and boot.ci_lo < boot.value < boot.ci_hi
    assert 0.4 < (boot.ci_hi - boot.ci_lo) / (t.ci_hi - t.ci_lo) < 1.2  # narrower: few runs per cell


@pytest.mark.parametrize("cells, effect", [
    ({(0, 0): [1, 2], (1, 0): [1, 2], (0, 1): [1, 2]}, [0]),                 # a cell missing
    ({**TWO_BY_TWO, (1, 1): [10]}, [0]),                                     # a cell with one run
    (TWO_BY_TWO, []), (TWO_BY_TWO, [2]),                                     # no effect, a factor not in the design
])
def test_a_factorial_without_its_cells_or_effect_is_refused(cells, effect):
    with pytest.raises(ValueError):
        stats.factorial_effect(cells, effect)
