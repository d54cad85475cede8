"""finetune-lab-report over real run folders (a parallel sweep with a failing job, a failed single run, a
killed run), and over hand-made folders for what real tiny runs may not have."""
import base64
import csv
import html
import json
import math
import os
import re
import shutil
import socket
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest

from conftest import ANALYSED, run_cli
from finetune_lab import plots, report, runs, stats


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.fixture(scope="module")
def runs_root(parallel_sweep, tmp_path_factory):
    """outputs/ with: a copy of the shared 3-job sweep run two at a time (conftest.parallel_sweep: cutoff 0.02
    and 0.04 complete, 1.5 is refused and recorded as failed), a single run refused for training.epochs=0, and
    a copy of a job left `running` by a process that no longer exists (killed)."""
    cwd = tmp_path_factory.mktemp("report")
    shutil.copytree(parallel_sweep[0] / "outputs", cwd / "outputs")
    single = run_cli([*ANALYSED, "training.epochs=0"], cwd)  # last: it overrides ANALYSED's epochs
    assert single.returncode == 2 and "training.epochs=0" in single.stderr
    outputs = cwd / "outputs"
    (sweep_dir,) = list((outputs / "multirun").iterdir())
    killed = outputs / "runs" / "killed"
    shutil.copytree(sweep_dir / "1" / ".hydra", killed / ".hydra")
    (killed / "status.json").write_text(json.dumps(
        {"status": "running", "pid": _dead_pid(), "host": socket.gethostname(), "time": "2026-01-01T00:00:00"}))
    return outputs


