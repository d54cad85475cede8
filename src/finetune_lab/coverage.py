"""How often the verdicts' intervals cover the truth, by simulation through finetune_lab.stats' own interval code.

Each scenario is a population of one arm's runs (the test accuracies of seeds) whose mean is known; `misses`
draws many samples of n runs, computes the interval the verdict table would, and counts the intervals that lie
wholly below the truth and wholly above it. A method is used at n runs per arm only where, in every scenario, the
two-sided coverage is at least COVERAGE and neither one-sided miss exceeds ONE_SIDED (stats.FEWEST says where;
tests/test_coverage.py holds the two to each other). The scenarios are the shapes the study's seeds take:

  normal     N(0.70, 0.05): a setting that trains the same way every seed
  wide       N(0.55, 0.15): one whose seeds spread widely
  bimodal    half the seeds near 0.3, half near 0.7 (sd 0.08 each): seeds that collapse half the time, as E10's do
  near_one   Beta with mean 0.985, sd 0.005: accuracies skewed down from a ceiling
  near_zero  Beta with mean 0.02, sd 0.008: accuracies skewed up from a floor

A population in which a collapse is rare (one seed in four, say) is out of reach of any interval at these sizes:
most samples of a few seeds then hold no collapsed seed at all, and nothing in them says that one could occur.

    python -m finetune_lab.coverage            # the coverage table of docs/statistics.md (about a minute)
"""
from __future__ import annotations

import argparse
import itertools
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import stats

COVERAGE = 0.93      # the least two-sided coverage of a nominal 95% interval that is accepted
ONE_SIDED = 0.035    # the most either one-sided miss may be (nominally 0.025)
SIZES = range(2, 11)  # runs per arm that the study uses or plans
UNIT = (0.0, 1.0)     # the range of an accuracy


@dataclass(frozen=True)
class Scenario:
    name: str
    mean: float
    draw: Callable[[np.random.Generator, tuple], np.ndarray]   # (rng, shape) -> runs' values in [0, 1]


def _beta(mean: float, sd: float) -> Callable:
    concentration = mean * (1 - mean) / sd ** 2 - 1
    return lambda rng, shape: rng.beta(mean * concentration, (1 - mean) * concentration, shape)


def _normal(mean: float, sd: float) -> Callable:
    return lambda rng, shape: np.clip(rng.normal(mean, sd, shape), 0.0, 1.0)


def _bimodal(low: float, high: float, sd: float) -> Callable:
    def draw(rng, shape):
        centre = np.where(rng.random(shape) < 0.5, low, high)
        return np.clip(centre + rng.normal(0.0, sd, shape), 0.0, 1.0)
    return draw


SCENARIOS = {s.name: s for s in (
    Scenario("normal", 0.70, _normal(0.70, 0.05)),
    Scenario("wide", 0.55, _normal(0.55, 0.15)),
    Scenario("bimodal", 0.50, _bimodal(0.3, 0.7, 0.08)),
    Scenario("near_one", 0.985, _beta(0.985, 0.005)),
    Scenario("near_zero", 0.02, _beta(0.02, 0.008)),
)}
# Pairs of arms for a difference: unequal spreads, a bimodal arm against a steady one, skewed arms, and a
# critical point's comparison of a size's mean with 0.95 of the reference size's (weights 1 and -0.95).
PAIRS = (("normal", "wide", 1.0), ("bimodal", "normal", 1.0), ("near_one", "normal", 1.0),
         ("near_zero", "near_zero", 1.0), ("bimodal", "bimodal", 1.0), ("wide", "near_one", 0.95))
# A 2^5 factorial design (the E4 design): every cell from one family, around its own centre.
FAMILIES = {"normal": lambda c: _normal(c, 0.05), "bimodal": lambda c: _bimodal(c - 0.2, c + 0.2, 0.08),
            "near_one": lambda c: _beta(c, 0.005)}


def missed(lo: np.ndarray, hi: np.ndarray, truth: float) -> tuple[float, float]:
    """(the share of intervals wholly below the truth, the share wholly above it)."""
    return float(np.mean(hi < truth)), float(np.mean(lo > truth))


