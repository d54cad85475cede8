"""The claims file of `finetune-lab-verdicts`: its format, and the checks that refuse a claim it cannot decide.

A file holds `root:` (the folder its sweep names are under; --root overrides it) and `claims:`, a list of
claims, each a mapping of these keys (others are refused, each with one line naming the claim and the key):
  id, claim, experiment   its name, its words, its experiment
  runs, baseline          a sweep folder under the root, or a list of them (baseline: statistic=difference only)
  where, baseline_where   {config.key: value}: only the runs (baseline runs) with that value
  metric                  per run, from its metrics.json: test_accuracy (default); train_test_gap
                          (train_eval.accuracy - test.accuracy: the training set evaluated after training,
                          dropout off); or any dotted path to a number, e.g. original_task.edge_correlation,
                          layer_change.cka.block5_pool. A run without it is left out of the claim and counted.
  statistic               mean            the mean over the runs
                          difference      mean(runs) - mean(baseline)
                          critical_point  the smallest training-set size reaching `fraction` (0.95) of the
                                          largest size's mean test accuracy; with `reference_size: N`, of
                                          the mean at N training images: runs at larger sizes are left out
                                          and counted, and without two runs at N the claim is not run
                          trend           Somers' D of the metric on the run's level of `order` (the share of
                                          pairs of runs at different levels that rise with the level, minus
                                          those that fall; +1: every run beats every run of each earlier
                                          level); order: {key: model.freeze, levels: [all, ..., none]}
                          effect          an effect of a 2^k factorial design over the runs (finetune_lab.stats
                                          .factorial_effect): `factors` maps each config key to its [low, high]
                                          levels and `effect` lists one factor (a main effect: the mean over the
                                          cells at its high level minus the mean over those at its low level,
                                          each cell's mean counting once) or several (their interaction, the
                                          +-1 product contrast / 2^(k-1)), e.g.
                                            factors: {training.optimizer.name: [sgd, adam],
                                                      data.preprocess: [unit, vgg16]}
                                            effect: [training.optimizer.name, data.preprocess]
                                          A run at neither level of a factor is left out and counted; every
                                          cell needs two runs. `where` may fix other keys, never a factor.
  method                  the interval: t (default for mean and difference; Welch's for a difference) or
                          bootstrap (percentile, 10,000 resamples; the only one for critical_point and trend,
                          resampling runs within each size / level; for effect: t from the pooled within-cell
                          variance, or bootstrap resampling runs within each cell)
  for_each                a config key, e.g. training.optimizer.lr: the claim is decided on its own at each value
                          of the key its runs have, and holds only where it holds at every one (confirmed at
                          every level; refuted at some level; finetune_lab.rules.combine); a run without the key
                          is left out and counted
  repeats                 the id of another claim of the file that this one repeats at another setting (e.g. at
                          224x224 what the other decides at 48x48): below the table, whether the two agree or
                          disagree where both are decided, otherwise which is undecided or not run
  rule                    the claimed region (finetune_lab.rules): {above: t, margin: m}, {below: t, margin: m},
                          {no_worse: m}, {equivalent: m}, {within: [a, b]}
A claim whose runs are missing or too few (two per side, per size, per level or per cell at least; for
for_each, at each of its levels) is `not run`, never guessed.
"""
from __future__ import annotations

import re

import yaml

from . import rules
from .errors import UserError

STATISTICS = ("mean", "difference", "critical_point", "trend", "effect")
# Interval methods per statistic, the default first.
METHODS = {"mean": ("t", "bootstrap"), "difference": ("t", "bootstrap"), "critical_point": ("bootstrap",),
           "trend": ("bootstrap",), "effect": ("t", "bootstrap")}
CLAIM_KEYS = ("id", "experiment", "claim", "runs", "baseline", "where", "baseline_where", "statistic", "metric",
              "method", "order", "fraction", "reference_size", "factors", "effect", "for_each", "repeats", "rule")
# Keys that go with one statistic only.
ONLY_WITH = {"baseline": "difference", "order": "trend", "fraction": "critical_point",
             "reference_size": "critical_point", "factors": "effect",
             "effect": "effect"}
DEFAULT_METRIC = "test_accuracy"
GAP_METRIC = "train_test_gap"
METRIC_PATTERN = re.compile(r"[A-Za-z_]\w*(\.\w+)*")


class ClaimsError(UserError):
    """A claims file that cannot be used: one line naming the claim, the key and what is allowed."""


def load_claims(path: str) -> tuple[str | None, list[dict]]:
    """(the file's `root`, its claims, each checked)."""
    try:
        with open(path) as f:
            doc = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ClaimsError(f"{path}: {exc}") from None
    claims = doc.get("claims")
    if not isinstance(claims, list) or not claims:
        raise ClaimsError(f"{path}: expected a non-empty list under `claims:`")
    for claim in claims:
        check_claim(claim)
    ids = [claim["id"] for claim in claims]
    for claim in claims:
        if "repeats" in claim and (claim["repeats"] not in ids or claim["repeats"] == claim["id"]):
            raise ClaimsError(f"claim {claim['id']}: repeats={claim['repeats']!r} is not allowed: the id of "
                              "another claim of this file")
    return doc.get("root"), claims


