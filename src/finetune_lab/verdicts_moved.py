"""The claims whose verdict moved between two verdict tables that `finetune-lab-verdicts` wrote.

    git show 5a4eac7:experiments/verdicts_study_split.md > /tmp/old.md      # the table before the rewrite
    python -m finetune_lab.verdicts_moved /tmp/old.md experiments/verdicts_study_split.md \\
        --old-name "5a4eac7:experiments/verdicts_study_split.md" --out experiments/verdicts_moved.md

Each table's full table is read (a row per claim; a table with a summary at a glance is read from
verdict_table.FULL_HEADING on). One markdown row per claim whose verdict cell differs (the word, or the fragile
mark), and per claim that is new, split from another (a new id that starts with a gone one's, e.g.
depth_transfer_rises from depth_transfer) or gone: its old and new verdict and statistic cells as the tables
wrote them, and what changed, read from the two rows: the claim's words, its rule, its statistic, its interval
method, an interaction now on the prose scale, replicates that are subset means, its runs, its interval, why it
is not run, a fragile mark. An old interval that the coverage simulation does not cover at its runs (its method
not among stats.FEWEST's, or fewer replicates a side than its fewest) is withheld, its value kept. Nothing is typed
per claim; `finetune-lab-study experiments/study_split.yaml tables` regenerates it
(the study file's `tables: moved:`).
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import pandas as pd

from . import claims, measure, rules, stats, tables
from .verdict_table import FULL_HEADING, SYMBOLS

# Symbols of statistics that tables before the rewrite (5a4eac7) wrote and the current ones do not.
OLD_SYMBOLS = {"D": "trend"}
# A trend's statistic in words.
TREND_WORDS = {"D": "Somers' D", "step": "adjacent steps"}
KINDS = {**{symbol: kind for kind, (symbol, _) in SYMBOLS.items()}, **OLD_SYMBOLS}
STATISTIC_TITLE = "statistic (95% interval), method, runs"


# ----- reading a table -----

def split_top(text: str, sep: str) -> list[str]:
    """`text` split at `sep` outside brackets and parentheses."""
    pieces, depth, start, i = [], 0, 0, 0
    while i < len(text):
        if text[i] in "([":
            depth += 1
        elif text[i] in ")]":
            depth -= 1
        elif depth == 0 and text.startswith(sep, i):
            pieces.append(text[start:i])
            start = i = i + len(sep)
            continue
        i += 1
    return pieces + [text[start:]]


def cells(line: str) -> list[str]:
    """A markdown table line's cells, their escaped bars unescaped."""
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def read_table(text: str) -> dict[str, dict]:
    """The full table's rows by claim id: claim, rule, verdict and statistic cells."""
    if FULL_HEADING in text:
        text = text.split(FULL_HEADING, 1)[1]
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    header = cells(lines[start])
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        row = dict(zip(header, cells(line)))
        rows[row["id"].strip("`")] = {"claim": row["claim"], "rule": row["rule (claimed region)"],
                                      "verdict": row["verdict"], "statistic": row[STATISTIC_TITLE]}
    return rows


def verdict_shown(cell: str) -> str:
    """The verdict cell without the claims that read the same runs (they do not move a verdict)."""
    return cell.split("; same runs as", 1)[0]


def symbol(rule: str) -> str:
    """The statistic's symbol in a rule cell, e.g. Δ in "Δ > +0.02", size in "120 ≤ size ≤ 168"."""
    return next(token for token in rule.replace("|", " ").split() if token in KINDS)


def parse_statistic(cell: str) -> dict:
    """A statistic cell: its head (the value, interval or comparisons), method and runs; or, not run, why."""
    if cell.startswith("— (") and cell.endswith(")"):
        inner = split_top(cell[3:-1], "; ")
        return {"method": None, "runs": inner[0], "why": inner[1:], "head": None}
    pieces = split_top(cell, ", ")
    at = next(i for i, piece in enumerate(pieces) if piece.startswith("n="))
    method = [piece for piece in pieces[1:at] if not re.fullmatch(r"[\d,]+ resamples", piece)]
    return {"head": pieces[0], "method": ", ".join(method), "runs": ", ".join(pieces[at:]), "why": []}


# ----- the old intervals the suite covers -----

