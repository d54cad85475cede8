"""The plan of `finetune-lab-verdicts CLAIMS.yaml --plan`: for each claim the verdict table leaves undecided
(inconclusive, or not run for too few replicates) or marks fragile, the replicates per arm that would decide it
with POWER (80%) at the effect and spread its runs show now, and what the runs still missing would cost, from the
runs' own recorded wall times.

Power, by simulation through the table's own code. The arms and comparisons are the claim's design
(finetune_lab.measure.design), those the table's intervals are read from; the plan simulates, counts and costs the
arms its comparisons read. Each arm's replicates are drawn DRAWS times from a normal with the arm's observed mean
and sd, clipped into the metric's range where it has one (an accuracy into [0, 1]); each draw gets the interval
the table would compute (stats.welch_interval for a difference, an effect, a trend's step and a critical point's
side, clipped as stats.contrast clips it; stats.bounded_interval for the mean of a bounded metric) and
rules.decide's verdict; the power at k replicates per arm is the share of draws that decide
(confirmed or refuted). A claim decided from several comparisons (each level of `for_each`, each step of a trend,
each side of a critical point) is simulated as a whole, as rules.combine decides it: a draw decides when every
comparison is confirmed at 95%, or when one is refuted at 1 - 0.05/m for m comparisons (its interval at that
level clears the boundary exactly when m times its refuting p is below 0.05: the Bonferroni factor). An arm that
several comparisons share (a trend's middle level, a critical point's reference size) is drawn once a draw.

A normal rather than the observed replicates resampled: with the three to eight replicates an arm has, a resample
takes only those few values, and its spread is the observed sd shrunk by sqrt((n - 1) / n), so it would promise
decisions too early; the normal keeps the observed sd, and assumes the arm's replicates are roughly normal
around their mean. Neither sees what the runs have not shown: an arm whose seeds collapse now and then (E10's)
is wider than a normal with the sd of its few replicates, and an arm whose replicates all agree (sd 0) is
simulated as a point. Both take the observed effect and sd as the truth (plug-in power): from few replicates the
planned number is itself uncertain, a guide to what to run next, never a verdict.

The plan for a claim: the smallest k, at least the fewest replicates its method covers at (stats.FEWEST), its
`planned` replicates and the fewest its arms have now, whose power is POWER or more, searched up to CAP ("not
within CAP" where it never gets there: an effect that sits on its boundary decides at no k). Each arm is
simulated at k replicates or at the more it has. The draws share their random numbers across k (an arm's first
k columns of one array), so that the power rises smoothly with k and k is found by bisection; they are seeded
by the claim's id, so that the plan is the same on every rerun. A claim whose arms lack the two replicates a
spread needs says what it lacks instead (e.g. "no runs yet: run sweeps e6_subset5").

Cost: the runs still missing, for every arm max(0, k - have) replicates times its runs per replicate (a replicate
is a data subset's mean over its runs where the arm's runs come from several subsets, finetune_lab.measure),
each at the median wall time (metrics.json's `wall_seconds`, as finetune_lab.sweep_times reads it) of that
arm's recorded runs, summed over the arms, in hours on the CPU those runs recorded (provenance.cpu). Claims that
share sweeps share runs: the hours of different rows do not add up.

NumPy and SciPy only (no TensorFlow), as finetune_lab.stats.
"""
from __future__ import annotations

import dataclasses
import math
import statistics
import zlib

import numpy as np
import pandas as pd

from . import machine, measure, rules, stats, tables
from .verdict_table import statistic_shown, verdict_word

POWER = 0.8     # the share of simulated draws that must decide the claim
CAP = 40        # the most replicates per arm the plan searches
DRAWS = 2000    # simulated draws per replicate count (the power's standard error near 0.8: about 0.009)
SEED = 0
COLUMNS = (("id", "id"), ("verdict", "verdict now"), ("statistic", "statistic now"), ("now", "replicates per arm now"),
           ("needed", "replicates per arm needed"), ("extra_runs", "extra runs"), ("hours", "estimated hours"),
           ("note", "note"))
_DECIDE = np.frompyfunc(rules.decide, 3, 1)   # rules.decide over arrays of interval ends


def compared(found: measure.Design) -> measure.Design:
    """The design with only the arms its comparisons read (a critical point's sizes between its sides are shown in
    its row, not compared): those the plan simulates, counts and costs."""
    used = {name for comparison in found.comparisons for name in comparison.arms}
    return dataclasses.replace(found, arms={name: arm for name, arm in found.arms.items() if name in used})


# ----- power -----

