"""A table as text: a DataFrame rendered as markdown (pandas' to_markdown) or HTML (to_html), every cell written
the same way in both: floats to 4 significant digits, missing values empty, anything else as str().

In markdown each cell stays on one line and its bars are escaped (|Δ| < 0.02, settings that differ between
runs), so a row keeps its columns; cells are not padded to a column's width.
"""
from __future__ import annotations

import math

import pandas as pd


def text(value) -> str:
    """One cell as both tables write it."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _markdown_cell(value) -> str:
    return text(value).replace("\n", " ").replace("|", "\\|")


def markdown(frame: pd.DataFrame) -> str:
    cells = frame.map(_markdown_cell)
    cells.columns = [_markdown_cell(c) for c in frame.columns]
    return cells.to_markdown(index=False, stralign=None, numalign=None, disable_numparse=True)


def html(frame: pd.DataFrame, markup: bool = False, classes: str | None = None) -> str:
    """`markup`: the cells are HTML already (escaped where they hold text), written as they are."""
    return frame.map(text).to_html(index=False, border=0, escape=not markup, classes=classes)