SPAN = re.compile(r" \([^()]*–[^()]*\)")   # an interval as the tables write it, e.g. " (+0.033–+0.334)"
RUNS = re.compile(r"n=(\d+)(?: vs (\d+))?")


def covered(method: str, runs: str) -> bool:
    """Whether the coverage simulation (finetune_lab.coverage, tests/test_coverage.py) covers `method` at the runs a
    cell names: a method of stats.FEWEST with at least its fewest replicates on every side."""
    found = RUNS.search(runs)
    least = min(int(n) for n in found.groups() if n) if found else 0
    return method in stats.FEWEST and least >= stats.fewest_runs(method)


def _withheld(text: str, runs: str) -> str:
    return SPAN.sub(f" (no interval: not covered at {RUNS.search(runs).group(0)})", text, count=1)


def as_covered(cell: str) -> str:
    """A statistic cell with each interval that its method does not cover at its runs replaced by a note saying so
    (the old table's methods and replicates are not all proven: docs/statistics.md); the value stays."""
    part = parse_statistic(cell)
    head, method = part["head"], part["method"]
    if head is None:
        return cell
    if "[" in head:   # a comparison per level or side, each with its own runs
        start, end = head.index("["), head.rindex("]")
        items = [item if covered(method, item) else _withheld(item, item)
                 for item in split_top(head[start + 1:end], "; ")]
        shown = head[:start + 1] + "; ".join(items) + head[end:]
    else:
        shown = head if covered(method, part["runs"]) else _withheld(head, part["runs"])
    return shown + cell[len(head):]


# ----- what changed -----

def method_of(kind: str, old: dict | None, new: dict) -> str | None:
    """The row's interval method as its cell names it; for a claim not run, the method its statistic gets
    (finetune_lab.measure), its metric read from the old row's head."""
    if new["method"] is not None:
        return new["method"]
    if kind == "effect":
        return "Welch t over cells"
    head = (old or {}).get("head") or ""
    metric = re.match(r"mean of (\S+) ", head)
    return measure.method_of(kind, metric.group(1) if metric else claims.DEFAULT_METRIC)


def interval(head: str | None) -> str | None:
    """A single statistic's value and interval, e.g. "+0.183 (+0.033–+0.334)"; None for comparisons."""
    if not head or "[" in head:
        return None
    found = re.search(r"([+\-]?[\d.]+ \([^()]*\))$", head)
    return found.group(1) if found else None


def changes(old_row: dict | None, new_row: dict | None, replaced: str | None) -> list[str]:
    """What changed between a claim's old and new row, in words, read from the rows alone."""
    if new_row is None:
        return ["no longer in the table"]
    out = [f"replaces `{replaced}`" if replaced else "new claim"] if replaced or old_row is None else []
    new = parse_statistic(new_row["statistic"])
    new_symbol = symbol(new_row["rule"])
    kind = KINDS[new_symbol]
    old = parse_statistic(old_row["statistic"]) if old_row else None
    if old_row:
        old_symbol = symbol(old_row["rule"])
        if old_row["claim"] != new_row["claim"]:
            out.append("claim reworded")
        if old_row["rule"] != new_row["rule"]:
            out.append(f"rule: {old_row['rule']} → {new_row['rule']}")
        if old_symbol != new_symbol:
            if KINDS[old_symbol] == kind == "trend":
                out.append(f"trend: {TREND_WORDS[old_symbol]} → {TREND_WORDS[new_symbol]}")
            else:
                out.append(f"statistic: {old_symbol} → {new_symbol}")
        now = method_of(kind, old, new)
        if old["method"] and now and old["method"] != now:
            out.append(f"method: {old['method']} → {now}")
    else:
        now = method_of(kind, None, new)
    before, after = interval(old and old["head"]), interval(new["head"])
    if kind == "effect" and " × " in (new["head"] or "") and before and after:
        out.append(f"interaction on the prose scale (the difference of simple effects): {before} → {after}")
    elif before and after and before != after:
        out.append(f"interval: {before} → {after}")
    subsets = next((re.search(r"the means of \d+ data subsets", piece) for piece in [new["runs"], *new["why"]]
                    if "data subsets" in piece), None)
    if subsets and not (old and "data subsets" in old["runs"]):
        out.append(f"replicates: {subsets.group(0)}, not each run")
    runs = [re.match(r"n=\d+(?: vs \d+)?", part["runs"]).group(0) for part in (old, new) if part]
    if len(runs) == 2 and runs[0] != runs[1]:
        out.append(f"runs: {runs[0]} → {runs[1]}")
    for why in new["why"]:
        if planned := re.fullmatch(r"not run \((\d+) of (\d+) planned per arm\)", why):
            out.append(f"planned replicates not in yet ({planned.group(1)} of {planned.group(2)})")
        elif few := re.fullmatch(r"needs (\d+) replicates (per arm|per cell) for its interval, (\d+) at the fewest",
                                 why):
            out.append(f"replicates: {few.group(3)}, fewer than the {few.group(1)} {few.group(2)} {now} covers at")
    if "(fragile)" in verdict_shown(new_row["verdict"]) and not (
            old_row and "(fragile)" in verdict_shown(old_row["verdict"])):
        out.append(f"fragile: an interval end within {rules.FRAGILE:g} of the boundary it cleared")
    return out