@pytest.fixture(scope="module")
def built(runs_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    result = run_cli([str(runs_root), "--out", str(out)], runs_root.parent, module="finetune_lab.report")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = list(csv.DictReader(open(out / "runs.csv")))
    return out, rows, result.stdout


@pytest.mark.e2e
def test_every_run_is_a_row_with_its_status_and_reason(built):
    out, rows, stdout = built
    assert len(rows) == 5
    by_status = {}
    for row in rows:
        by_status.setdefault(row["status"], []).append(row)
    assert {s: len(r) for s, r in by_status.items()} == {"completed": 2, "failed": 2, "killed": 1}
    assert "5 runs (2 completed, 2 failed, 1 killed)" in stdout
    assert all(row["error"] == "" for row in by_status["completed"])
    reasons = " ".join(row["error"] for row in by_status["failed"])
    assert "data.cutoff_rate=1.5" in reasons and "training.epochs=0" in reasons
    assert "finetune-lab-resume" in by_status["killed"][0]["error"]


@pytest.mark.e2e
def test_rows_carry_varying_keys_and_results(built):
    out, rows, _ = built
    assert {"run", "data.cutoff_rate", "training.epochs", "status", "test_accuracy", "ci95_lo", "ci95_hi",
            "epochs", "train_size", "wall_seconds", "error"} <= set(rows[0])
    assert "model.freeze" not in rows[0] and "seed" not in rows[0]  # the same in every run
    done = sorted((r for r in rows if r["status"] == "completed"), key=lambda r: float(r["data.cutoff_rate"]))
    assert [int(r["train_size"]) for r in done] == [64, 128]
    for row in done:
        metrics = json.load(open(os.path.join(row["run"], "metrics.json")))
        assert float(row["test_accuracy"]) == pytest.approx(metrics["test"]["accuracy"])
        assert float(row["ci95_lo"]) <= float(row["test_accuracy"]) <= float(row["ci95_hi"])
        assert row["epochs"] == "1" and float(row["wall_seconds"]) > 0
        assert float(row["peak_rss_gib"]) == metrics["memory"]["peak_rss_gib"] > 0.1
        if "original_task" in metrics:  # numeric leaves, flattened
            assert any(k.startswith("original_task.") and row[k] for k in row)


@pytest.mark.e2e
def test_markdown_and_self_contained_html(built):
    out, rows, _ = built
    for name in ("report.md", "report.html", "accuracy_vs_train_size.png", "learning_curves.png"):
        assert (out / name).stat().st_size > 500, name
    md = (out / "report.md").read_text()
    assert md.count("**failed**") == 2 and md.count("**killed**") == 1
    assert "![test accuracy vs training-set size](accuracy_vs_train_size.png)" in md
    page = (out / "report.html").read_text()
    sources = re.findall(r"<img[^>]*src=\"([^\"]*)\"", page)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "Feature maps before / after" in page and "block5_conv3" in page
    problems = page.split("<h2>Runs that did not complete</h2>")[1].split("<h2>")[0]
    assert problems.count("<li>") == 3 and problems.count("<strong>failed</strong>") == 2


@pytest.mark.e2e
def test_filter_and_group_by_take_dotted_keys(runs_root, tmp_path):
    res = report.build([str(runs_root)], str(tmp_path / "a"), filters=["data.cutoff_rate=0.02"])
    assert res["runs"] == 1 and res["counts"] == {"completed": 1}
    res = report.build([str(runs_root)], str(tmp_path / "b"), filters=["status=failed", "status=killed"],
                       group_by=["model.freeze"])
    assert res["runs"] == 3 and res["groups"] == ["model.freeze"]
    header = next(csv.reader(open(tmp_path / "b" / "runs.csv")))
    assert "model.freeze" in header


@pytest.mark.e2e
def test_unknown_keys_and_empty_folders_are_one_line_errors(runs_root, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        report.main([str(runs_root), "--out", str(tmp_path / "x"), "--group-by", "data.cutof_rate"])
    assert exit_info.value.code == 2
    assert "did you mean data.cutoff_rate" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        report.main([str(tmp_path), "--out", str(tmp_path / "y")])
    assert "no run folder" in capsys.readouterr().err


def _fake_run(folder, seed, cutoff, train, accuracy, original=None, freeze="none", per_class=None):
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "config.yaml").write_text(
        f"seed: {seed}\ndata:\n  cutoff_rate: {cutoff}\nmodel:\n  freeze: {freeze}\n  head:\n    units: [16]\n")
    metrics = {"status": "completed", "epochs_run": 2, "wall_seconds": 1.5,
               "test": {"accuracy": accuracy, "n": 100, "ci95": [accuracy - 0.1, accuracy + 0.1]},
               "provenance": {"data": {"counts": {"train": train, "val": 10, "test": 100}}}}
    if original is not None:
        metrics["original_task"] = original
    if per_class is not None:
        metrics["test"]["per_class_accuracy"] = per_class
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "history.csv").write_text("epoch,accuracy,loss,val_accuracy,val_loss\n0,0.5,1.0,0.4,1.2\n"
                                        "1,0.7,0.6,0.6,0.9\n")


def test_original_task_metrics_give_columns_and_a_scatter(tmp_path):
    for i, (cutoff, train, acc) in enumerate([(0.1, 100, 0.8), (0.1, 100, 0.85), (0.5, 500, 0.95)]):
        _fake_run(tmp_path / "runs" / str(i), seed=i, cutoff=cutoff, train=train, accuracy=acc,
                  original={"task": "x", "images": ["a", "b"], "edge_correlation": 0.9 - i / 10, "n": 8,
                            "labelled": {"top1": 0.5}, "flag": True})
    res = report.build([str(tmp_path / "runs")], str(tmp_path / "out"))
    assert res["counts"] == {"completed": 3}
    header = next(csv.reader(open(tmp_path / "out" / "runs.csv")))
    assert {"original_task.edge_correlation", "original_task.n", "original_task.labelled.top1"} <= set(header)
    assert not {"original_task.images", "original_task.task", "original_task.flag"} & set(header)
    assert (tmp_path / "out" / "accuracy_vs_original_task.png").stat().st_size > 1000
    summary = (tmp_path / "out" / "report.md").read_text()
    assert "| 100 | 2 | 0.825 |" in summary  # two seeds at 100 images: mean 0.825


