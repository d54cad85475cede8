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
