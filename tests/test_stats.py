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
    assert stats.critical_point(noisy, seed=1) == stats.critical_point(noisy, seed=1)


@pytest.mark.parametrize("by_size, fraction", [({10: [0.5]}, 0.95), ({10: [0.5], 20: [0.6]}, 1.5)])
def test_bad_input_is_refused(by_size, fraction):
    with pytest.raises(ValueError):
        stats.critical_point(by_size, fraction=fraction)


def test_difference_ci_is_welchs_interval():
    a, b = [0.90, 0.92, 0.94], [0.50, 0.60, 0.70]
    out = stats.difference_ci(a, b)
    va, vb = 0.02 ** 2 / 3, 0.1 ** 2 / 3
    df = (va + vb) ** 2 / (va ** 2 / 2 + vb ** 2 / 2)
    assert out["difference"] == pytest.approx(0.32) and out["df"] == pytest.approx(df)
    from scipy import stats as sps
    half = sps.t.ppf(0.975, df) * math.sqrt(va + vb)
    assert (out["ci_lo"], out["ci_hi"]) == (pytest.approx(0.32 - half), pytest.approx(0.32 + half))
    assert stats.difference_ci(b, a)["difference"] == pytest.approx(-0.32)
    with pytest.raises(ValueError):
        stats.difference_ci([0.5], b)