def _capture(monkeypatch):
    """The figures build() saves, by file name, kept open for the test to read."""
    figures = {}

    def keep(fig, path, **how):
        figures[os.path.basename(path)] = fig
        fig.savefig(path)
        return path

    monkeypatch.setattr(plots, "_save", keep)
    return figures


def test_accuracy_vs_agreement_draws_each_run_and_each_groups_means(tmp_path, monkeypatch):
    """Six groups in the order none, all, block1..block4 (not the sorted order), five of them with the fewest runs
    the logit t covers at and block4 with fewer: one dot per run, and per group a cross at its means, with bars for
    their 95% intervals (stats.bounded_mean on each metric's range) only where the group has the runs for one; the
    legend lists the groups in the runs' order."""
    rng = np.random.default_rng(0)
    levels = ["none", "all", "block1", "block2", "block3", "block4"]
    enough = stats.FEWEST["logit t"]
    expected = {}
    for g, freeze in enumerate(levels):
        n = enough if freeze != "block4" else enough - 3
        accuracy, edge = 0.95 - 0.15 * g + rng.normal(0, 0.02, n), 0.3 + 0.12 * g + rng.normal(0, 0.03, n)
        expected[f"model.freeze={freeze}"] = (accuracy, edge)
        for seed in range(n):
            _fake_run(tmp_path / "runs" / f"{g}_{seed}", seed=seed, cutoff=0.1, train=100, accuracy=float(accuracy[seed]),
                      original={"edge_correlation": float(edge[seed])}, freeze=freeze)
    figures = _capture(monkeypatch)
    report.build([str(tmp_path / "runs")], str(tmp_path / "out"))

    frame = report.table([runs.load_run(p) for p in runs.find_runs([str(tmp_path / "runs")])], ["model.freeze"])
    summary = report.agreement_summary(frame, ["model.freeze"], "original_task.edge_correlation")
    assert list(summary.group) == list(expected) and list(summary.runs) == [enough] * 5 + [enough - 3]
    for _, row in summary.iterrows():
        accuracy, edge = expected[row.group]
        assert (row.x_mean, row.y_mean) == (pytest.approx(edge.mean()), pytest.approx(accuracy.mean()))
        if len(accuracy) < enough:
            assert all(math.isnan(row[c]) for c in ("x_ci95_lo", "x_ci95_hi", "y_ci95_lo", "y_ci95_hi"))
            continue
        x, y = stats.bounded_mean(edge, (-1.0, 1.0)), stats.bounded_mean(accuracy, (0.0, 1.0))  # a correlation's range
        assert (row.x_ci95_lo, row.x_ci95_hi, row.y_ci95_lo, row.y_ci95_hi) == (
            pytest.approx(x.ci_lo), pytest.approx(x.ci_hi), pytest.approx(y.ci_lo), pytest.approx(y.ci_hi))

    ax = figures["accuracy_vs_original_task.png"].axes[0]
    dots = np.concatenate([c.get_offsets() for c in ax.collections if c.get_offsets().shape[0] in (enough, enough - 3)])
    assert len(dots) == 5 * enough + enough - 3  # every run
    crosses = ax.containers  # one errorbar per group, in legend order
    assert [c.get_label().split(" (")[0] for c in crosses] == list(expected)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert [t.split(" (")[0] for t in legend] == list(expected)
    assert legend[0].startswith(f"model.freeze=none (n={enough}): ") and "interval" not in legend[0]
    assert legend[-1].endswith(f"; interval: none ({enough - 3} runs, fewer than {enough})")
    for container, (_, row) in zip(crosses, summary.iterrows()):
        point, caps, bars = container.lines
        assert (point.get_xdata()[0], point.get_ydata()[0]) == (pytest.approx(row.x_mean), pytest.approx(row.y_mean))
        if math.isnan(row.y_ci95_lo):
            assert bars == ()  # no interval, no bar
            continue
        (x_lo, y_mid), (x_hi, _) = bars[0].get_segments()[0]
        (_, y_lo), (_, y_hi) = bars[1].get_segments()[0]
        assert (x_lo, x_hi, y_lo, y_hi) == (pytest.approx(row.x_ci95_lo), pytest.approx(row.x_ci95_hi),
                                            pytest.approx(row.y_ci95_lo), pytest.approx(row.y_ci95_hi))


