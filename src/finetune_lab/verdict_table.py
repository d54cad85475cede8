"""The verdict table of `finetune-lab-verdicts` in markdown. At a glance first: how many claims are confirmed,
refuted, inconclusive or not run, a summary table (one short row per claim: its statistic with the interval,
the claimed region, the verdict, Holm) and a link to the forest plot (finetune_lab.plots.forest_plot). Then each
claim in full: a legend (what the verdict words mean, how many claims the table decides, how many survive Holm)
and one row per claim as finetune_lab.verdicts.evaluate made it: the setting, the statistic with its interval
and the runs behind it, the claimed region, the verdict.
"""
from __future__ import annotations

import pandas as pd

from . import claims, rules, stats, tables

# How a statistic is written in the rule and statistic columns, and whether its numbers carry a sign.
SYMBOLS = {"mean": ("mean", False), "difference": ("Δ", True), "critical_point": ("size", False),
           "trend": ("step", True), "effect": ("effect", True)}
DIGITS = 4   # decimals of an interval end: enough to see a boundary case (rules.FRAGILE)
COLUMNS = (("experiment", "exp."), ("id_shown", "id"), ("claim", "claim"),
           ("data", "data (source, split, test n)"), ("input", "input"), ("weights", "weights"), ("head", "head"),
           ("optimizer", "optimizer"), ("schedule", "schedule"), ("seeds", "seeds"),
           ("measured", "statistic (95% interval), method, runs"), ("rule", "rule (claimed region)"),
           ("verdict", "verdict"), ("holm_shown", "survives Holm (p, adjusted p)"))
SUMMARY_COLUMNS = (("id_shown", "id"), ("claim_short", "claim"), ("statistic_shown", "statistic (95% interval)"),
                   ("rule", "rule (claimed region)"), ("verdict", "verdict"), ("holm_short", "Holm (adjusted p)"))
VERDICTS = ("confirmed", "refuted", "inconclusive", "not run")
FULL_HEADING = "## Each claim in full"


def describe_rule(claim: dict) -> str:
    """The claimed region in words, e.g. "Δ > +0.02"."""
    return rules.describe(rules.region(claim["rule"], claim["statistic"]), *SYMBOLS[claim["statistic"]])


def numbers(statistic: str, value: float, lo: float, hi: float) -> str:
    """A statistic and its interval, e.g. "+0.412 (+0.3801–+0.4402)"; a critical size as a whole number."""
    if statistic == "critical_point":
        return f"{value:.0f}"
    sign = "+" if SYMBOLS[statistic][1] else ""
    return f"{value:{sign}.3f} ({lo:{sign}.{DIGITS}f}–{hi:{sign}.{DIGITS}f})"


def measured(row: dict) -> str:
    """The statistic cell: value (interval), method, and the runs behind it."""
    symbol = "critical size" if row["statistic"] == "critical_point" else SYMBOLS[row["statistic"]][0]
    n, notes, details = runs_shown(row)
    if row["verdict"] == "not run":
        return f"— ({'; '.join([n, *notes, *details])})"
    of = "" if row["metric"] == claims.DEFAULT_METRIC else f" of {row['metric']}"
    of += f" of {row['contrast']}" if row["statistic"] == "effect" else ""
    if "parts" in row:
        what = f"at each {row['for_each']}" if "for_each" in row else (
            f"{row['point']:,} from" if row["statistic"] == "critical_point" else "at each step")
        head = f"{symbol}{of} {what} [{parts_shown(row)}]"
    else:
        head = f"{symbol}{of} {numbers(row['statistic'], row['value'], row['ci_lo'], row['ci_hi'])}"
    runs = n + (f" ({'; '.join(notes)})" if notes else "")
    return f"{head}, {row['method']}, {'; '.join([runs, *details])}"


