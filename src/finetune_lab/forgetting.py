"""Forgetting as numbers: pure NumPy measures of how far a fine-tuned network moved from its pretrained self.

Nothing here imports TensorFlow. Every function takes plain arrays, so each measure can be checked on
hand-made cases whose answer is known (identical inputs, a known scaling, an orthogonal rotation).
"""
from __future__ import annotations

import numpy as np

EPS = 1e-12

# The headline measures of classifier_report and edge_report (what finetune-lab-tradeoff records at each alpha),
# and those of them that measure agreement with the pretrained network (1 = the same answers), in the order a
# figure takes the first a run has (finetune-lab-report's scatter, finetune-lab-tradeoff's curve).
CLASSIFIER_MEASURES = ("top1_agreement", "mean_kl", "top5_overlap")
EDGE_MEASURES = ("edge_correlation", "edge_f1", "edge_mean_abs_diff")
AGREEMENT = ("top1_agreement", "edge_correlation", "edge_f1")


# ----- weights -----

def relative_change(before: list[np.ndarray], after: list[np.ndarray]) -> float:
    """||W' - W|| / ||W|| over all arrays of one layer (kernel and bias together, Frobenius norm)."""
    if len(before) != len(after):
        raise ValueError(f"{len(before)} arrays before, {len(after)} after")
    diff = sum(float(np.sum((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
               for b, a in zip(before, after))
    norm = sum(float(np.sum(np.asarray(b, np.float64) ** 2)) for b in before)
    if norm == 0.0:
        return 0.0 if diff == 0.0 else float("inf")
    return float(np.sqrt(diff / norm))


def interpolate(pretrained: list[np.ndarray], finetuned: list[np.ndarray], alpha: float) -> list[np.ndarray]:
    """WiSE-FT's weight-space ensemble (1 - alpha) * theta_pre + alpha * theta_ft, array by array.

    alpha=0 returns the pretrained arrays bit for bit, alpha=1 the fine-tuned ones."""
    if alpha == 0:
        return [np.array(p, copy=True) for p in pretrained]
    if alpha == 1:
        return [np.array(f, copy=True) for f in finetuned]
    return [((1.0 - alpha) * np.asarray(p) + alpha * np.asarray(f)).astype(np.asarray(p).dtype)
            for p, f in zip(pretrained, finetuned)]


# ----- representations -----

def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear centered kernel alignment (Kornblith et al. 2019) between two representations of the same n
    examples: x (n, p), y (n, q); extra axes are flattened. 1 for identical representations; invariant to
    orthogonal transforms and isotropic scaling of either side. Computed from n x n Gram matrices, so wide
    conv features cost little when n is a few hundred."""
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    y = np.asarray(y, np.float64).reshape(len(y), -1)
    if len(x) != len(y):
        raise ValueError(f"{len(x)} examples in x, {len(y)} in y")
    x = x - x.mean(axis=0, keepdims=True)
    y = y - y.mean(axis=0, keepdims=True)
    gram_x, gram_y = x @ x.T, y @ y.T  # centred features give centred Gram matrices
    hsic = float(np.sum(gram_x * gram_y))
    norm = float(np.sqrt(np.sum(gram_x * gram_x) * np.sum(gram_y * gram_y)))
    if norm == 0.0:
        return float("nan")
    return hsic / norm


# ----- classifier outputs (ImageNet top) -----

def top1_agreement(reference: np.ndarray, new: np.ndarray) -> float:
    """Share of examples whose most probable class is the same in both (N, classes) arrays."""
    return float(np.mean(np.argmax(reference, axis=1) == np.argmax(new, axis=1)))


def mean_kl(reference: np.ndarray, new: np.ndarray) -> float:
    """Mean over examples of KL(reference || new) in nats; rows are probability vectors."""
    p = np.clip(np.asarray(reference, np.float64), EPS, None)
    q = np.clip(np.asarray(new, np.float64), EPS, None)
    p /= p.sum(axis=1, keepdims=True)
    q /= q.sum(axis=1, keepdims=True)
    return float(np.mean(np.sum(p * (np.log(p) - np.log(q)), axis=1)))


def top_k(probs: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k most probable classes per row, most probable first."""
    return np.argsort(-np.asarray(probs), axis=1, kind="stable")[:, :k]


def topk_overlap(reference: np.ndarray, new: np.ndarray, k: int = 5) -> float:
    """Mean share of the reference's top-k classes that are also in the new top-k (1 = same sets)."""
    a, b = top_k(reference, k), top_k(new, k)
    return float(np.mean([len(set(r) & set(s)) / k for r, s in zip(a, b)]))


def classifier_report(reference: np.ndarray, new: np.ndarray, k: int = 5) -> dict:
    return {"top1_agreement": top1_agreement(reference, new), "mean_kl": mean_kl(reference, new),
            f"top{k}_overlap": topk_overlap(reference, new, k), "n": int(len(reference))}


# ----- edge maps (HED) -----

def mean_abs_diff(reference: np.ndarray, new: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(new, np.float64) - np.asarray(reference, np.float64))))


def pearson(reference: np.ndarray, new: np.ndarray) -> float:
    """Pearson correlation of all values (pixels of all images) of the two arrays."""
    a = np.asarray(reference, np.float64).ravel()
    b = np.asarray(new, np.float64).ravel()
    a, b = a - a.mean(), b - b.mean()
    norm = float(np.sqrt(np.sum(a * a) * np.sum(b * b)))
    if norm == 0.0:
        return 1.0 if np.array_equal(a, b) else float("nan")
    return float(np.sum(a * b) / norm)


def edge_fscore(reference: np.ndarray, new: np.ndarray, threshold: float = 0.5) -> dict:
    """Precision, recall and F1 of the new edge pixels (value >= threshold) against the reference's edges.

    Pixel-exact matching, no tolerance: this compares a network with itself, not with human annotations.
    Both maps without any edge pixel count as a perfect match."""
    ref = np.asarray(reference) >= threshold
    got = np.asarray(new) >= threshold
    both = float(np.sum(ref & got))
    n_ref, n_got = float(np.sum(ref)), float(np.sum(got))
    if n_ref == 0 and n_got == 0:
        return {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    precision = both / n_got if n_got else 0.0
    recall = both / n_ref if n_ref else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def edge_report(reference: np.ndarray, new: np.ndarray, threshold: float = 0.5) -> dict:
    scores = edge_fscore(reference, new, threshold)
    return {"edge_mean_abs_diff": mean_abs_diff(reference, new), "edge_correlation": pearson(reference, new),
            "edge_f1": scores["f1"], "edge_precision": scores["precision"], "edge_recall": scores["recall"],
            "threshold": threshold, "edge_pixel_share_reference": float(np.mean(np.asarray(reference) >= threshold)),
            "n": int(len(reference))}