def test_no_original_task_no_scatter(tmp_path):
    _fake_run(tmp_path / "runs" / "0", seed=0, cutoff=0.1, train=100, accuracy=0.8)
    report.build([str(tmp_path / "runs")], str(tmp_path / "out"))
    assert not (tmp_path / "out" / "accuracy_vs_original_task.png").exists()
    assert (tmp_path / "out" / "learning_curves.png").exists()


def test_critical_point_per_group_from_runs_at_several_sizes(tmp_path, monkeypatch):
    accuracies = {(0.1, 100): [0.30, 0.35, 0.32], (0.25, 250): [0.93, 0.95, 0.94], (0.5, 500): [0.96, 0.97, 0.98]}
    for (cutoff, train), accs in accuracies.items():
        for seed, acc in enumerate(accs):
            _fake_run(tmp_path / "runs" / f"{train}_{seed}", seed=seed, cutoff=cutoff, train=train, accuracy=acc)
    figures = _capture(monkeypatch)
    report.build([str(tmp_path / "runs")], str(tmp_path / "out"))
    legend = [t.get_text() for t in figures["accuracy_vs_train_size.png"].axes[0].get_legend().get_texts()]
    # the figure marks it: the size and the target it reaches, no interval
    assert legend[1] == "critical point 250: first size reaching 0.921"  # 0.95 x 0.97
    rows = list(csv.DictReader(open(tmp_path / "out" / "critical_points.csv")))
    assert list(rows[0]) == ["critical_size", "target_accuracy", "largest_size", "runs_per_size"]
    assert len(rows) == 1 and rows[0]["critical_size"] == "250" and rows[0]["largest_size"] == "500"
    assert float(rows[0]["target_accuracy"]) == pytest.approx(0.95 * 0.97)
    assert rows[0]["runs_per_size"] == "100: 3, 250: 3, 500: 3"
    md = (tmp_path / "out" / "report.md").read_text()
    assert "## Critical point" in md and "without an interval" in md
    # three runs a size: the mean and sd, no interval, and the row says why
    line = next(x for x in md.splitlines() if x.startswith("| 250 |"))
    assert [cell.strip() for cell in line.split("|")[1:-1]] == ["250", "3", "0.94", "0.01", "", "",
                                                                "none (3 runs, fewer than 6)"]