def runs_shown(row: dict) -> tuple[str, list[str], list[str]]:
    """The runs behind a row: n (vs the baseline's); notes on the runs left out (without the metric, at other
    levels or cells, without the for_each key) and on replicates that are subset means; details: a trend's
    levels (their means, or while not run their counts), an effect's cells, why a claim is not run (too few
    replicates for its method, or fewer than it plans)."""
    n = f"n={row['n']}" + (f" vs {row['baseline_n']}" if "baseline_n" in row else "")
    notes = [f"{row['missing']} without the metric"] if row.get("missing") else []
    notes += [f"replicates: the means of {row['subsets']} data subsets"] if row.get("subsets") else []
    notes += [f"{row['other_levels']} at other levels"] if row.get("other_levels") else []
    notes += [f"{row['above_reference']} above the reference size {row['reference_size']:,}"
              ] if row.get("above_reference") else []
    notes += [f"none at the reference size {row['reference_size']:,}"
              ] if "reference_size" in row and row["reference_size"] not in row["sizes"] else []
    notes += [f"{row['without_key']} without {row['for_each']}"] if row.get("without_key") else []
    details = []
    if row["statistic"] == "effect":
        fewest, most = row["replicates"]
        details.append(f"{row['cells']} cells x {fewest}" + (f"–{most}" if most != fewest else ""))
    if row["statistic"] == "trend" and "levels" in row:
        if row["verdict"] == "not run":
            details.append(f"by {row['order_key']}: " + ", ".join(f"{lv['level']} n={lv['n']}" for lv in row["levels"]))
        else:
            details.append(f"by {row['order_key']}: " + ", ".join(f"{lv['level']} {lv['mean']:.3f}"
                                                                  for lv in row["levels"]))
    if row["verdict"] == "not run":
        details += [why_not_run(row)]
        details += [f"[{parts_shown(row)}]"] if row.get("parts") and "for_each" in row else []
    return n, notes, [d for d in details if d]


def why_not_run(row: dict) -> str:
    """Why a row is not run, e.g. "not run (3 of 8 planned)", "needs 6 replicates per arm for Welch t"."""
    least, planned = row.get("replicates_least"), row.get("planned")
    if planned and least is not None and least < planned:
        return f"not run ({least} of {planned} planned per arm)"
    if "fewest" in row and least is not None and least < row["fewest"]:
        per = "per cell" if row["statistic"] == "effect" else "per arm"
        have = "" if least is None else f", {least} at the fewest"
        return f"needs {row['fewest']} replicates {per} for its interval{have}"
    return ""


def parts_shown(row: dict) -> str:
    """A claim's comparisons, e.g. "lr 1e-05: +0.41 (+0.3300–+0.4900) confirmed, n=3; lr 3e-05: ..."."""
    parts = []
    for part in row["parts"]:
        symbol = "" if row["statistic"] not in ("critical_point",) else "Δ "
        kind = "difference" if row["statistic"] in ("critical_point", "trend") else row["statistic"]
        decided = (f"{symbol}{numbers(kind, part['value'], part['ci_lo'], part['ci_hi'])} {part['verdict']}, "
                   if part["verdict"] != "not run" else "")
        parts.append(f"{part['label']}: {decided}{part['n_shown']}")
    return "; ".join(parts)


def holm_shown(row: dict) -> str:
    if row["holm"] == "—":
        return "—"
    return f"{row['holm']} ({_p(row['p'])}, {_p(row['p_holm'])})"


def verdict_word(row: dict) -> str:
    """The verdict in bold, "(fragile)" where an interval end lies within rules.FRAGILE of its boundary."""
    return f"**{row['verdict']}**" + (" (fragile)" if row.get("fragile") else "")


def verdict_shown(row: dict) -> str:
    """`verdict_word`, and the claims that read the same runs."""
    twins = row.get("same_evidence") or []
    return verdict_word(row) + (f"; same runs as {', '.join(f'`{t}`' for t in twins)}" if twins else "")


def _p(p: float) -> str:
    return "<0.0001" if p < 1e-4 else f"{p:.2g}"