def moved(old: dict[str, dict], new: dict[str, dict]) -> list[dict]:
    """A row per claim whose verdict cell differs, or that is new, split from a gone claim, or gone; the old rows'
    intervals shown only where their method covers at their runs (as_covered)."""
    old = {claim: {**row, "statistic": as_covered(row["statistic"])} for claim, row in old.items()}
    gone = [claim for claim in old if claim not in new]
    rows, used = [], set()
    for claim, row in new.items():
        replaced = next((g for g in gone if claim.startswith(g + "_")), None) if claim not in old else None
        used.update([replaced] if replaced else [])
        before = old.get(claim) or (old[replaced] if replaced else None)
        if before and claim in old and verdict_shown(before["verdict"]) == verdict_shown(row["verdict"]):
            continue
        rows.append(_row(claim, before, row, changes(before, row, replaced)))
    rows += [_row(claim, old[claim], None, changes(old[claim], None, None)) for claim in gone if claim not in used]
    return rows


def _row(claim: str, before: dict | None, after: dict | None, what: list[str]) -> dict:
    return {"id": f"`{claim}`", "old verdict": verdict_shown(before["verdict"]) if before else "—",
            "new verdict": verdict_shown(after["verdict"]) if after else "—",
            "old statistic, method, runs": before["statistic"] if before else "—",
            "new statistic, method, runs": after["statistic"] if after else "—", "what changed": "; ".join(what)}


def markdown(rows: list[dict], old_name: str, new_name: str, total: int) -> str:
    kinds = [row["what changed"] for row in rows]
    new = sum(k.startswith(("new claim", "replaces")) for k in kinds)
    gone = sum(k == "no longer in the table" for k in kinds)
    head = [
        "# Verdicts that moved", "",
        f"Generated by finetune_lab.verdicts_moved from two tables that `finetune-lab-verdicts` wrote: old "
        f"`{old_name}`, new `{new_name}`. A row per claim whose verdict cell differs ({len(rows) - new - gone} of "
        f"the new table's {total} claims), is new or split from a gone claim ({new}), or is gone ({gone}); the "
        "verdict and statistic cells are copied from the tables, except an old interval whose method the suite's "
        "coverage simulation does not cover at its runs (a percentile bootstrap at any n, a t-interval below 6 a "
        "side: docs/statistics.md), which is not shown and says so; an old verdict resting on one stands as the "
        "old table gave it, not as evidence. *What changed* is read from the two rows. "
        "Regenerated by `finetune-lab-study STUDY.yaml tables` from the study file that names it.", "", ""]
    frame = pd.DataFrame(rows, columns=["id", "old verdict", "new verdict", "old statistic, method, runs",
                                        "new statistic, method, runs", "what changed"])
    return "\n".join(head) + tables.markdown(frame) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old", help="the earlier verdict table (markdown)")
    parser.add_argument("new", help="the later verdict table (markdown)")
    parser.add_argument("--old-name", help="what to call the earlier table (default: its path)")
    parser.add_argument("--out", help="also write the list to this file")
    args = parser.parse_args(argv)
    old, new = (read_table(Path(path).read_text()) for path in (args.old, args.new))
    text = markdown(moved(old, new), args.old_name or args.old, args.new, len(new))
    if args.out:
        Path(args.out).write_text(text)
    print(text, end="")


if __name__ == "__main__":
    main()