def test_a_mean_gets_an_interval_only_from_the_runs_its_method_covers_at(tmp_path, monkeypatch):
    """stats.FEWEST["logit t"] runs at 100 images, one fewer at 500: the first size's row has the logit-scale
    interval of stats.bounded_mean, drawn as a bar; the second has none, says so, and shows its runs alone."""
    enough = stats.FEWEST["logit t"]
    accuracies = {(0.1, 100): np.linspace(0.90, 0.99, enough), (0.5, 500): np.linspace(0.95, 0.999, enough - 1)}
    for (cutoff, train), accs in accuracies.items():
        for seed, acc in enumerate(accs):
            _fake_run(tmp_path / "runs" / f"{train}_{seed}", seed=seed, cutoff=cutoff, train=train, accuracy=float(acc))
    figures = _capture(monkeypatch)
    report.build([str(tmp_path / "runs")], str(tmp_path / "out"))

    frame = report.table([runs.load_run(p) for p in runs.find_runs([str(tmp_path / "runs")])], [])
    covered, short = (row for _, row in report.summary(frame, []).iterrows())
    reference = stats.bounded_mean(accuracies[0.1, 100], (0.0, 1.0))
    assert (covered.train_size, covered.runs, covered.interval) == (100, enough, "logit t")
    assert (covered["mean"], covered.ci95_lo, covered.ci95_hi) == (
        pytest.approx(reference.value), pytest.approx(reference.ci_lo), pytest.approx(reference.ci_hi))
    t_interval = stats.contrast([accuracies[0.1, 100]], [1.0])  # not the plain t
    assert covered.ci95_hi != pytest.approx(t_interval.ci_hi)
    assert (short.train_size, short.runs) == (500, enough - 1)
    assert math.isnan(short.ci95_lo) and math.isnan(short.ci95_hi)
    assert short.interval == f"none ({enough - 1} runs, fewer than {enough})"
    assert short.sd == pytest.approx(np.std(accuracies[0.5, 500], ddof=1))

    ax = figures["accuracy_vs_train_size.png"].axes[0]
    assert sum(c.get_offsets().shape[0] for c in ax.collections if c.get_offsets().ndim == 2
               and c.get_offsets().shape[0] > 1) >= 2 * enough - 1  # each run a dot
    (bars,) = [c for c in ax.containers if c.has_yerr]
    (segment,) = bars.lines[2][0].get_segments()  # one bar: at 100 images only
    assert segment[:, 0] == pytest.approx([100, 100])
    assert sorted(segment[:, 1]) == [pytest.approx(reference.ci_lo), pytest.approx(reference.ci_hi)]
    assert f"at sizes with {enough} runs or more; none with fewer" in ax.get_title()
    md = (tmp_path / "out" / "report.md").read_text()
    assert "logit t" in md and f"none ({enough - 1} runs, fewer than {enough})" in md


def test_one_size_only_has_no_critical_point(tmp_path):
    for seed in range(2):
        _fake_run(tmp_path / "runs" / str(seed), seed=seed, cutoff=0.1, train=100, accuracy=0.8)
    report.build([str(tmp_path / "runs")], str(tmp_path / "out"))
    assert "## Critical point" not in (tmp_path / "out" / "report.md").read_text()


def test_where_a_run_was_tracked_is_never_a_column_or_group(tmp_path):
    for seed in range(2):
        _fake_run(tmp_path / "runs" / str(seed), seed=seed, cutoff=0.1, train=100, accuracy=0.8)
    with open(tmp_path / "runs" / "1" / ".hydra" / "config.yaml", "a") as f:  # one tracked, one from before loggers
        f.write("logger:\n  name: mlflow\n  tracking_uri: sqlite:///${hydra:runtime.cwd}/outputs/mlflow.db\n")
    report.build([str(tmp_path / "runs")], str(tmp_path / "out"))
    header = next(csv.reader(open(tmp_path / "out" / "runs.csv")))
    assert "seed" in header and not [key for key in header if key.startswith("logger")]


