"""What this machine is: CPU model, cores, the instruction-set flags that decide fp32/bf16 speed, the
software stack, and how much memory a run held at its peak. Read by the run (a warning for bf16 without native
kernels, the CPU and the peak memory in its metrics) and by the benchmarks (the first lines of every output).
No TensorFlow import at module level.
"""
from __future__ import annotations

import logging
import os
import platform
import resource
import sys

log = logging.getLogger(__name__)

FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")  # those that matter for VGG16 here
NATIVE_BF16 = ("avx512_bf16", "amx_bf16")  # oneDNN's native bf16 kernels on x86
CPUINFO = "/proc/cpuinfo"
PROC_STATUS, CLEAR_REFS = "/proc/self/status", "/proc/self/clear_refs"  # Linux: VmHWM, and its reset ("5")


def read_cpuinfo(path: str = CPUINFO) -> str:
    """The text of /proc/cpuinfo, or "" where there is none (macOS, Windows)."""
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def cpu_model(cpuinfo: str) -> str:
    """The first "model name" of /proc/cpuinfo, else what Python's platform module knows."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            return value.strip()
    return platform.processor() or platform.machine()


def cpu_flags(cpuinfo: str) -> set[str]:
    """Every flag of the first processor in /proc/cpuinfo ("flags" on x86, "Features" on ARM)."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def has_native_bf16(flags: set[str]) -> bool:
    """True where the CPU computes bf16 natively (AVX512-BF16 or AMX); elsewhere TensorFlow falls back to
    emulated kernels, about 10x slower than fp32 (measured on an AVX2-only EPYC)."""
    return any(f in flags for f in NATIVE_BF16)


def cpu(cpuinfo: str | None = None) -> dict:
    """{"model", "cores", "flags": the FLAGS present, "native_bf16"}: the part of provenance that is the CPU."""
    text = read_cpuinfo() if cpuinfo is None else cpuinfo
    flags = cpu_flags(text)
    return {"model": cpu_model(text), "cores": os.cpu_count(), "flags": [f for f in FLAGS if f in flags],
            "native_bf16": has_native_bf16(flags)}


def recorded_cpu(metrics: dict) -> str:
    """The CPU a run's metrics.json records (provenance.cpu) in words: model, cores and the fastest instruction
    set it had for VGG16 (AMX, AVX512-BF16, AVX-512, AVX2), e.g. "AMD EPYC, 2 cores, AVX512-BF16"."""
    cpu = (metrics.get("provenance") or {}).get("cpu") or {}
    flags = cpu.get("flags") or []
    isa = "AMX" if any(f.startswith("amx") for f in flags) else "AVX512-BF16" if "avx512_bf16" in flags else (
        "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "?")
    return f"{cpu.get('model', '?')}, {cpu.get('cores', '?')} cores, {isa}"


def describe() -> dict:
    """The CPU, the software stack and the accelerators the Keras backend sees (starts the backend)."""
    from . import backend
    from .sources import package_version

    return {"cpu": cpu(), "python": platform.python_version(), "tensorflow": package_version("tensorflow"),
            "jax": package_version("jax"), "keras": package_version("keras"), "keras_backend": backend.name(),
            "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"),
            "gpus": [d for d in backend.devices_used() if "cpu" not in d.lower()]}


def header(description: dict) -> str:
    """`describe()` as the comment line that starts every benchmark output."""
    c = description["cpu"]
    return (f"# machine: {c['model']}, {c['cores']} cores, flags {' '.join(c['flags']) or 'none of ' + str(FLAGS)}"
            f" (native bf16: {'yes' if c['native_bf16'] else 'no'}); GPUs: {', '.join(description['gpus']) or 'none'}"
            f"; Python {description['python']}, TF {description['tensorflow']}, JAX {description['jax']}, "
            f"Keras {description['keras']} "
            f"(backend {description['keras_backend']}), TF_ENABLE_ONEDNN_OPTS={description['onednn']}")


def warn_if_emulated(precision: str, cpu_info: dict | None = None, gpus: int = 0) -> bool:
    """One warning when `precision` is bf16, no GPU is visible and the CPU has no native bf16. True if warned."""
    info = cpu() if cpu_info is None else cpu_info
    if precision != "bf16" or gpus or info["native_bf16"]:
        return False
    log.warning("training.precision=bf16 on a CPU without native bf16 (%s; no %s): TensorFlow emulates it, "
                "about 10x slower than fp32 here; fp32 is the faster choice on this machine",
                info["model"], " or ".join(NATIVE_BF16))
    return True


def reset_peak_memory() -> bool:
    """Start a new high-water mark of this process's resident memory, so that the peak read at a run's end is
    the run's own, also for the jobs of a sweep that share one process (Linux >= 4.0). False where it cannot:
    the peak is then the process's since it started."""
    try:
        with open(CLEAR_REFS, "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def peak_memory(since_reset: bool) -> dict:
    """{"peak_rss_gib", "scope"}: the highest resident memory since `reset_peak_memory()` succeeded (scope
    "run"), else since the process started (scope "process")."""
    try:
        with open(PROC_STATUS) as f:
            kib = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration, ValueError):
        since_reset = False
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
        kib = peak / 1024 if sys.platform == "darwin" else peak
    return {"peak_rss_gib": round(kib / 2**20, 3), "scope": "run" if since_reset else "process"}
