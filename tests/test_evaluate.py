import numpy as np
import pytest

from finetune_lab.evaluate import predictions_table, summarize, top1_accuracy, wilson_interval


def test_wilson_interval_known_value():
    lo, hi = wilson_interval(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-4) and hi == pytest.approx(0.9433, abs=1e-4)


def test_wilson_interval_at_the_edges_stays_in_zero_one():
    assert wilson_interval(0, 50)[0] == pytest.approx(0.0, abs=1e-12)
    assert wilson_interval(50, 50)[1] == pytest.approx(1.0, abs=1e-12)
    assert wilson_interval(0, 50)[1] > 0.05  # an empty count is not certainty


def test_wilson_interval_is_the_score_interval_formula_on_a_grid():
    import math

    from scipy.stats import norm

    for level in (0.9, 0.95, 0.99):
        z = norm.ppf(0.5 + level / 2)
        for n in (1, 2, 3, 7, 10, 50, 333, 10_000):
            for k in sorted({0, 1, n // 3, n // 2, n - 1, n}):
                p = k / n
                centre = (p + z * z / (2 * n)) / (1 + z * z / n)
                half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
                assert wilson_interval(k, n, level) == pytest.approx((centre - half, centre + half), abs=1e-12)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def one_hot_probs(predicted, units=10, confidence=0.91):
    probs = np.full((len(predicted), units), (1 - confidence) / (units - 1))
    probs[np.arange(len(predicted)), predicted] = confidence
    return probs


def test_metrics_on_a_hand_made_case():
    labels = np.array([0, 1, 2, 3, 3])
    metrics = summarize(labels, one_hot_probs([0, 1, 2, 3, 4]))
    assert metrics["accuracy"] == pytest.approx(0.8) and metrics["n"] == 5 and metrics["correct"] == 4
    assert metrics["per_class_accuracy"]["3"] == pytest.approx(0.5)
    assert metrics["per_class_accuracy"]["5"] is None  # no support
    assert metrics["confusion_matrix"][3][4] == 1
    assert metrics["loss"] == pytest.approx(-(4 * np.log(0.91) + np.log(0.01)) / 5, rel=1e-6)


def test_a_1000_unit_model_naming_a_non_digit_class_is_wrong():
    labels = np.array([1, 2])
    metrics = summarize(labels, one_hot_probs([1, 500], units=1000))
    assert metrics["accuracy"] == 0.5
    assert sum(map(sum, metrics["confusion_matrix"])) == 1  # the non-digit prediction has no column


def test_predictions_table_rows():
    rows = predictions_table(np.array([7]), one_hot_probs([7]))
    assert rows == [{"index": 0, "label": 7, "predicted": 7, "confidence": pytest.approx(0.91)}]


def test_top1_accuracy_counts_rows_whose_most_probable_unit_is_the_label():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.2, 0.5, 0.3], [0.4, 0.35, 0.25]])
    assert top1_accuracy(probs, np.array([0, 2, 0, 1])) == 0.5
    assert summarize(np.array([0, 2, 0, 1]), probs)["accuracy"] == 0.5  # the test accuracy is this function's


def test_class_names_go_into_the_rows_unless_they_are_the_label_numbers():
    rows = predictions_table(np.array([1, 0]), one_hot_probs([1, 2], units=3), ("cat", "dog", "emu"))
    assert [(r["label_name"], r["predicted_name"]) for r in rows] == [("dog", "dog"), ("cat", "emu")]
    wide = predictions_table(np.array([0]), one_hot_probs([3], units=4), ("cat", "dog"))
    assert wide[0]["predicted_name"] == ""  # an output unit beyond the classes
    digits = predictions_table(np.array([7]), one_hot_probs([7]), tuple(str(d) for d in range(10)))
    assert set(digits[0]) == {"index", "label", "predicted", "confidence"}


def test_per_class_accuracy_and_the_matrix_follow_the_class_names():
    metrics = summarize(np.array([0, 1, 1]), one_hot_probs([0, 1, 0], units=3), ("cat", "dog", "emu"))
    assert metrics["per_class_accuracy"] == {"cat": 1.0, "dog": 0.5, "emu": None}
    assert metrics["confusion_matrix"] == [[1, 0, 0], [1, 1, 0], [0, 0, 0]]