def legend(rows: list[dict]) -> str:
    """What the verdict words mean, how many claims the table decides, and how many survive Holm."""
    decided = [row for row in rows if row["verdict"] != "not run"]
    clear = [row for row in decided if row["verdict"] in ("confirmed", "refuted")]
    kept = sum(row["holm"] == "yes" for row in clear)
    level = f"{stats.LEVEL:.0%}"
    return "\n".join([
        f"This table decides {len(decided)} of its {len(rows)} claims ({len(rows) - len(decided)} not run), each "
        f"from the {level} interval of the statistic its row names, against the region its `rule` column claims:",
        "",
        "- **confirmed**: the interval lies wholly inside the claimed region;",
        "- **refuted**: the interval lies wholly outside it;",
        "- **inconclusive**: the interval reaches both; an interval end exactly on a `>` or `<` boundary counts as "
        "both (a `≤ … ≤` range holds its ends);",
        "- **not run**: the claim's replicates are missing, fewer than it plans, or fewer than its interval method "
        "covers at; the row says which;",
        f"- **(fragile)**: decided, but an interval end lies within {rules.FRAGILE:g} of the boundary it cleared.",
        "",
        "Intervals (docs/statistics.md): a mean of an accuracy (or another metric with a range) is read on the logit "
        "scale (`logit t`), so its interval stays inside the range; a difference, a factorial effect, each step of "
        "a trend and each side of a critical point's range get Welch's t-interval. Each method is used only at the "
        "replicates per arm where a coverage simulation (`python -m finetune_lab.coverage`, tests/test_coverage.py) "
        f"shows that it covers: {', '.join(f'{m} from {n}' for m, n in stats.FEWEST.items())} per arm, two per "
        f"cell in a factorial design of {stats.MANY_CELLS} cells or more. Runs of one arm trained on different data "
        "subsets count as one replicate per subset (their mean).",
        "",
        "A margin is the smallest effect that counts and moves the boundary: `above 0, margin 0.02` claims "
        "Δ > +0.02, so it is confirmed only when the whole interval lies above +0.02 and refuted when it lies "
        "below +0.02 (any effect smaller than the margin). `no_worse` claims Δ > −margin, `equivalent` "
        "|Δ| < margin. An interaction of two factors is the difference of one factor's effects at the other's two "
        "levels, on the scale its claim's words read.",
        "",
        "A claim decided from several comparisons (at each level of a key, at each step of a trend, on either side "
        "of a critical point's range) holds only where every comparison holds: confirmed when every comparison's "
        "interval is confirmed; refuted when the smallest refuting p times the number of comparisons is below "
        f"{stats.ALPHA:g}; inconclusive otherwise.",
        "",
        f"Multiplicity: at {level} each, some of {len(decided)} verdicts may be chance. Each decided claim has a "
        f"p-value for its verdict (below {stats.ALPHA:g} exactly when its interval clears the boundary), and "
        f"Holm's step-down correction over all {len(decided)} keeps the chance of any false confirmed or refuted "
        f"verdict in the table at or below {stats.ALPHA:g}: {kept} of the {len(clear)} confirmed or refuted verdicts "
        "survive it (last column: yes / no, with the p-value and the Holm-adjusted p-value). Claims that read the "
        "very same runs for the same statistic are named in the verdict column: their verdicts are not separate "
        "evidence.",
        ""])


def markdown(rows: list[dict], plot: str | None = None) -> str:
    """At a glance (`summary`; `plot`: the forest plot's path as the file links it), then each claim in full: the
    legend, the table (one row per claim, its cells escaped by finetune_lab.tables) and the repeats."""
    cells = [{**row, "id_shown": f"`{row['id']}`", "measured": measured(row), "verdict": verdict_shown(row),
              "holm_shown": holm_shown(row)} for row in rows]
    return (summary(rows, plot) + f"\n{FULL_HEADING}\n\n" + legend(rows) + "\n" + _frame(cells, COLUMNS) + "\n"
            + repeated(rows))


def _frame(cells: list[dict], columns) -> str:
    """`cells` as a markdown table of `columns` ((key, title) pairs), escaped by finetune_lab.tables."""
    frame = pd.DataFrame([[str(row[key]) for key, _ in columns] for row in cells],
                         columns=[title for _, title in columns])
    return tables.markdown(frame)


# ----- at a glance -----

def counts(rows: list[dict]) -> str:
    """How many claims have each verdict, e.g. "52 claims: 20 confirmed, 14 refuted, 2 not run"."""
    found = [row["verdict"] for row in rows]
    return f"{len(rows)} claims: " + ", ".join(f"{found.count(verdict)} {verdict}" for verdict in VERDICTS
                                                if verdict in found)


