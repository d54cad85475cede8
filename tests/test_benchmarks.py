"""The benchmarks' shared parts: interleaved rounds, ratio summaries, the matmul probe, oneDNN log parsing."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import harness  # noqa: E402
import onednn_profile  # noqa: E402
import throughput  # noqa: E402


def test_interleave_alternates_the_order_every_round():
    calls = []
    values = harness.interleave({name: (lambda name=name: calls.append(name) or len(calls)) for name in "ab"}, 3)
    assert calls == ["a", "b", "b", "a", "a", "b"]
    assert values == {"a": [1, 4, 5], "b": [2, 3, 6]}


def test_ratios_are_kept_per_round_and_summarised_by_median_and_range():
    values = {"fp32": [10.0, 5.0, 8.0], "bf16": [20.0, 11.0, 12.0]}
    ratios = harness.per_round(values, "bf16", "fp32")
    assert ratios == pytest.approx([2.0, 2.2, 1.5])
    assert harness.spread(ratios) == "2.00x (1.50-2.20, 3 rounds)"
    assert harness.spread([90.4, 99.0], "%", 0) == "95% (90-99, 2 rounds)"


def test_matmul_probe_measures_a_positive_rate():
    measure = harness.matmul_gflops("float32", size=64, repeats=2)
    assert measure() > 0


def test_vgg16_cost_scales_with_area():
    assert throughput.vgg16_gflop(224, "infer") == pytest.approx(2 * 15.35)
    assert throughput.vgg16_gflop(48, "train") == pytest.approx(6 * 0.705, rel=1e-3)
    assert throughput.images_at(224, 128, 32) == 32 and throughput.images_at(48, 128, 32) == 128


def test_onednn_exec_lines_are_read_as_op_implementation_and_type():
    line = ("onednn_verbose,v1,primitive,exec,cpu,convolution,jit_bf16:avx512_core_bf16,backward_weights,"
            "src:bf16::blocked:acdb::f0 wei:bf16:a:blocked:AcdB64a2b::f0 diff_dst:bf16::blocked:acdb::f0,,"
            "alg:convolution_direct,mb32_ic64oc64_ih48oh48kh3sh1dh0ph1_iw48ow48kw3sw1dw0pw1,47.85")
    assert onednn_profile.op_kind(line.split(",")) == ("convolution backward_weights",
                                                       "jit_bf16:avx512_core_bf16 bf16")
    reorder = "onednn_verbose,v1,primitive,exec,cpu,reorder,jit:uni,undef,src:f32::blocked:cdba::f0 dst:f32::,,,64x3,0.08"
    assert onednn_profile.op_kind(reorder.split(",")) == ("reorder", "jit:uni f32")
