"""The verdict table at a glance: the summary above the full table, and the forest plot beside it."""
import math

import matplotlib
import pytest

from fake_sweeps import write_claims
from finetune_lab import plots, verdict_table, verdicts

pytestmark = pytest.mark.usefixtures("few_replicates")  # the fake sweeps decide at 2 a side

INF = math.inf


def _row(id, statistic, verdict, value=math.nan, lo=math.nan, hi=math.nan, region=(0.02, INF), holm="—", **extra):
    return {"id": id, "claim": f"claim {id}", "statistic": statistic, "metric": "test_accuracy", "value": value,
            "ci_lo": lo, "ci_hi": hi, "verdict": verdict, "p": 0.01, "p_holm": 0.02, "holm": holm,
            "rule": f"rule {id}", "region_lo": region[0], "region_hi": region[1], **extra}


def _part(label, verdict, value, lo, hi, region=(-INF, 0.5)):
    return {"label": label, "value": value, "ci_lo": lo, "ci_hi": hi, "verdict": verdict, "region_lo": region[0],
            "region_hi": region[1]}


ROWS = [
    _row("lifts", "difference", "confirmed", 0.2, 0.15, 0.25, holm="yes"),
    _row("same", "effect", "refuted", 0.1, 0.08, 0.12, region=(-0.02, 0.02), holm="no"),
    _row("critical", "critical_point", "refuted", region=(120, 168), holm="yes", point=240,
         parts=[_part("80 falls short of 0.95 × 1,600", "confirmed", -0.3, -0.35, -0.25, (-INF, 0.0)),
                _part("168 reaches 0.95 × 1,600", "refuted", -0.1, -0.15, -0.05, (0.0, INF))]),
    _row("never", "mean", "not run", region=(-INF, 0.15)),
    _row("every_lr", "mean", "inconclusive", region=(-INF, 0.5), for_each="training.optimizer.lr",
         parts=[_part("lr 1e-05", "confirmed", 0.1, 0.08, 0.12), _part("lr 0.001", "inconclusive", 0.5, 0.4, 0.6)]),
    _row("depth", "trend", "confirmed", region=(0.0, INF), holm="yes",
         parts=[_part("all → block4", "confirmed", 0.3, 0.2, 0.4, (0.0, INF))]),
]


def _summary_rows(text):
    """The summary table's rows (above the full table), header and separator left out."""
    part = text.split(verdict_table.FULL_HEADING)[0]
    return [line for line in part.splitlines() if line.startswith("| ")][1:]


def test_the_summary_has_one_row_per_claim_with_its_verdict():
    text = verdict_table.summary(ROWS, "table.png")
    lines = _summary_rows(text)
    assert [line.split(" | ")[0] for line in lines] == [f"| `{row['id']}`" for row in ROWS]
    assert all(f"| **{row['verdict']}** |" in line for row, line in zip(ROWS, lines))
    assert "| Δ +0.200 (+0.1500–+0.2500) | rule lifts | **confirmed** | yes (0.02) |" in lines[0]
    assert "| critical size 240; either side of its range: 1 confirmed, 1 refuted |" in lines[2]
    assert lines[3].startswith("| `never` | claim never | — | rule never | **not run** | — |")
    assert "| mean at each lr: 1 confirmed, 1 inconclusive |" in lines[4]
    assert "6 claims: 2 confirmed, 2 refuted, 1 inconclusive, 1 not run; 3 of the 4 confirmed or refuted" in text
    assert "![Forest plot" in text and "](table.png)" in text
    assert "![" not in verdict_table.summary(ROWS)  # no plot, no link


def test_a_long_claim_is_cut_at_a_word():
    assert verdict_table.short_claim("a " * 100, width=20) == "a a a a a a a a a a…"
    assert verdict_table.short_claim("a " * 100, width=21) == "a a a a a a a a a a…"
    assert verdict_table.short_claim("abcdefghij klm", width=12) == "abcdefghij…"
    assert verdict_table.short_claim("short  claim") == "short claim"


def _segments(ax):
    return {tuple(line.get_xdata()): matplotlib.colors.to_hex(line.get_color()) for line in ax.get_lines()}