def short_claim(text: str, width: int = 90) -> str:
    """The claim's words cut at a word boundary to at most `width` characters, "…" where cut."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    cut = text[:width - 1]
    if text[width - 1] != " " and " " in cut:  # the last word is cut: leave it out
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:.(") + "…"


def statistic_shown(row: dict) -> str:
    """The summary's statistic cell: e.g. "Δ +0.209 (+0.171–+0.246)", "Δ of train_test_gap …", "size 240
    (240–1600)"; a claim decided at each level of a key counts its levels' verdicts (the plot draws each);
    "—" while not run."""
    symbol = SYMBOLS[row["statistic"]][0]
    of = "" if row["metric"] == claims.DEFAULT_METRIC else f" of {row['metric']}"
    if row.get("parts") or "for_each" in row:
        levels = [part["verdict"] for part in row.get("parts", [])]
        found = ", ".join(f"{levels.count(v)} {v}" for v in VERDICTS if v in levels)
        what = (f"{symbol}{of} at each {row['for_each'].rsplit('.', 1)[-1]}" if "for_each" in row else
                f"{symbol}{of} at each step" if row["statistic"] == "trend" else
                f"critical size {row.get('point', '?'):,}; either side of its range")
        return f"{what}: {found or 'no level'}"
    if row["verdict"] == "not run":
        return "—"
    return f"{symbol}{of} {numbers(row['statistic'], row['value'], row['ci_lo'], row['ci_hi'])}"


def summary(rows: list[dict], plot: str | None = None) -> str:
    """How many claims have each verdict and survive Holm, a short table (one row per claim: id, claim, statistic
    with its interval, claimed region, verdict, Holm) and, with `plot`, the forest plot as an image link."""
    clear = [row for row in rows if row["verdict"] in ("confirmed", "refuted")]
    kept = sum(row["holm"] == "yes" for row in clear)
    cells = [{**row, "id_shown": f"`{row['id']}`", "claim_short": short_claim(row["claim"]),
              "statistic_shown": statistic_shown(row), "verdict": verdict_word(row),
              "holm_short": row["holm"] if row["holm"] == "—" else f"{row['holm']} ({_p(row['p_holm'])})"}
             for row in rows]
    image = ([f"![Forest plot: each claim's 95% interval against its claimed region, coloured by verdict]({plot})",
              ""] if plot else [])
    return "\n".join([
        "## At a glance", "",
        f"{counts(rows)}; {kept} of the {len(clear)} confirmed or refuted verdicts survive Holm's correction over "
        f"the table. What the words mean, and each claim's setting and runs, are below (*{FULL_HEADING[3:]}*).", "",
        _frame(cells, SUMMARY_COLUMNS), "", *image])


def repeated(rows: list[dict]) -> str:
    """For each claim that repeats another at another setting, whether their verdicts agree: they agree or
    disagree only where both are decided (confirmed or refuted) and both survive Holm; an inconclusive one is
    named as undecided, a decided one that does not survive Holm as such."""
    by_id = {row["id"]: row for row in rows}
    pairs = [(row, by_id[row["repeats"]]) for row in rows if row.get("repeats")]
    if not pairs:
        return ""
    lines = ["", "Claims put at two settings (the second repeats the first):", ""]
    for row, first in pairs:
        verdicts = (first["verdict"], row["verdict"])
        weak = [r for r in (first, row) if r["holm"] != "yes"]
        if "not run" in verdicts:
            word = "not comparable yet (one is not run)"
        elif "inconclusive" in verdicts:
            undecided = " and ".join(f"`{r['id']}`" for r in (first, row) if r["verdict"] == "inconclusive")
            word = f"neither agree nor disagree: {undecided} undecided"
        elif weak:
            word = ("neither agree nor disagree: " + " and ".join(f"`{r['id']}`" for r in weak)
                    + " not surviving Holm")
        else:
            word = "agree" if verdicts[0] == verdicts[1] else "**disagree**"
        lines.append(f"- `{first['id']}` {first['verdict']}, `{row['id']}` {row['verdict']}: {word}")
    return "\n".join(lines) + "\n"