class Simulation:
    """A design's arms drawn DRAWS times from normals at their observed means and sds (`power`)."""

    def __init__(self, design: measure.Design, seed: int, draws: int = DRAWS, cap: int = CAP):
        rng = np.random.default_rng(seed)
        self.design = design
        self.values = {name: np.asarray(arm.values, dtype=float) for name, arm in design.arms.items()}
        self.noise = {name: rng.standard_normal((draws, max(cap, arm.have))) for name, arm in design.arms.items()}

    def sample(self, name: str, k: int) -> np.ndarray:
        """Draws of arm `name` at k replicates, or at the more it has: shape (draws, n)."""
        values = self.values[name]
        x = values.mean() + values.std(ddof=1) * self.noise[name][:, :max(k, values.size)]
        return np.clip(x, *self.design.bounds) if self.design.bounds else x

    def power(self, k: int) -> float:
        """The share of draws at k replicates per arm whose verdict is confirmed or refuted (rules.combine)."""
        samples = {name: self.sample(name, k) for name in self.design.arms}
        m = len(self.design.comparisons)
        confirmed, refuted = True, False
        claimed = self.design.claimed
        for comparison in self.design.comparisons:
            at_95 = verdicts_of(comparison, samples, stats.LEVEL, claimed)
            confirmed = confirmed & (at_95 == "confirmed")
            refuted = refuted | ((at_95 if m == 1 else verdicts_of(comparison, samples, 1 - stats.ALPHA / m, claimed))
                                 == "refuted")
        return float(np.mean(confirmed | refuted))


def interval(comparison: measure.Comparison, samples: dict[str, np.ndarray],
             level: float) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) of each draw's interval at `level` (samples: arm name -> draws x replicates), computed as the verdict
    table computes it (measure.estimate)."""
    arms = [samples[name] for name in comparison.arms]
    if comparison.mean and comparison.bounds:
        lo, hi, *_ = stats.bounded_interval(arms[0], comparison.bounds, level)
        return lo, hi
    _, lo, hi, *_ = stats.welch_interval(arms, comparison.weights, level)
    if comparison.bounds:
        a, b = comparison.bounds
        lo = np.maximum(lo, sum(min(w * a, w * b) for w in comparison.weights))
        hi = np.minimum(hi, sum(max(w * a, w * b) for w in comparison.weights))
    return lo, hi


def verdicts_of(comparison: measure.Comparison, samples: dict[str, np.ndarray], level: float,
                claimed: rules.Region | None = None) -> np.ndarray:
    """rules.decide's verdict of each draw's interval at `level` (`interval`) against the comparison's region, or
    the claim's own (`claimed`)."""
    return _DECIDE(*interval(comparison, samples, level), comparison.region or claimed)


def needed(simulation: Simulation, start: int, cap: int = CAP) -> tuple[int | None, float]:
    """(the smallest k in [start, cap] whose power is POWER or more, None where there is none; the power at that k,
    or at the cap)."""
    first = simulation.power(start)
    if first >= POWER:
        return start, first
    last = simulation.power(cap) if cap > start else first
    if last < POWER:
        return None, last
    lo, hi, at_hi = start, cap, last   # power(lo) < POWER <= power(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if (p := simulation.power(mid)) >= POWER:
            hi, at_hi = mid, p
        else:
            lo = mid
    return hi, at_hi


# ----- cost -----

def cost(design: measure.Design, k: int) -> dict:
    """The runs still missing at k replicates per arm (`extra_runs`), their hours at each arm's median recorded
    wall time (`hours`, over the arms with times), the CPUs those times were measured on (`cpus`) and the arms
    without recorded times (`untimed`)."""
    extra, seconds, cpus, untimed = 0, 0.0, set(), []
    for name, arm in design.arms.items():
        runs = math.ceil(max(0, k - arm.have) * arm.per_replicate - 1e-9)
        if not runs:
            continue
        extra += runs
        timed = [run for run in arm.runs if _number(run.metrics.get("wall_seconds"))]
        if not timed:
            untimed.append(name)
            continue
        seconds += runs * statistics.median(run.metrics["wall_seconds"] for run in timed)
        cpus |= {machine.recorded_cpu(run.metrics) for run in timed}
    return {"extra_runs": extra, "hours": seconds / 3600, "cpus": cpus, "untimed": untimed}


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# ----- the plan -----

def undecided(row: dict) -> bool:
    """Whether the plan lists a verdict row: inconclusive, not run, or fragile."""
    return row["verdict"] in ("inconclusive", "not run") or bool(row.get("fragile"))