def test_per_class_accuracy_by_class_name_one_column_per_group_and_a_table_per_set_of_classes(tmp_path):
    """Two shapes runs frozen, one not, and one run with other classes (a class without test images): the group
    means by class name, in label order; the other classes in a table of their own."""
    shapes = {"a0": ("all", {"square": 0.9, "circle": 0.5}), "a1": ("all", {"square": 0.7, "circle": 0.6}),
              "b0": ("none", {"square": 0.4, "circle": 0.2}), "c0": ("stages:2", {"cat": 1.0, "dog": None})}
    for seed, (name, (freeze, accuracy)) in enumerate(shapes.items()):
        _fake_run(tmp_path / "runs" / name, seed=seed, cutoff=0.1, train=100, accuracy=0.6, freeze=freeze,
                  per_class=accuracy)
    report.build([str(tmp_path / "runs")], str(tmp_path / "out"))

    rows = list(csv.DictReader(open(tmp_path / "out" / "per_class.csv")))
    assert list(rows[0]) == ["class_set", "model.freeze", "class", "runs", "mean"]
    got = {(r["class_set"], r["model.freeze"], r["class"]): (int(r["runs"]), r["mean"]) for r in rows}
    assert got.keys() == {("1", "all", "square"), ("1", "all", "circle"), ("1", "none", "square"),
                          ("1", "none", "circle"), ("2", "stages:2", "cat"), ("2", "stages:2", "dog")}
    assert float(got["1", "all", "square"][1]) == pytest.approx(0.8) and got["1", "all", "square"][0] == 2
    assert float(got["1", "all", "circle"][1]) == pytest.approx(0.55)
    assert float(got["1", "none", "circle"][1]) == pytest.approx(0.2) and got["1", "none", "circle"][0] == 1
    assert got["2", "stages:2", "dog"] == (1, "")  # no test image of the class: no mean

    md = (tmp_path / "out" / "report.md").read_text()
    section = md.split("## Test accuracy per class")[1].split("\n## ")[0]
    lines = [line.replace(" ", "") for line in section.splitlines() if line.startswith("|")]
    assert lines[0] == "|class|model.freeze=all(n=2)|model.freeze=none(n=1)|"
    assert lines[2:4] == ["|square|0.8|0.4|", "|circle|0.55|0.2|"]  # label order, not sorted
    assert "### Class set 1: 2 classes (square, circle)" in section
    assert "### Class set 2: 2 classes (cat, dog)" in section and "|dog||" in lines
    page = (tmp_path / "out" / "report.html").read_text()
    assert "<h2>Test accuracy per class</h2>" in page and "<td>circle</td>" in page and "<td>0.55</td>" in page


def test_no_per_class_record_no_per_class_section(tmp_path):
    _fake_run(tmp_path / "runs" / "0", seed=0, cutoff=0.1, train=100, accuracy=0.8)
    report.build([str(tmp_path / "runs")], str(tmp_path / "out"))
    assert "per class" not in (tmp_path / "out" / "report.md").read_text()
    assert next(csv.reader(open(tmp_path / "out" / "per_class.csv"))) == ["class_set", "class", "runs", "mean"]


