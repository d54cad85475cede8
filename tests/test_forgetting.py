"""The forgetting measures on hand-made cases whose answer is known."""
import numpy as np
import pytest

from finetune_lab import forgetting as fg


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# ----- weights -----

def test_relative_change_is_zero_for_identical_weights_and_0_1_for_a_10_percent_scaling(rng):
    kernel, bias = rng.normal(size=(3, 3, 4, 8)), rng.normal(size=8)
    assert fg.relative_change([kernel, bias], [kernel.copy(), bias.copy()]) == 0.0
    assert fg.relative_change([kernel, bias], [1.1 * kernel, 1.1 * bias]) == pytest.approx(0.1, rel=1e-12)
    assert fg.relative_change([kernel, bias], [0.5 * kernel, 0.5 * bias]) == pytest.approx(0.5, rel=1e-12)


def test_relative_change_of_a_known_perturbation():
    before = [np.array([3.0, 4.0])]  # norm 5
    assert fg.relative_change(before, [np.array([3.0, 5.0])]) == pytest.approx(0.2)


def test_interpolate_alpha_0_and_1_are_exact_and_half_is_the_midpoint(rng):
    pre = [rng.normal(size=(5, 5)).astype(np.float32), rng.normal(size=5).astype(np.float32)]
    ft = [p + rng.normal(size=p.shape).astype(np.float32) for p in pre]
    for got, want in zip(fg.interpolate(pre, ft, 0.0), pre):
        assert got.dtype == want.dtype and np.array_equal(got, want)
    for got, want in zip(fg.interpolate(pre, ft, 1.0), ft):
        assert np.array_equal(got, want)
    for got, p, f in zip(fg.interpolate(pre, ft, 0.5), pre, ft):
        np.testing.assert_allclose(got, (p + f) / 2, rtol=1e-6)


# ----- CKA -----

def test_cka_is_one_for_identical_features_and_invariant_to_rotation_and_scaling(rng):
    x = rng.normal(size=(60, 16))
    q, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    assert fg.linear_cka(x, x) == pytest.approx(1.0)
    assert fg.linear_cka(x, x @ q) == pytest.approx(1.0)
    assert fg.linear_cka(x, 7.5 * x) == pytest.approx(1.0)
    assert fg.linear_cka(x, 0.3 * x @ q + 2.0) == pytest.approx(1.0)  # a constant shift is centred away


def test_cka_is_low_for_independent_features_and_flattens_conv_maps(rng):
    x, y = rng.normal(size=(200, 8)), rng.normal(size=(200, 8))
    assert fg.linear_cka(x, y) < 0.15
    maps = rng.normal(size=(20, 4, 4, 3))
    assert fg.linear_cka(maps, maps.reshape(20, -1)) == pytest.approx(1.0)


def test_cka_of_different_widths_and_a_non_isotropic_scaling_is_below_one(rng):
    x = rng.normal(size=(100, 10))
    y = x * np.linspace(0.1, 3.0, 10)  # per-feature scaling is not invariant
    assert 0.3 < fg.linear_cka(x, y) < 0.999
    assert fg.linear_cka(x, np.concatenate([x, x], axis=1)) == pytest.approx(1.0)


# ----- classifier outputs -----

def test_identical_predictions_agree_fully_with_zero_kl(rng):
    p = softmax(rng.normal(size=(12, 20)))
    assert fg.top1_agreement(p, p) == 1.0
    assert fg.mean_kl(p, p) == pytest.approx(0.0, abs=1e-12)
    assert fg.topk_overlap(p, p, 5) == 1.0
    report = fg.classifier_report(p, p)
    assert report == {"top1_agreement": 1.0, "mean_kl": pytest.approx(0.0, abs=1e-12), "top5_overlap": 1.0, "n": 12}


def test_agreement_kl_and_overlap_on_hand_made_rows():
    ref = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    new = np.array([[0.2, 0.7, 0.1], [0.1, 0.1, 0.8]])
    assert fg.top1_agreement(ref, new) == 0.5
    kl_first = 0.7 * np.log(0.7 / 0.2) + 0.2 * np.log(0.2 / 0.7)
    assert fg.mean_kl(ref, new) == pytest.approx(kl_first / 2)
    assert fg.topk_overlap(ref, new, 1) == 0.5
    assert fg.topk_overlap(ref, new, 2) == 1.0  # the same two classes on top, in another order


# ----- edge maps -----

def test_identical_edge_maps_match_perfectly(rng):
    e = rng.uniform(size=(3, 16, 16))
    report = fg.edge_report(e, e.copy())
    assert report["edge_mean_abs_diff"] == 0.0
    assert report["edge_correlation"] == pytest.approx(1.0)
    assert report["edge_f1"] == report["edge_precision"] == report["edge_recall"] == 1.0


def test_edge_fscore_counts_pixels_at_the_threshold():
    ref = np.array([[0.9, 0.9, 0.1, 0.1]])
    new = np.array([[0.9, 0.1, 0.9, 0.1]])
    scores = fg.edge_fscore(ref, new, 0.5)
    assert scores == {"precision": 0.5, "recall": 0.5, "f1": 0.5}
    assert fg.edge_fscore(ref, new, 0.95) == {"precision": 1.0, "recall": 1.0, "f1": 1.0}  # no edges on either side
    assert fg.edge_fscore(ref, np.zeros_like(new), 0.5)["f1"] == 0.0
    assert fg.mean_abs_diff(ref, new) == pytest.approx(0.4)


def test_pearson_of_a_linear_transform_is_one_and_of_its_negation_minus_one(rng):
    e = rng.uniform(size=(2, 8, 8))
    assert fg.pearson(e, 0.5 * e + 0.1) == pytest.approx(1.0)
    assert fg.pearson(e, 1 - e) == pytest.approx(-1.0)