def mean_misses(method: str, scenario: Scenario, n: int, samples: int, rng: np.random.Generator):
    """The one-sided misses of `method` ("t" or "logit t") for the mean of n runs drawn from `scenario`."""
    x = scenario.draw(rng, (samples, n))
    if method == "logit t":
        lo, hi, *_ = stats.bounded_interval(x, UNIT)
    else:
        _, lo, hi, *_ = stats.welch_interval([x], [1.0])
    return missed(lo, hi, scenario.mean)


def difference_misses(pair: tuple, n: int, m: int, samples: int, rng: np.random.Generator):
    """The one-sided misses of Welch's interval for mean(a) - w mean(b), n and m runs."""
    a, b, w = SCENARIOS[pair[0]], SCENARIOS[pair[1]], pair[2]
    _, lo, hi, *_ = stats.welch_interval([a.draw(rng, (samples, n)), b.draw(rng, (samples, m))], [1.0, -w])
    return missed(lo, hi, a.mean - w * b.mean)


def effect_misses(family: str, k: int, reps: int, effect: tuple, samples: int, rng: np.random.Generator):
    """The one-sided misses of Welch's interval over the cells for an effect of a 2^k design, `reps` runs a cell,
    each cell around its own centre (drawn once per design)."""
    centres = rng.uniform(0.955, 0.985, 2 ** k) if family == "near_one" else rng.uniform(0.3, 0.7, 2 ** k)
    arms = [FAMILIES[family](c)(rng, (samples, reps)) for c in centres]
    weights = stats.factorial_weights(k, effect)
    truth = sum(w * float(np.mean(FAMILIES[family](c)(rng, 200_000))) for w, c in zip(weights, centres))
    _, lo, hi, *_ = stats.welch_interval(arms, weights)
    return missed(lo, hi, truth)


def passes(below: float, above: float) -> bool:
    return 1 - below - above >= COVERAGE and max(below, above) <= ONE_SIDED


def table(samples: int = 20_000, seed: int = 0) -> list[dict]:
    """Every method at every size and scenario: rows of design, method, scenario, n, miss_below, miss_above, ok."""
    rng = np.random.default_rng(seed)
    rows = []

    def add(design, method, scenario, n, misses):
        rows.append({"design": design, "method": method, "scenario": scenario, "n": n, "miss_below": misses[0],
                     "miss_above": misses[1], "ok": passes(*misses)})

    for method, (name, scenario), n in itertools.product(("t", "logit t"), SCENARIOS.items(), SIZES):
        add("mean", method, name, n, mean_misses(method, scenario, n, samples, rng))
    for pair, n, m in itertools.product(PAIRS, SIZES, SIZES):
        label = f"{pair[0]} − {pair[2]:g} × {pair[1]}".replace(" 1 × ", " ")
        add("difference", "Welch t", label, (n, m), difference_misses(pair, n, m, samples, rng))
    for family, reps in itertools.product(FAMILIES, (2, 3)):
        for effect in ((0,), (0, 1)):
            add(f"2^5 effect of {len(effect)} factor{'s' * (len(effect) > 1)}", "Welch t over cells", family,
                f"{reps} a cell", effect_misses(family, 5, reps, effect, samples // 4, rng))
    return rows


def markdown(rows: list[dict]) -> str:
    """The table with one line per design, method and scenario, its sizes across: miss below / miss above."""
    lines = []
    for (design, method, scenario), group in itertools.groupby(rows, lambda r: (r["design"], r["method"],
                                                                                 r["scenario"])):
        cells = [f"{r['n']}: {r['miss_below']:.3f}/{r['miss_above']:.3f}{'' if r['ok'] else ' ✗'}" for r in group]
        lines.append(f"| {design} | {method} | {scenario} | {'; '.join(cells)} |")
    head = ["| design | method | scenario | runs per arm: miss below / miss above (✗: fails) |", "|---|---|---|---|"]
    return "\n".join(head + lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m finetune_lab.coverage", description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=20_000, help="simulated samples per cell (default 20,000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(markdown(table(args.samples, args.seed)), end="")


if __name__ == "__main__":
    main()