def test_the_forest_plot_draws_each_decided_interval_in_its_verdicts_colour_on_its_scale():
    fig, drawn = plots.forest_figure(ROWS)
    try:
        titles = [ax.get_title(loc="left") for ax in fig.axes]
        assert len(titles) == 2  # a metric's level and a change in it: never two scales on one axis
        by_title = dict(zip(titles, fig.axes))
        change = by_title["change in test_accuracy (Δ: a difference, an effect, a trend's steps, a size against "
                          "its target)"]
        assert _segments(change)[(0.15, 0.25)] == plots.VERDICT_COLORS["confirmed"]
        assert _segments(change)[(0.08, 0.12)] == plots.VERDICT_COLORS["refuted"]
        # a critical point's sizes against its target, each in its own colour; a trend's step
        assert _segments(change)[(-0.15, -0.05)] == plots.VERDICT_COLORS["refuted"]
        assert (-0.35, -0.25) in _segments(change) and (0.2, 0.4) in _segments(change)
        texts = [text.get_text() for text in change.texts]
        assert "either side of its range: refuted" in texts and "at each step: confirmed" in texts
        mean = by_title["mean of test_accuracy"]
        assert (0.08, 0.12) in _segments(mean) and (0.4, 0.6) in _segments(mean)  # each level of every_lr
        labels = [label.get_text().strip() for label in mean.get_yticklabels()]
        assert labels == ["never", "every_lr", "lr 1e-05", "lr 0.001"]
        texts = [text.get_text() for text in mean.texts]
        assert "not run" in texts and "at each lr: inconclusive" in texts
        assert mean.collections  # the claimed regions, shaded
    finally:
        matplotlib.pyplot.close(fig)
    never, = [d for d in drawn if d["id"] == "never"]
    assert never["verdict"] == "not run" and never["lo"] is None
    lifts, = [d for d in drawn if d["id"] == "lifts"]
    assert (lifts["lo"], lifts["hi"], lifts["value"]) == (0.15, 0.25, 0.2)
    assert len(drawn) == len(ROWS) + 5   # a line a claim, and one a part of the three claims with parts


def test_the_command_writes_the_forest_plot_beside_the_table_and_links_it(root, tmp_path, capsys):
    claims_file = write_claims(tmp_path, [
        {"id": "chance", "claim": "frozen sits at chance", "runs": "sgd", "statistic": "mean", "rule": {"below": 0.15}},
        {"id": "optimizer", "claim": "Adam lifts it", "runs": "adam", "baseline": "sgd", "statistic": "difference",
         "rule": {"above": 0, "margin": 0.02}},
        {"id": "missing", "claim": "never run", "runs": "nothing_here", "statistic": "mean", "rule": {"above": 0.5}},
    ])
    out = tmp_path / "tables" / "verdicts.md"
    out.parent.mkdir()
    verdicts.main([claims_file, "--root", str(root), "--out", str(out)])
    text = out.read_text()
    assert (tmp_path / "tables" / "verdicts.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "](verdicts.png)" in text and "forest plot: " in capsys.readouterr().err
    summary = _summary_rows(text)
    assert [line.split(" | ")[0] for line in summary] == ["| `chance`", "| `optimizer`", "| `missing`"]
    assert "**confirmed**" in summary[0] and "**confirmed**" in summary[1] and "**not run**" in summary[2]
    assert text.index("## At a glance") < text.index("![") < text.index(verdict_table.FULL_HEADING)
    assert "`missing`" in text.split(verdict_table.FULL_HEADING)[1]  # and in full below

    elsewhere = tmp_path / "plots" / "forest.png"
    elsewhere.parent.mkdir()
    verdicts.main([claims_file, "--root", str(root), "--out", str(out), "--plot", str(elsewhere)])
    assert elsewhere.exists() and "](../plots/forest.png)" in out.read_text()


@pytest.mark.parametrize("verdict", verdict_table.VERDICTS)
def test_every_verdict_has_a_colour(verdict):
    assert verdict in plots.VERDICT_COLORS
