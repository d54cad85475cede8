"""Test-set metrics from predicted probabilities: plain functions on arrays (scikit-learn and SciPy where they have
one)."""
from __future__ import annotations

import numpy as np
from scipy.stats import binomtest
from sklearn.metrics import accuracy_score, confusion_matrix, log_loss

from .catalog import DIGIT_NAMES


def wilson_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (SciPy's binomtest); (0, 1) for no trials."""
    if n == 0:
        return (0.0, 1.0)
    ci = binomtest(int(successes), int(n)).proportion_ci(confidence_level=level, method="wilson")
    return (float(ci.low), float(ci.high))


def top1_accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    """Share of rows whose most probable output unit is the label."""
    return float(accuracy_score(labels, np.asarray(probs).argmax(axis=1)))


def summarize(labels: np.ndarray, probs: np.ndarray, class_names: tuple[str, ...] = DIGIT_NAMES) -> dict:
    """Accuracy (argmax over all output units, so a 1000-unit model can miss by naming a non-class), cross-entropy,
    Wilson 95% interval, per-class accuracy (by class name) and the confusion matrix over the classes."""
    predicted = probs.argmax(axis=1)
    n = len(labels)
    correct = int((predicted == labels).sum())
    classes = list(range(len(class_names)))
    # Predictions outside the classes (wider heads) count as wrong; they form no column of the matrix.
    matrix = confusion_matrix(labels, np.where(predicted < len(classes), predicted, -1), labels=classes)
    support = np.bincount(labels, minlength=len(classes))
    per_class = {class_names[c]: (float(matrix[c, c] / support[c]) if support[c] else None) for c in classes}
    clipped = np.clip(probs, 1e-12, 1.0)
    return {
        "accuracy": top1_accuracy(probs, labels),
        "loss": float(log_loss(labels, clipped / clipped.sum(axis=1, keepdims=True),
                               labels=list(range(probs.shape[1])))),
        "n": n,
        "correct": correct,
        "ci95": list(wilson_interval(correct, n)),
        "ci95_method": "wilson",
        "per_class_accuracy": per_class,
        "confusion_matrix": matrix.tolist(),
    }


def predictions_table(labels: np.ndarray, probs: np.ndarray, class_names: tuple[str, ...] | None = None) -> list[dict]:
    """One row per test image: index, label, predicted class, confidence; with `class_names` that say more than the
    label numbers (not the digits' "0".."9"), the names of label and prediction too (empty for an output unit
    beyond the classes)."""
    predicted = probs.argmax(axis=1)
    rows = [{"index": i, "label": int(labels[i]), "predicted": int(predicted[i]),
             "confidence": float(probs[i, predicted[i]])} for i in range(len(labels))]
    if class_names is not None and list(class_names) != [str(c) for c in range(len(class_names))]:
        for row in rows:
            row["label_name"] = class_names[row["label"]]
            row["predicted_name"] = class_names[row["predicted"]] if row["predicted"] < len(class_names) else ""
    return rows
