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
           "trend": ("D", True), "effect": ("effect", True)}
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
    """A statistic and its interval, e.g. "+0.412 (+0.380–+0.440)"; a critical size as a whole number."""
    if statistic == "critical_point":
        return f"{value:.0f} ({lo:.0f}–{hi:.0f})"
    form = "{:+.3f}" if SYMBOLS[statistic][1] else "{:.3f}"
    return f"{form.format(value)} ({form.format(lo)}–{form.format(hi)})"


def measured(row: dict) -> str:
    """The statistic cell: value (interval), method, and the runs behind it."""
    symbol = "critical size" if row["statistic"] == "critical_point" else SYMBOLS[row["statistic"]][0]
    n, notes, details = runs_shown(row)
    if row["verdict"] == "not run":
        return f"— ({'; '.join([n, *notes, *details])})"
    of = "" if row["metric"] == claims.DEFAULT_METRIC else f" of {row['metric']}"
    of += f" of {row['contrast']}" if row["statistic"] == "effect" else ""
    if "for_each" in row:
        head = f"{symbol}{of} at each {row['for_each']} [{each_shown(row)}]"
    else:
        head = f"{symbol}{of} {numbers(row['statistic'], row['value'], row['ci_lo'], row['ci_hi'])}"
    runs = n + (f" ({'; '.join(notes)})" if notes else "")
    return f"{head}, {row['method']}, {'; '.join([runs, *details])}"


def runs_shown(row: dict) -> tuple[str, list[str], list[str]]:
    """The runs behind a row: n (vs the baseline's); notes on the runs left out (without the metric, at other
    levels or cells, without the for_each key); details: a trend's levels (their means, or while not run their
    counts), an effect's cells, the levels of a for_each claim that have too few runs."""
    n = f"n={row['n']}" + (f" vs {row['baseline_n']}" if row["statistic"] == "difference" else "")
    notes = [f"{row['missing']} without the metric"] if row["missing"] else []
    notes += [f"{row['other_levels']} at other levels"] if row.get("other_levels") else []
    notes += [f"{row['above_reference']} above the reference size {row['reference_size']:,}"
              ] if row.get("above_reference") else []
    notes += [f"none at the reference size {row['reference_size']:,}"
              ] if "reference_size" in row and row["reference_size"] not in row["sizes"] else []
    notes += [f"{row['without_key']} without {row['for_each']}"] if row.get("without_key") else []
    if "for_each" in row:
        name = row["for_each"].rsplit(".", 1)[-1]
        short = [f"{name} {level['level']}" for level in row["each"] if level["verdict"] == "not run"]
        return n, notes, ([f"too few runs at {', '.join(short)} [{each_shown(row)}]"] if short else
                          [] if row["each"] else [f"no run has {row['for_each']}"])
    if row["statistic"] == "effect":
        fewest, most = row["replicates"]
        cells = f"{row['cells']} cells x {fewest}" + (f"–{most}" if most != fewest else "")
        lacking = f"{row['cells_short']} of {row['cells']} cells with fewer than 2 runs"
        return n, notes, [cells, lacking] if row["verdict"] == "not run" else [cells]
    if row["statistic"] != "trend":
        return n, notes, []
    if row["verdict"] == "not run":
        counts = ", ".join(f"{level['level']} n={level['n']}" for level in row["levels"])
        return n, notes, [f"by {row['order_key']}: {counts}, 2 per level needed"]
    means = ", ".join(f"{level['level']} {level['mean']:.3f}" for level in row["levels"])
    return n, notes, [f"by {row['order_key']}: {means}"]


def each_shown(row: dict) -> str:
    """A for_each claim's levels, e.g. "lr 1e-05: +0.41 (+0.33–+0.49) confirmed, n=3; lr 3e-05: ..."."""
    name = row["for_each"].rsplit(".", 1)[-1]  # the key's last part, e.g. lr
    parts = []
    for level in row["each"]:
        n = f"n={level['n']}" + (f" vs {level['baseline_n']}" if "baseline_n" in level else "")
        decided = (f"{numbers(row['statistic'], level['value'], level['ci_lo'], level['ci_hi'])} {level['verdict']}, "
                   if level["verdict"] != "not run" else "")
        parts.append(f"{name} {level['level']}: {decided}{n}")
    return "; ".join(parts)


def holm_shown(row: dict) -> str:
    if row["holm"] == "—":
        return "—"
    return f"{row['holm']} ({_p(row['p'])}, {_p(row['p_holm'])})"


def _p(p: float) -> str:
    return "<0.0001" if p < 1e-4 else f"{p:.2g}"


