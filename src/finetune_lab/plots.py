"""Pictures, as files (no windows), drawn from numbers and tables handed in; nothing here reads a run folder.

Of one run: learning curves, the confusion matrix, feature-map grids, first-layer filters, the base's change by
layer, the original task's edges before and after, the trade-off curve. Of many runs (finetune-lab-report):
test accuracy vs training-set size with each group's critical point, test accuracy vs original-task agreement
with each group's means, and learning curves overlaid; a group has the same colour in each of them. Of a verdict
table (finetune-lab-verdicts, from its rows alone, so another report can draw it too): the forest plot of its
claims' intervals against their claimed regions.
"""
from __future__ import annotations

import math
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay  # noqa: E402

from .files import natural_key  # noqa: E402


def _save(fig, path: str, dpi: int = 100, crop: bool = False) -> str:
    """Write `fig` to `path` and close it: laid out tight, or with `crop` cut to what is drawn (a legend below
    the axes included). Returns the path."""
    if crop:
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
    else:
        fig.tight_layout()
        fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


# ----- one run -----

def learning_curves(history: dict[str, list[float]], path: str) -> None:
    """Loss and accuracy per epoch, train and validation side by side."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for prefix, style in (("", "-o"), ("val_", "--s")):
            values = history.get(prefix + metric)
            if values:
                ax.plot(range(1, len(values) + 1), values, style, label=(prefix or "train_") + metric)
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    _save(fig, path)


def confusion_matrix(matrix: np.ndarray, path: str, title: str, class_names: list[str] | None = None) -> None:
    """Rows: true class, columns: predicted class, labelled with `class_names` (their indices when None); the
    counts are written in the cells while there are at most 20 classes."""
    matrix = np.asarray(matrix)
    side = min(6 + 0.25 * max(len(matrix) - 10, 0), 24)
    fig, ax = plt.subplots(figsize=(side, side - 0.5))
    ConfusionMatrixDisplay(matrix, display_labels=class_names).plot(
        ax=ax, colorbar=False, values_format="d", include_values=len(matrix) <= 20,
        xticks_rotation="vertical" if class_names and max(map(len, class_names)) > 3 else "horizontal")
    ax.set_title(title)
    _save(fig, path)


def feature_mosaic(maps: np.ndarray, max_channels: int = 64, min_tile: int = 16) -> np.ndarray:
    """The first `max_channels` channels of one activation (H, W, C) as one image: each scaled to its own 0..1 (a
    constant one to 0), enlarged to at least `min_tile` pixels a side, row by row in a square grid with lines of
    NaN (drawn blank) an eighth of a tile wide around and between them."""
    count = min(max_channels, maps.shape[-1])
    tiles = _each_to_unit(np.moveaxis(np.asarray(maps[..., :count], np.float64), -1, 0), constant=0.0)
    zoom = max(1, math.ceil(min_tile / max(tiles.shape[1:])))
    tiles = np.repeat(np.repeat(tiles, zoom, axis=1), zoom, axis=2)
    return _mosaic(tiles, max(1, round(max(tiles.shape[1:]) / 8)), np.nan)


def feature_grid(maps: np.ndarray, path: str, title: str, max_channels: int = 64, cmap: str = "viridis") -> None:
    """Channels of one activation (H, W, C) in a square grid, each channel scaled to its own range: feature_mosaic
    drawn as one image, so matplotlib lays out one axes rather than one a channel."""
    side = math.ceil(math.sqrt(min(max_channels, maps.shape[-1])))
    colours = plt.get_cmap(cmap).with_extremes(bad="white")
    fig, ax = plt.subplots(figsize=(side * 1.2, side * 1.2 + 0.4))
    ax.imshow(feature_mosaic(maps, max_channels), cmap=colours, vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    fig.suptitle(title, fontsize=9)
    _save(fig, path, dpi=80)


def filter_mosaic(kernel: np.ndarray, max_filters: int = 64, zoom: int = 10, gap: int = 1) -> np.ndarray:
    """A first conv layer's kernel (kh, kw, 1 or 3, filters) as one RGB image in 0..1: each filter scaled to
    its own 0..1 (min to max over all its values), `zoom` pixels per weight, filters row by row in a square
    grid with white `gap`-pixel lines between them. Channels are drawn in the kernel's order."""
    channels = kernel.shape[2]
    if channels not in (1, 3):
        raise ValueError(f"a kernel with {channels} input channels has no picture as RGB patches (1 or 3 only)")
    patches = _each_to_unit(np.moveaxis(np.asarray(kernel[..., :max_filters], np.float64), -1, 0), constant=0.5)
    patches = np.repeat(np.repeat(patches, zoom, axis=1), zoom, axis=2)
    return _mosaic(np.repeat(patches, 3 // channels, axis=3), gap, 1.0)  # a 1-channel patch drawn gray


def _each_to_unit(tiles: np.ndarray, constant: float) -> np.ndarray:
    """Each of `tiles` (N, ...) scaled from its own min..max to 0..1; a constant one set to `constant`."""
    axes = tuple(range(1, tiles.ndim))
    low = tiles.min(axis=axes, keepdims=True)
    span = tiles.max(axis=axes, keepdims=True) - low
    return np.where(span > 0, (tiles - low) / np.where(span > 0, span, 1.0), constant)


def _mosaic(tiles: np.ndarray, gap: int, fill: float) -> np.ndarray:
    """`tiles` (N, h, w, ...) row by row in a square grid (ceil(sqrt(N)) a side) with `gap`-pixel lines of `fill`
    around and between them."""
    count, h, w = tiles.shape[:3]
    side = math.ceil(math.sqrt(count))
    mosaic = np.full((gap + side * (h + gap), gap + side * (w + gap), *tiles.shape[3:]), fill, np.float32)
    for i, tile in enumerate(tiles):
        row, col = divmod(i, side)
        y, x = gap + row * (h + gap), gap + col * (w + gap)
        mosaic[y:y + h, x:x + w] = tile
    return mosaic


def filter_patches(kernel: np.ndarray, path: str, max_filters: int = 64, zoom: int = 10) -> np.ndarray:
    """filter_mosaic written as a PNG of exactly its size; returns the mosaic."""
    mosaic = filter_mosaic(kernel, max_filters, zoom)
    plt.imsave(path, mosaic)
    return mosaic


def layer_change(section: dict, path: str) -> None:
    """metrics.json's `layer_change`: relative weight change by layer, and linear CKA by block output."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    names = list(section["relative_weight_change"])
    axes[0].bar(range(len(names)), [section["relative_weight_change"][n] for n in names], color="tab:orange")
    axes[0].set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
    axes[0].set_ylabel("||W' - W|| / ||W||")
    axes[0].set_title("relative weight change by layer (input -> output)")
    cka = section["cka"]
    if cka:
        axes[1].plot(range(len(cka)), list(cka.values()), "-o")
        axes[1].set_xticks(range(len(cka)), list(cka), rotation=30, ha="right", fontsize=8)
        axes[1].set_ylim(min(0.0, min(cka.values())), 1.02)
    axes[1].set_ylabel("linear CKA, pretrained vs fine-tuned")
    axes[1].set_title(f"representation similarity ({section['cka_images']} test images)")
    for ax in axes:
        ax.grid(alpha=0.3)
    _save(fig, path)


def edges(photos: np.ndarray, reference: np.ndarray, new: np.ndarray, names: list[str], path: str,
          count: int = 4) -> None:
    """The first `count` probe photos, the pretrained HED's edges and the fine-tuned base's, one column each."""
    count = min(count, len(photos))
    fig, axes = plt.subplots(3, count, figsize=(2.4 * count, 7.4), squeeze=False)
    for j in range(count):
        for i, (img, title) in enumerate(((photos[j] / 255.0, names[j]), (reference[j], "pretrained HED"),
                                          (new[j], "fine-tuned base"))):
            axes[i, j].imshow(np.clip(img, 0, 1), cmap=None if img.ndim == 3 else "gray_r", vmin=0, vmax=1)
            axes[i, j].set_title(title, fontsize=8)
            axes[i, j].axis("off")
    fig.suptitle("edges of the original task (HED): before vs after fine-tuning", fontsize=10)
    _save(fig, path, dpi=80)


def tradeoff(rows: list[dict], measures: list[str], path: str, title: str) -> None:
    """finetune-lab-tradeoff's rows (alpha, test_accuracy, the original task's measures): accuracy and each of
    `measures` against alpha, and accuracy against the first of them."""
    alphas = [r["alpha"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    axes[0].plot(alphas, [r["test_accuracy"] for r in rows], "-o", label="target: test accuracy")
    for key in measures:
        axes[0].plot(alphas, [r[key] for r in rows], "--s", label=f"original task: {key}")
    axes[0].set_xlabel("alpha  (0 = pretrained base, 1 = fine-tuned base)")
    axes[0].set_title("accuracy and agreement vs interpolation")
    axes[0].legend(fontsize=8)
    if measures:
        key = measures[0]
        axes[1].plot([r[key] for r in rows], [r["test_accuracy"] for r in rows], "-o")
        for r in rows:
            axes[1].annotate(f"{r['alpha']:g}", (r[key], r["test_accuracy"]), fontsize=7,
                             textcoords="offset points", xytext=(4, 3))
        axes[1].set_xlabel(f"original task kept ({key} vs pretrained)")
        axes[1].set_ylabel("target test accuracy")
        axes[1].set_title("transfer vs forgetting")
    else:
        axes[1].axis("off")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=9)
    _save(fig, path)


# ----- many runs (finetune-lab-report); `groups`: [(group label, its rows)] in the order the runs came -----

def colors(labels) -> dict[str, str]:
    """The same group gets the same colour in every plot (labels in sorted order)."""
    palette = [f"C{i}" for i in range(10)]
    return {label: palette[i % len(palette)] for i, label in enumerate(sorted(set(labels), key=natural_key))}


def _legend(ax) -> None:
    """Below the axes: group labels can be long."""
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles, [textwrap.fill(label, 110) for label in labels], fontsize=7, loc="upper left",
              bbox_to_anchor=(0.0, -0.15), ncol=1, frameon=False)


def accuracy_vs_size(groups: list, runs: dict, critical: dict, fewest: int, path: str) -> str:
    """Per group (`groups`: rows of the report's summary) each run as a dot (`runs`: group label -> its runs'
    rows), the means per size as a line, the mean's 95% interval as a bar at the sizes whose row has one (the
    summary gives none below `fewest` runs, as the title says), and its critical point (`critical`: group label ->
    a row of the report's critical points)."""
    color = colors(label for label, _ in groups)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, part in groups:
        part = part.sort_values("train_size")
        counts = sorted({int(part.runs.min()), int(part.runs.max())})
        ax.plot(part.train_size, part["mean"], "-", marker="_", markersize=10, color=color[label],
                label=f"{label} (n={'-'.join(map(str, counts))})")
        dots = runs[label]
        ax.scatter(dots.train_size, dots.test_accuracy, color=color[label], s=14, alpha=0.5, linewidths=0)
        shown = part[part.ci95_lo.notna()]
        if len(shown):
            ax.errorbar(shown.train_size, shown["mean"], yerr=[shown["mean"] - shown.ci95_lo,
                                                               shown.ci95_hi - shown["mean"]],
                        fmt="none", capsize=3, color=color[label])
        if label in critical:
            _mark_critical(ax, critical[label], color[label])
    ax.set_xscale("log")
    ax.set_xlabel("training-set size (images, log scale)")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"test accuracy vs training-set size\n(dots: runs; line: means; bars: the mean's 95% interval, "
                 f"at sizes with {fewest} runs or more; none with fewer)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    _legend(ax)
    return _save(fig, path, dpi=110, crop=True)


def _mark_critical(ax, point, color: str) -> None:
    """A group's critical point: its target accuracy as a dotted line and a triangle at the critical size (a point:
    the report gives it no interval)."""
    size, target = float(point["critical_size"]), float(point["target_accuracy"])
    ax.axhline(target, color=color, linestyle=":", linewidth=1)
    ax.plot([size], [target], "v", color=color, markersize=8,
            label=f"critical point {size:,.0f}: first size reaching {target:.3f}")


def accuracy_vs_agreement(groups: list, means, column: str, path: str) -> str:
    """One dot per run (rows with test_accuracy and `column`), and per group its mean on both axes, with each
    mean's 95% interval as a bar where the group has one (`means`: the report's agreement summary, a row per group
    in the same order; NaN: none); the legend lists the groups in the order their runs came."""
    color = colors(label for label, _ in groups)
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for (label, part), (_, mean) in zip(groups, means.iterrows()):
        ax.scatter(part[column], part.test_accuracy, color=color[label], s=14, alpha=0.5, linewidths=0)
        xerr, yerr = ([[mean[f"{axis}_mean"] - mean[f"{axis}_ci95_lo"]],
                       [mean[f"{axis}_ci95_hi"] - mean[f"{axis}_mean"]]]
                      if not math.isnan(mean[f"{axis}_ci95_lo"]) else None for axis in ("x", "y"))
        ax.errorbar([mean.x_mean], [mean.y_mean], xerr=xerr, yerr=yerr, fmt="o",
                    color=color[label], markersize=7, markeredgecolor="black", markeredgewidth=0.7, elinewidth=1.5,
                    capsize=4, label=f"{label} (n={mean.runs}): accuracy {mean.y_mean:.3f}, "
                                     f"{column.rsplit('.', 1)[-1]} {mean.x_mean:.3f}"
                                     + ("" if xerr or yerr else f"; interval: {mean.y_interval}"))
    ax.set_xlabel(f"{column} (fine-tuned base on its original task vs pretrained)")
    ax.set_ylabel("test accuracy (new task)")
    ax.set_title("new-task accuracy vs original-task agreement\n(dots: runs; large dots: group means, with bars for "
                 "their 95% intervals only where a group has the runs for one)", fontsize=10)
    ax.grid(True, alpha=0.3)
    _legend(ax)
    return _save(fig, path, dpi=110, crop=True)


def learning_curves_overlaid(curves: list[tuple[str, dict]], path: str) -> str:
    """Loss and accuracy per epoch of many runs (`curves`: [(group label, history)]), train solid and
    validation dashed, a colour per group."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    color = colors(label for label, _ in curves)
    shown = set()
    for label, hist in curves:
        for ax, metric in zip(axes, ("loss", "accuracy")):
            for prefix, style in (("", "-"), ("val_", "--")):
                if prefix + metric in hist:
                    values = hist[prefix + metric]
                    ax.plot(range(1, len(values) + 1), values, style, color=color[label], alpha=0.7, marker=".",
                            label=label if (label not in shown and ax is axes[0] and not prefix) else None)
                    if ax is axes[0] and not prefix:
                        shown.add(label)
    for ax, metric in zip(axes, ("loss", "accuracy")):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title(f"{metric}: train (solid), validation (dashed); {len(curves)} runs")
        ax.grid(True, alpha=0.3)
    axes[0].set_yscale("log")
    _legend(axes[0])
    return _save(fig, path, dpi=110, crop=True)


# ----- verdicts (finetune-lab-verdicts); `rows`: finetune_lab.verdicts' rows -----

VERDICT_COLORS = {"confirmed": "#1a9850", "refuted": "#d73027", "inconclusive": "#e08214", "not run": "#8c8c8c"}
REGION_COLOR = "#4393c3"


def forest_panel(row: dict) -> tuple[int, str]:
    """The panel a claim is drawn in, as (its place among the kinds of panel, its title): claims on one scale
    share one, so a metric's level and a change in it are never on one axis, nor are two metrics. A trend's steps
    and a critical point's sizes against its target are changes in the metric."""
    metric = row.get("metric", "test_accuracy")
    if row["statistic"] == "mean":
        return 0, f"mean of {metric}"
    return 1, f"change in {metric} (Δ: a difference, an effect, a trend's steps, a size against its target)"


def _forest_lines(rows: list[dict]) -> dict[str, list[dict]]:
    """Each panel's lines from the top (panels in forest_panel's order, claims in the rows' order): one a claim,
    and for a claim decided at each level of a key, a line naming the key with the verdict of all levels, then
    one a level."""
    panels: dict[tuple[int, str], list[dict]] = {}
    for row in rows:
        lines = panels.setdefault(forest_panel(row), [])
        base = {"id": row["id"], "region": (row["region_lo"], row["region_hi"]), "holm": row.get("holm", "—")}
        if not row.get("parts"):
            lines.append({**base, "label": row["id"], "level": None, "verdict": row["verdict"],
                          **{k: row[k] for k in ("value", "ci_lo", "ci_hi")}})
            continue
        what = (f"at each {row['for_each'].rsplit('.', 1)[-1]}" if "for_each" in row else
                "at each step" if row["statistic"] == "trend" else "either side of its range")
        lines.append({**base, "label": row["id"], "level": None, "verdict": row["verdict"], "value": math.nan,
                      "ci_lo": math.nan, "ci_hi": math.nan, "note": f"{what}: {row['verdict']}",
                      "region": (math.nan, math.nan)})   # each part's line shades the region it claims
        lines += [{**base, "label": part["label"], "level": part["label"], "verdict": part["verdict"], "holm": "—",
                   "region": (part["region_lo"], part["region_hi"]),
                   **{k: part[k] for k in ("value", "ci_lo", "ci_hi")}} for part in row["parts"]]
    return {title: panels[key] for key in sorted(panels, key=lambda key: key[0]) for title in [key[1]]}


def _forest_limits(lines: list[dict], zero: bool) -> tuple[float, float]:
    """The x range that holds every interval and every finite region bound (and 0 for a change), padded."""
    values = [x for line in lines for x in (line["ci_lo"], line["ci_hi"], *line["region"]) if math.isfinite(x)]
    values += [0.0] if zero else []
    if not values:
        return -1.0, 1.0
    low, high = min(values), max(values)
    pad = 0.06 * (high - low) if high > low else max(abs(low) * 0.1, 0.05)
    return low - pad, high + pad


def forest_figure(rows: list[dict]):
    """(figure, drawn): one line a claim, its 95% interval (a bar) and estimate (a dot, filled where the verdict
    survives Holm's correction) against its claimed region (shaded), coloured by verdict; a claim not run is
    named on its line without an interval. One panel a scale (forest_panel). `drawn`: for each line, its
    claim id, level (None but for a for_each claim's levels), panel, verdict and the interval drawn (lo, hi,
    value; None where none was). `rows`: finetune_lab.verdicts' rows (the claimed region as region_lo /
    region_hi, an end infinite where open; holm from verdicts.with_holm, else every dot is hollow)."""
    panels = _forest_lines(rows)
    sizes = [len(lines) for lines in panels.values()]
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 1.2 + 0.21 * sum(sizes) + 0.62 * len(panels)),
                             height_ratios=sizes, layout="constrained", squeeze=False)
    drawn = []
    for ax, (panel, lines) in zip(axes[:, 0], panels.items()):
        zero = not panel.startswith("mean")   # a change: 0 in view
        left, right = _forest_limits(lines, zero)
        ax.set_xlim(left, right)
        ax.set_ylim(len(lines) - 0.5, -0.5)
        if zero:
            ax.axvline(0, color="black", linewidth=0.6, alpha=0.5)
        for y, line in enumerate(lines):
            color = VERDICT_COLORS.get(line["verdict"], "black")
            lo, hi = line["region"]
            ax.fill_betweenx([y - 0.5, y + 0.5], max(lo, left), min(hi, right), color=REGION_COLOR, alpha=0.18,
                             linewidth=0)
            shown = {"id": line["id"], "level": line["level"], "panel": panel, "verdict": line["verdict"],
                     "lo": None, "hi": None, "value": None}
            if math.isfinite(line["ci_lo"]) and math.isfinite(line["ci_hi"]):
                ax.plot([line["ci_lo"], line["ci_hi"]], [y, y], color=color, linewidth=2.4, solid_capstyle="butt")
                ax.plot([line["value"]], [y], "o", markersize=5, color=color, markeredgewidth=1.2,
                        markerfacecolor=color if line["holm"] == "yes" else "white")
                shown.update(lo=line["ci_lo"], hi=line["ci_hi"], value=line["value"])
            else:
                ax.text(0.01, y, line.get("note", line["verdict"]), color=color, fontsize=7.5, va="center",
                        style="italic", transform=ax.get_yaxis_transform())
            drawn.append(shown)
        ax.set_yticks(range(len(lines)), [line["label"] if line["level"] is None else f"    {line['label']}"
                                          for line in lines], fontsize=7.5)
        for label, line in zip(ax.get_yticklabels(), lines):
            label.set_color(VERDICT_COLORS.get(line["verdict"], "black"))
        ax.tick_params(axis="y", length=0)
        ax.tick_params(axis="x", labelsize=7.5)
        ax.grid(True, axis="x", alpha=0.3)
        ax.set_title(panel, fontsize=8.5, loc="left")
    handles = [plt.Line2D([], [], color=c, linewidth=2.4, label=v) for v, c in VERDICT_COLORS.items()]
    handles += [plt.Rectangle((0, 0), 1, 1, color=REGION_COLOR, alpha=0.18, label="claimed region"),
                plt.Line2D([], [], marker="o", linestyle="", color="black", label="estimate: survives Holm"),
                plt.Line2D([], [], marker="o", linestyle="", color="black", markerfacecolor="white",
                           label="does not (or undecided)")]
    fig.legend(handles=handles, loc="outside upper center", ncol=4, fontsize=7.5, frameon=False, title_fontsize=9,
               title="each claim's 95% interval (bar) and estimate (dot) against the region it claims (shaded)")
    return fig, drawn


def forest_plot(rows: list[dict], path: str) -> list[dict]:
    """forest_figure written to `path` (PNG); returns its `drawn`."""
    fig, drawn = forest_figure(rows)
    _save(fig, path, dpi=110, crop=True)
    return drawn