class _Page(HTMLParser):
    """What a reader sees of report.html: headings, list items and table cells as text (an image in a cell as
    `[image]`), and every URL the page would load."""

    def __init__(self):
        super().__init__()
        self.headings, self.items, self.tables, self.images, self.urls, self._text = [], [], [], [], [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.urls += [value for key, value in attrs.items() if key in ("src", "href", "srcset", "data", "poster")]
        if tag == "img":
            self.images.append(attrs["src"])
            if self._text is not None:
                self._text.append("[image]")
        if tag in ("h1", "h2", "h3", "li", "th", "td"):
            self._text = []
        if tag == "table":
            self.tables.append([])
        if tag == "tr":
            self.tables[-1].append([])

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag in ("h1", "h2", "h3", "li", "th", "td"):
            text, self._text = "".join(self._text), None
            {"li": self.items, "th": self.tables[-1][-1] if self.tables else [],
             "td": self.tables[-1][-1] if self.tables else []}.get(tag, self.headings).append(
                text if tag in ("th", "td", "li") else f"{tag}:{text}")


def _shown(markdown: str) -> str:
    """A markdown span as the text it shows: images as `[image]`, code spans, backslash escapes and entities undone."""
    markdown = re.sub(r"!\[[^\]]*\]\([^)]*\)", "[image]", markdown)
    markdown = re.sub(r"`([^`]*)`", r"\1", markdown)
    markdown = re.sub(r"\*\*(\w+)\*\*", r"\1", markdown)  # the status, in bold
    return html.unescape(re.sub(r"\\(.)", r"\1", markdown))


def _markdown_parts(md: str) -> tuple[list, list, list, list]:
    """report.md's headings, list items, tables (rows of cells) and image links, read line by line."""
    headings, items, found, images, previous = [], [], [], [], ""
    for line in md.splitlines():
        images += re.findall(r"!\[[^\]]*\]\(([^)]*)\)", line)
        if heading := re.match(r"(#+) (.*)", line):
            headings.append(f"h{len(heading[1])}:{_shown(heading[2])}")
        elif line.startswith("- "):
            items.append(_shown(line[2:]))
        elif line.startswith("|") and not re.fullmatch(r"[|\- ]+", line):
            if not previous.startswith("|"):
                found.append([])
            found[-1].append([_shown(cell.strip()) for cell in re.split(r"(?<!\\)\|", line)[1:-1]])
        previous = line
    return headings, items, found, images


def test_markdown_and_html_are_one_document_with_every_section_and_cell(tmp_path):
    """One report with every section (a failed run, two sets of classes, a critical point, plots, feature maps) and
    text that markdown would read as markup (an error with `*`, `<` and `__`, class names with `<` and `|`): the
    HTML shows the same headings, list items and table cells as report.md, and embeds each PNG report.md links."""
    for i, (cutoff, train, acc) in enumerate([(0.1, 100, 0.3), (0.1, 100, 0.35), (0.5, 500, 0.95), (0.5, 500, 0.97)]):
        _fake_run(tmp_path / "runs" / str(i), seed=i, cutoff=cutoff, train=train, accuracy=acc,
                  original={"edge_correlation": 0.5 + i / 10},
                  per_class={"a<b>": 0.5, "x|y": 0.25 * i} if i else {"*c*": 0.9, "__d__": 0.1})
    maps = tmp_path / "runs" / "1" / "feature_maps"
    maps.mkdir()
    for n, name in enumerate(("block1_conv1.before", "block1_conv1.after", "block2_conv1.before", "block2_conv1.after")):
        plots.plt.imsave(maps / f"{name}.png", [[n / 4, 1.0], [0.0, 0.5]])
    failed = tmp_path / "runs" / "9"
    (failed / ".hydra").mkdir(parents=True)
    (failed / ".hydra" / "config.yaml").write_text("seed: 9\ndata:\n  cutoff_rate: 1.5\nmodel:\n  freeze: none\n")
    error = "ValueError: f(*args, **kw) in <module> & __init__ | [16]"
    (failed / "metrics.json").write_text(json.dumps({"status": "failed", "error": error}))
    out = tmp_path / "out"
    report.build([str(tmp_path / "runs")], str(out))

    md = (out / "report.md").read_text()
    headings, items, md_tables, links = _markdown_parts(md)
    shown = _Page()
    shown.feed((out / "report.html").read_text())
    assert [f"h2:{name}" for name in ("Runs that did not complete", "Test accuracy by group", "Test accuracy per class",
                                      "Critical point", "Plots", "Feature maps before / after training", "Runs")] == [
        h for h in headings if h.startswith("h2:")]
    assert {"h3:Class set 1: 2 classes (*c*, __d__)", "h3:Class set 2: 2 classes (a<b>, x|y)", "h3:learning curves",
            f"h3:{tmp_path / 'runs' / '1'}"} <= set(headings)
    assert shown.headings == headings
    assert items == shown.items == [f"{failed}: failed: {error}"]
    assert md_tables == shown.tables and len(md_tables) == 6  # by group, 2 class sets, critical point, maps, runs
    assert ["a<b>", "0.5"] in md_tables[2] and ["x|y", "0.5"] in md_tables[2] and ["*c*", "0.9"] in md_tables[1]
    assert ["block2_conv1", "[image]", "[image]"] in md_tables[4]
    assert [str(tmp_path / "runs" / "9"), "9", "1.5"] == md_tables[-1][-1][:3]

    # report.md links the PNGs beside it and in the run folders; report.html carries each of them, in that order
    assert len(links) == 3 + 4 and "accuracy_vs_train_size.png" in links
    assert shown.urls == shown.images and len(shown.images) == len(links)
    for link, source in zip(links, shown.images):
        kind, data = source.split(",", 1)
        assert kind == "data:image/png;base64" and base64.b64decode(data) == (out / link).read_bytes()
