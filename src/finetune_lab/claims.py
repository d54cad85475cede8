"""The claims file of `finetune-lab-verdicts`: its format, and the checks that refuse a claim it cannot decide.

A file holds `root:` (the folder its sweep names are under; --root overrides it) and `claims:`, a list of
claims (or it is a study file, finetune_lab/study.py, whose `claims:` are read with its `records` as their root;
finetune_lab.study_file.load_claims reads either), each a mapping of these keys (others are refused, each with one
line naming the claim and the key):
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
                          trend           the steps between adjacent levels of `order` (each the later level's
                                          mean minus the earlier's), the rule holding for every step:
                                          {above: 0} rises at every step, {equivalent: m} is flat within m;
                                          order: {key: model.freeze, levels: [block4, ..., none]} (leave out
                                          a level whose value is fixed by construction)
                          effect          an effect of a 2^k factorial design over the runs (finetune_lab.stats
                                          .factorial_effect): `factors` maps each config key to its [low, high]
                                          levels and `effect` lists one factor (a main effect: the mean over the
                                          cells at its high level minus the mean over those at its low level,
                                          each cell's mean counting once) or several (their interaction, the
                                          difference of simple effects: for two factors, the effect of one at
                                          the other's high level minus at its low level), e.g.
                                            factors: {training.optimizer.name: [sgd, adam],
                                                      data.preprocess: [unit, vgg16]}
                                            effect: [training.optimizer.name, data.preprocess]
                                          A run at neither level of a factor is left out and counted; every
                                          cell needs two runs. `where` may fix other keys, never a factor.
  planned                 the replicates per arm (per side, size, level or cell) the study plans: until every arm
                          has them the claim is `not run (k of n)`, so no verdict rests on a sweep half done
  for_each                a config key, e.g. training.optimizer.lr: the claim is decided on its own at each value
                          of the key its runs have, and holds only where it holds at every one (confirmed at
                          every level; refuted at some level; finetune_lab.rules.combine); a run without the key
                          is left out and counted
  repeats                 the id of another claim of the file that this one repeats at another setting (e.g. at
                          224x224 what the other decides at 48x48): below the table, whether the two agree or
                          disagree where both are decided, otherwise which is undecided or not run
  rule                    the claimed region (finetune_lab.rules): {above: t, margin: m}, {below: t, margin: m},
                          {no_worse: m}, {equivalent: m}, {within: [a, b]}
The interval follows from the statistic and the metric (finetune_lab.stats): Welch's t for differences,
effects, trend steps and a critical point's sizes against its target; for a mean, t on the logit scale where the
metric has a range (accuracies, CKA, correlations), else t. Where the runs of an arm come from several data
subsets (`data.split_seed`), the replicates are the subsets' means. A claim whose replicates are fewer than its
method covers at (stats.FEWEST, shown by tests/test_coverage.py) or than it plans is `not run`, never guessed.
"""
from __future__ import annotations

import re

from . import rules
from .errors import UserError

STATISTICS = ("mean", "difference", "critical_point", "trend", "effect")
CLAIM_KEYS = ("id", "experiment", "claim", "runs", "baseline", "where", "baseline_where", "statistic", "metric",
              "order", "fraction", "reference_size", "factors", "effect", "for_each", "repeats", "planned", "rule")
# Keys that go with one statistic only.
ONLY_WITH = {"baseline": "difference", "order": "trend", "fraction": "critical_point",
             "reference_size": "critical_point", "factors": "effect",
             "effect": "effect"}
DEFAULT_METRIC = "test_accuracy"
GAP_METRIC = "train_test_gap"
METRIC_PATTERN = re.compile(r"[A-Za-z_]\w*(\.\w+)*")


class ClaimsError(UserError):
    """A claims file that cannot be used: one line naming the claim, the key and what is allowed."""


def check_claims(claims: list) -> None:
    """Each claim checked (check_claim), and each `repeats` naming another claim of the list."""
    for claim in claims:
        check_claim(claim)
    ids = [claim["id"] for claim in claims]
    for claim in claims:
        if "repeats" in claim and (claim["repeats"] not in ids or claim["repeats"] == claim["id"]):
            raise ClaimsError(f"claim {claim['id']}: repeats={claim['repeats']!r} is not allowed: the id of "
                              "another claim of this file")


def check_claim(claim: dict) -> None:
    """ClaimsError, one line naming the claim, the key and what is allowed, unless `claim` can be decided."""
    if not isinstance(claim, dict):
        raise ClaimsError(f"claims: {claim!r} is not a claim: each is a mapping of {', '.join(CLAIM_KEYS)}")
    name = claim.get("id", "?")
    for key in ("id", "claim", "runs", "statistic", "rule"):
        if key not in claim:
            raise ClaimsError(f"claim {name}: `{key}` is missing")
    if "method" in claim:
        raise ClaimsError(f"claim {name}: `method` is not a claim key: the interval follows from the statistic and "
                          "the metric (finetune-lab-verdicts --help)")
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
    if "planned" in claim and not (isinstance(claim["planned"], int) and not isinstance(claim["planned"], bool)
                                   and claim["planned"] >= 2):
        raise ClaimsError(f"claim {name}: planned={claim['planned']!r} is not allowed: the replicates per arm the "
                          "study plans, a whole number of 2 or more")
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


def metric(claim: dict) -> str:
    """The claim's metric: its `metric`, or test accuracy."""
    return claim.get("metric", DEFAULT_METRIC)
