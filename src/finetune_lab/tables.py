"""A table as markdown text: a DataFrame rendered by pandas' to_markdown, every cell written one way: floats to 4
significant digits, missing values empty, anything else as str().

Each cell stays on one line and its bars are escaped (|Δ| < 0.02, settings that differ between runs), so a row
keeps its columns; cells are not padded to a column's width. Cells are markdown (a verdict table's code spans and
links stay markup); `plain` turns a value that is only text (a class name, an error message) into markdown that
renders as that text, here and in finetune_lab.page's HTML.
"""
from __future__ import annotations

import math
import re

import pandas as pd

# markdown's inline markup in plain text: backslash, code span, emphasis (`_` only at a word's edge: test_accuracy
# stays as it is) and raw HTML (`<` as an entity: Python-Markdown has no backslash escape for it)
_MARKUP = re.compile(r"[\\`*]|(?<![^\W_])_|_(?![^\W_])")


def text(value) -> str:
    """One cell as the tables write it."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def plain(value) -> str:
    """`value` as markdown that shows its text as it is, on one line."""
    return _MARKUP.sub(r"\\\g<0>", text(value)).replace("<", "&lt;").replace("\n", " ")


def markdown(frame: pd.DataFrame, plain_text: bool = False) -> str:
    """`plain_text`: the cells and column names are text (`plain`), not markdown."""
    def cell(value) -> str:
        return (plain(value) if plain_text else text(value)).replace("\n", " ").replace("|", "\\|")

    cells = frame.map(cell)
    cells.columns = [cell(c) for c in frame.columns]
    return cells.to_markdown(index=False, stralign=None, numalign=None, disable_numparse=True)
