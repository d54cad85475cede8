"""The machine description: CPU flags from /proc/cpuinfo, native bf16, the one-time warning, provenance."""
import json
import logging

import pytest

from conftest import QUICK
from finetune_lab import machine

AVX2_ONLY = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B12
flags\t\t: fpu sse2 avx avx2 fma
processor\t: 1
model name\t: AMD EPYC 7B12
flags\t\t: fpu sse2 avx avx2 fma
"""
BF16 = AVX2_ONLY.replace("avx2 fma", "avx2 fma avx512f avx512_bf16")
AMX = AVX2_ONLY.replace("avx2 fma", "avx2 fma avx512f amx_tile amx_bf16")
ARM = "processor\t: 0\nFeatures\t: fp asimd bf16\nCPU implementer\t: 0x41\n"


def test_flags_and_model_come_from_cpuinfo():
    assert machine.cpu_model(AVX2_ONLY) == "AMD EPYC 7B12"
    assert machine.cpu_flags(BF16) == {"fpu", "sse2", "avx", "avx2", "fma", "avx512f", "avx512_bf16"}
    assert machine.cpu_flags(ARM) == {"fp", "asimd", "bf16"}
    assert machine.cpu_flags("") == set()


@pytest.mark.parametrize("text, native", [(AVX2_ONLY, False), (BF16, True), (AMX, True), ("", False)])
def test_native_bf16_needs_avx512_bf16_or_amx(text, native):
    assert machine.has_native_bf16(machine.cpu_flags(text)) is native
    info = machine.cpu(text)
    assert info["native_bf16"] is native
    assert set(info["flags"]) <= set(machine.FLAGS)  # only the flags that matter, in a fixed order


def test_cpu_lists_the_flags_that_matter_in_order():
    assert machine.cpu(AMX)["flags"] == ["avx2", "fma", "avx512f", "amx_bf16", "amx_tile"]


@pytest.mark.parametrize("precision, text, gpus, warned", [
    ("bf16", AVX2_ONLY, 0, True), ("bf16", BF16, 0, False), ("bf16", AMX, 0, False),
    ("bf16", AVX2_ONLY, 1, False), ("fp32", AVX2_ONLY, 0, False), ("fp16", AVX2_ONLY, 0, False)])
def test_bf16_warning_only_where_emulated(precision, text, gpus, warned, caplog):
    with caplog.at_level(logging.WARNING, logger="finetune_lab.machine"):
        assert machine.warn_if_emulated(precision, machine.cpu(text), gpus) is warned
    assert len(caplog.records) == int(warned)
    if warned:
        assert "10x slower" in caplog.text and "AMD EPYC 7B12" in caplog.text


def test_header_names_cpu_flags_versions_and_backend():
    line = machine.header(machine.describe())
    assert line.startswith("# machine: ")
    for part in ("cores", "native bf16", "TF ", "Keras ", "backend tensorflow", "GPUs: "):
        assert part in line


def test_a_bf16_run_on_a_cpu_without_it_warns_once_and_records_the_cpu(compose, tmp_path, monkeypatch, caplog):
    """A real tiny bf16 run (in-process) on a CPU that reads as AVX2-only: one warning at start, the CPU in
    metrics.json's provenance."""
    from finetune_lab import runner

    monkeypatch.setattr(machine, "read_cpuinfo", lambda path=machine.CPUINFO: AVX2_ONLY)
    cfg = compose(*QUICK, "model.weights=null", "training.precision=bf16")
    with caplog.at_level(logging.WARNING):
        metrics = runner.run(cfg, str(tmp_path / "run"))
    assert metrics["status"] == "completed"
    warnings = [r for r in caplog.records if "without native bf16" in r.getMessage()]
    assert len(warnings) == 1
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["provenance"]["cpu"] == {"model": "AMD EPYC 7B12", "cores": machine.os.cpu_count(),
                                          "flags": ["avx2", "fma"], "native_bf16": False}
    assert saved["memory"]["scope"] in ("run", "process") and saved["memory"]["peak_rss_gib"] > 0.1


def test_the_peak_memory_after_a_reset_is_the_runs_own():
    """A sweep's jobs share a process: after the reset a job's peak no longer includes an earlier job's."""
    import numpy as np

    big = np.ones(256 * 2**20 // 8)  # 256 MiB resident
    big[::512] = 2.0
    with_big = machine.peak_memory(since_reset=False)["peak_rss_gib"]
    del big
    if not machine.reset_peak_memory():
        pytest.skip("this kernel cannot reset the peak (/proc/self/clear_refs)")
    after = machine.peak_memory(since_reset=True)
    assert after["scope"] == "run" and after["peak_rss_gib"] < with_big - 0.2


def test_without_proc_the_peak_is_the_processes(monkeypatch):
    monkeypatch.setattr(machine, "PROC_STATUS", "/nonexistent/status")
    peak = machine.peak_memory(since_reset=True)
    assert peak["scope"] == "process" and peak["peak_rss_gib"] > 0.01
