"""Every interval method the verdict table uses covers at every size it is used at (finetune_lab.coverage).

The simulation runs samples through the same interval code a verdict uses (finetune_lab.stats); stats.FEWEST is
the fewest replicates per arm each method is allowed, and these tests hold it to the simulation: from there up
every scenario passes; two replicates fewer some scenario fails clearly (one fewer, 5 a side, is within the
simulation's noise of the limit, and so not used either: stats.FEWEST's comment).
"""
import itertools
import zlib

import numpy as np
import pytest

from finetune_lab import coverage, stats

SAMPLES = 20_000  # a one-sided miss of 0.025 is then known to about 0.001


def _rng(*key) -> np.random.Generator:
    """A generator seeded by the key's text: the same draws in every process (str's hash is not)."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


@pytest.mark.parametrize("method", ["logit t"])
def test_a_bounded_mean_covers_from_its_fewest_replicates(method):
    for (name, scenario), n in itertools.product(coverage.SCENARIOS.items(),
                                                 range(stats.FEWEST[method], max(coverage.SIZES) + 1)):
        below, above = coverage.mean_misses(method, scenario, n, SAMPLES, _rng(method, name, n))
        assert coverage.passes(below, above), (name, n, below, above)


def test_a_bounded_mean_does_not_cover_with_fewer_replicates():
    n = stats.FEWEST["logit t"] - 2
    assert not all(coverage.passes(*coverage.mean_misses("logit t", s, n, SAMPLES, _rng("fewer", s.name, n)))
                   for s in coverage.SCENARIOS.values())


def test_the_plain_t_interval_misses_skewed_accuracies_near_a_bound():
    """Why a bounded mean is read on the logit scale: the plain t-interval's one-sided miss near 1 exceeds the
    limit at every size the study uses, while the logit interval's does not."""
    near_one = coverage.SCENARIOS["near_one"]
    for n in (3, 8):
        assert not coverage.passes(*coverage.mean_misses("t", near_one, n, SAMPLES, _rng("t", n)))
        assert coverage.passes(*coverage.mean_misses("logit t", near_one, n, SAMPLES, _rng("logit", n)))


def test_the_plain_t_interval_covers_unskewed_metrics_from_its_fewest_replicates():
    """The plain t-interval is used only for a metric without a range, where the near-bound scenarios do not
    arise: it covers the others from stats.FEWEST["t"] on."""
    for name, n in itertools.product(("normal", "wide", "bimodal"), range(stats.FEWEST["t"], 11)):
        below, above = coverage.mean_misses("t", coverage.SCENARIOS[name], n, SAMPLES, _rng("t", name, n))
        assert coverage.passes(below, above), (name, n, below, above)


def test_welch_covers_every_pair_of_arm_sizes_from_its_fewest_replicates():
    sizes = range(stats.FEWEST["Welch t"], max(coverage.SIZES) + 1)
    for pair, n, m in itertools.product(coverage.PAIRS, sizes, sizes):
        below, above = coverage.difference_misses(pair, n, m, SAMPLES // 2, _rng(pair, n, m))
        assert coverage.passes(below, above), (pair, n, m, below, above)


def test_welch_does_not_cover_with_fewer_replicates():
    n = stats.FEWEST["Welch t"] - 2
    assert not all(coverage.passes(*coverage.difference_misses(pair, n, n, SAMPLES, _rng("fewer", pair)))
                   for pair in coverage.PAIRS)


@pytest.mark.parametrize("family", sorted(coverage.FAMILIES))
@pytest.mark.parametrize("effect", [(0,), (0, 1)])
def test_a_factorial_effect_covers_with_two_runs_a_cell(family, effect):
    """The E4 design, 2^5 cells: Welch's interval over the cells covers at stats.FEWEST_PER_CELL runs a cell."""
    assert 2 ** 5 >= stats.MANY_CELLS
    below, above = coverage.effect_misses(family, 5, stats.FEWEST_PER_CELL, effect, SAMPLES // 4,
                                          _rng(family, effect))
    assert coverage.passes(below, above), (below, above)


def test_the_limits_are_the_ones_the_table_applies():
    assert stats.fewest_runs("Welch t") == stats.FEWEST["Welch t"]
    assert stats.fewest_runs("Welch t", cells=32) == stats.FEWEST_PER_CELL
    assert stats.fewest_runs("logit t") == stats.FEWEST["logit t"]


def test_misses_are_counted_on_the_right_side():
    lo, hi = np.array([0.1, 0.6, 0.2]), np.array([0.4, 0.9, 0.3])
    assert coverage.missed(lo, hi, 0.5) == (pytest.approx(2 / 3), pytest.approx(1 / 3))  # wholly below, wholly above


def test_the_coverage_table_names_failures(capsys):
    rows = coverage.table(samples=400)
    assert {r["design"] for r in rows} >= {"mean", "difference"}
    assert any(not r["ok"] for r in rows) and any(r["ok"] for r in rows)
    text = coverage.markdown(rows)
    assert text.startswith("| design | method | scenario |") and "✗" in text