def plan(declared: list[dict], rows: list[dict], root: str, loaded: dict | None = None) -> list[dict]:
    """One plan row for each undecided or fragile claim (`undecided`), in the claims file's order; `rows` are the
    claims' verdict rows (verdicts.evaluate), `loaded` the runs read so far (measure.collect)."""
    out = []
    for claim, row in zip(declared, rows):
        if undecided(row):
            runs, _, baseline, _ = measure.claim_runs(claim, root, loaded)
            out.append(plan_claim(claim, row, measure.design(claim, runs, baseline), empty_sweeps(claim, root, loaded)))
    return out


def empty_sweeps(claim: dict, root: str, loaded: dict | None = None) -> list[str]:
    """The claim's sweeps (runs and baseline) that hold no completed run it reads."""
    named = [(sweep, claim.get("where")) for sweep in measure.sweep_names(claim["runs"])]
    named += [(sweep, claim.get("baseline_where", claim.get("where")))
              for sweep in measure.sweep_names(claim.get("baseline", []))]
    return list(dict.fromkeys(sweep for sweep, where in named
                              if not measure.collect(root, sweep, where, loaded)[0]))


def plan_claim(claim: dict, row: dict, found: measure.Design, empty: list[str]) -> dict:
    """The plan row of one claim from its design (measure.design): its verdict and statistic now, its replicates
    per arm now, those needed, the extra runs and their hours, and a note (what it lacks, the power reached, the
    sweeps not run yet)."""
    found = compared(found)
    have = sorted(arm.have for arm in found.arms.values())
    out = {"id": f"`{claim['id']}`", "verdict": verdict_word(row), "statistic": statistic_shown(row),
           "now": "0" if not have else f"{have[0]}" + (f"–{have[-1]}" if have[-1] != have[0] else ""),
           "needed": "—", "extra_runs": "—", "hours": "—", "cpus": set()}
    run_sweeps = f"run sweeps {', '.join(empty)}" if empty else ""
    if not found.read:
        return {**out, "note": "no runs yet" + (f": {run_sweeps}" if run_sweeps else "")}
    if found.lacks:
        return {**out, "note": "lacks " + ", ".join(found.lacks) + (f"; {run_sweeps}" if run_sweeps else "")}
    start = max(found.fewest, have[0], claim.get("planned") or 0)
    k, power = needed(Simulation(found, _seed(claim["id"]), cap=max(CAP, start)), start)
    notes = []
    if k is None:
        notes.append(f"power {power:.0%} at {max(start, CAP)}: the effect lies too near its boundary for its spread")
        out["needed"] = f"not within {CAP}"
    else:
        spent = cost(found, k)
        notes.append(f"power {power:.0%} at {k}")
        if spent["untimed"]:
            notes.append("no recorded times for " + ", ".join(spent["untimed"]))
        out.update(needed=str(k), extra_runs=str(spent["extra_runs"]), cpus=spent["cpus"],
                   hours=f"{spent['hours']:.2f}" + ("+" if spent["untimed"] else ""))
    if subsets := sorted({round(arm.per_replicate, 1) for arm in found.arms.values() if arm.per_replicate > 1}):
        notes.append(f"a replicate is a data subset's mean of {'/'.join(f'{s:g}' for s in subsets)} runs")
    if claim["statistic"] == "effect":
        notes.append("replicates per cell")
    notes += [run_sweeps] if run_sweeps else []
    return {**out, "note": "; ".join(notes)}


def _seed(name: str) -> list[int]:
    """The simulation's seed for a claim: the same on every rerun, whatever other claims the file holds."""
    return [SEED, zlib.crc32(name.encode())]


def markdown(planned: list[dict]) -> str:
    """The plan as markdown: a heading, what its numbers mean, the table, and the CPUs its hours were measured on."""
    cpus = sorted(set().union(*(row["cpus"] for row in planned))) if planned else []
    frame = pd.DataFrame([[row[key] for key, _ in COLUMNS] for row in planned], columns=[t for _, t in COLUMNS])
    return "\n".join([
        "## Plan: the replicates that would decide each undecided or fragile claim", "",
        f"{len(planned)} claim{'s' * (len(planned) != 1)} inconclusive, not run or fragile. Replicates per arm "
        f"needed: the fewest (at least what the claim's method covers at, what it plans and what it has) at which "
        f"{POWER:.0%} of {DRAWS:,} simulated studies decide it (confirmed or refuted), each arm drawn from a normal "
        f"at its observed mean and sd, searched up to {CAP}. Extra runs: the runs still missing at that number; "
        "estimated hours: each at the median wall time of its arm's recorded runs (rows that share sweeps share "
        "runs: the hours do not add up; a + where some arm has no recorded time). How: finetune_lab/planner.py.",
        "",
        tables.markdown(frame) if planned else "Every claim is decided and none is fragile.", "",
        f"Hours measured on: {'; '.join(cpus) or 'no recorded times'}.", ""])