def check_claim(claim: dict) -> None:
    """ClaimsError, one line naming the claim, the key and what is allowed, unless `claim` can be decided."""
    if not isinstance(claim, dict):
        raise ClaimsError(f"claims: {claim!r} is not a claim: each is a mapping of {', '.join(CLAIM_KEYS)}")
    name = claim.get("id", "?")
    for key in ("id", "claim", "runs", "statistic", "rule"):
        if key not in claim:
            raise ClaimsError(f"claim {name}: `{key}` is missing")
    if unknown := [key for key in claim if key not in CLAIM_KEYS]:
        raise ClaimsError(f"claim {name}: `{unknown[0]}` is not a claim key: one of {', '.join(CLAIM_KEYS)}")
    statistic = claim["statistic"]
    if statistic not in STATISTICS:
        raise ClaimsError(f"claim {name}: statistic={statistic!r} is not allowed: one of {', '.join(STATISTICS)}")
    for key, wanted in ONLY_WITH.items():
        if key in claim and statistic != wanted:
            raise ClaimsError(f"claim {name}: `{key}` goes with statistic={wanted}, and only with it")
    for wanted, key in (("difference", "baseline"), ("trend", "order"), ("effect", "factors"), ("effect", "effect")):
        if statistic == wanted and key not in claim:
            raise ClaimsError(f"claim {name}: statistic={wanted} needs `{key}`")
    if "baseline_where" in claim and "baseline" not in claim:
        raise ClaimsError(f"claim {name}: `baseline_where` filters a baseline, and this claim has none")
    if not isinstance(metric(claim), str) or not METRIC_PATTERN.fullmatch(metric(claim)) or (
            statistic == "critical_point" and "metric" in claim):
        raise ClaimsError(f"claim {name}: metric={metric(claim)!r} is not allowed: {DEFAULT_METRIC}, {GAP_METRIC} "
                          "or a dotted path to a number in metrics.json, e.g. original_task.edge_correlation "
                          "(critical_point uses test accuracy)")
    if "reference_size" in claim and not (isinstance(claim["reference_size"], int)
                                          and not isinstance(claim["reference_size"], bool)
                                          and claim["reference_size"] > 0):
        raise ClaimsError(f"claim {name}: reference_size={claim['reference_size']!r} is not allowed: a number of "
                          "training images, a whole number above 0, e.g. 1600")
    if method(claim) not in METHODS[statistic]:
        raise ClaimsError(f"claim {name}: method={claim['method']!r} is not allowed for statistic={statistic}: "
                          f"{' or '.join(METHODS[statistic])}")
    if statistic == "trend":
        check_order(name, claim["order"])
    if statistic == "effect":
        check_factors(name, claim["factors"], claim["effect"], claim.get("where") or {})
    if "for_each" in claim:
        check_for_each(name, claim)
    try:
        rules.region(claim["rule"], statistic)
    except ValueError as exc:
        raise ClaimsError(f"claim {name}: {exc}") from None


def check_order(name: str, order) -> None:
    levels = order.get("levels") if isinstance(order, dict) else None
    if not (isinstance(order, dict) and set(order) == {"key", "levels"} and isinstance(order["key"], str)
            and isinstance(levels, list) and len(levels) >= 2 and len({str(v) for v in levels}) == len(levels)):
        raise ClaimsError(f"claim {name}: order={order!r} is not allowed: {{key: CONFIG.KEY, levels: [two or "
                          "more distinct values, in the claimed order]}, e.g. "
                          "{key: model.freeze, levels: [all, block4, none]}")


def check_factors(name: str, factors, effect, where: dict) -> None:
    if not (isinstance(factors, dict) and factors and all(
            isinstance(key, str) and isinstance(levels, list) and len(levels) == 2 and str(levels[0]) != str(levels[1])
            for key, levels in factors.items())):
        raise ClaimsError(f"claim {name}: factors={factors!r} is not allowed: {{CONFIG.KEY: [low, high], ...}}, two "
                          "distinct levels per key, e.g. {training.optimizer.name: [sgd, adam], data.preprocess: "
                          "[unit, vgg16]}")
    if not (isinstance(effect, list) and effect and len(set(map(str, effect))) == len(effect)
            and all(key in factors for key in effect)):
        raise ClaimsError(f"claim {name}: effect={effect!r} is not allowed: a list of distinct factors, one for a main "
                          f"effect, several for their interaction; the factors are {', '.join(factors)}")
    if fixed := [key for key in where if key in factors]:
        raise ClaimsError(f"claim {name}: `where` fixes {fixed[0]}, a factor of this claim: a factor takes both its "
                          "levels; fix only other keys")


def check_for_each(name: str, claim: dict) -> None:
    key = claim["for_each"]
    taken = {**(claim.get("where") or {}), **(claim.get("baseline_where") or {}), **claim.get("factors", {}),
             **({claim["order"]["key"]: None} if "order" in claim else {})}
    if not isinstance(key, str) or not METRIC_PATTERN.fullmatch(key) or key in taken:
        raise ClaimsError(f"claim {name}: for_each={key!r} is not allowed: one config key, e.g. training.optimizer.lr, "
                          "that `where`, `baseline_where`, `factors` and `order` leave free")


def method(claim: dict) -> str:
    """The claim's interval method: its `method`, or its statistic's default."""
    return claim.get("method", METHODS[claim["statistic"]][0])


def metric(claim: dict) -> str:
    """The claim's metric: its `metric`, or test accuracy."""
    return claim.get("metric", DEFAULT_METRIC)