def legend(rows: list[dict]) -> str:
    """What the verdict words mean, how many claims the table decides, and how many survive Holm."""
    decided = [row for row in rows if row["verdict"] != "not run"]
    clear = [row for row in decided if row["verdict"] in ("confirmed", "refuted")]
    kept = sum(row["holm"] == "yes" for row in clear)
    level = f"{stats.LEVEL:.0%}"
    needed = "two per side, per size, per level or per cell" if any(
        row["statistic"] == "effect" for row in rows) else "two per side, per size or per level"
    each = (["A claim decided at each level of a key (\"at each …\") holds only where it holds at every level: "
             "confirmed when every level's interval is confirmed, refuted when some level's is refuted (its p is "
             "that level's times the number of levels), inconclusive otherwise.", ""]
            if any("for_each" in row for row in rows) else [])
    return "\n".join([
        f"This table decides {len(decided)} of its {len(rows)} claims ({len(rows) - len(decided)} not run), each "
        f"from the {level} interval of the statistic its row names, against the region its `rule` column claims:",
        "",
        "- **confirmed**: the interval lies wholly inside the claimed region;",
        "- **refuted**: the interval lies wholly outside it;",
        "- **inconclusive**: the interval reaches both; an interval end exactly on a `>` or `<` boundary counts as "
        "both (a `≤ … ≤` range holds its ends);",
        f"- **not run**: the claim's runs are missing or too few ({needed}); the row counts them.",
        "",
        "A margin is the smallest effect that counts and moves the boundary: `above 0, margin 0.02` claims "
        "Δ > +0.02, so it is confirmed only when the whole interval lies above +0.02 and refuted when it lies "
        "below +0.02 (any effect smaller than the margin). `no_worse` claims Δ > −margin, `equivalent` "
        "|Δ| < margin.",
        "",
        *each,
        f"Multiplicity: at {level} each, some of {len(decided)} verdicts may be chance. Each decided claim has a "
        f"p-value for its verdict (below {stats.ALPHA:g} exactly when its interval clears the boundary), and "
        f"Holm's step-down correction over all {len(decided)} keeps the chance of any false confirmed or refuted "
        f"verdict in the table at or below {stats.ALPHA:g}: {kept} of the {len(clear)} confirmed or refuted verdicts "
        "survive it (last column: yes / no, with the p-value and the Holm-adjusted p-value).",
        ""])


def markdown(rows: list[dict], plot: str | None = None) -> str:
    """At a glance (`summary`; `plot`: the forest plot's path as the file links it), then each claim in full: the
    legend, the table (one row per claim, its cells escaped by finetune_lab.tables) and the repeats."""
    cells = [{**row, "id_shown": f"`{row['id']}`", "measured": measured(row), "verdict": f"**{row['verdict']}**",
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
    if "for_each" in row:
        levels = [level["verdict"] for level in row["each"]]
        found = ", ".join(f"{levels.count(v)} {v}" for v in VERDICTS if v in levels)
        return f"{symbol}{of} at each {row['for_each'].rsplit('.', 1)[-1]}: {found or 'no level'}"
    if row["verdict"] == "not run":
        return "—"
    return f"{symbol}{of} {numbers(row['statistic'], row['value'], row['ci_lo'], row['ci_hi'])}"


def summary(rows: list[dict], plot: str | None = None) -> str:
    """How many claims have each verdict and survive Holm, a short table (one row per claim: id, claim, statistic
    with its interval, claimed region, verdict, Holm) and, with `plot`, the forest plot as an image link."""
    clear = [row for row in rows if row["verdict"] in ("confirmed", "refuted")]
    kept = sum(row["holm"] == "yes" for row in clear)
    cells = [{**row, "id_shown": f"`{row['id']}`", "claim_short": short_claim(row["claim"]),
              "statistic_shown": statistic_shown(row), "verdict": f"**{row['verdict']}**",
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
    disagree only where both are decided (confirmed or refuted); an inconclusive one is named as undecided."""
    by_id = {row["id"]: row for row in rows}
    pairs = [(row, by_id[row["repeats"]]) for row in rows if row.get("repeats")]
    if not pairs:
        return ""
    lines = ["", "Claims put at two settings (the second repeats the first):", ""]
    for row, first in pairs:
        verdicts = (first["verdict"], row["verdict"])
        if "not run" in verdicts:
            word = "not comparable yet (one is not run)"
        elif "inconclusive" in verdicts:
            undecided = " and ".join(f"`{r['id']}`" for r in (first, row) if r["verdict"] == "inconclusive")
            word = f"neither agree nor disagree: {undecided} undecided"
        else:
            word = "agree" if verdicts[0] == verdicts[1] else "**disagree**"
        lines.append(f"- `{first['id']}` {first['verdict']}, `{row['id']}` {row['verdict']}: {word}")
    return "\n".join(lines) + "\n"
