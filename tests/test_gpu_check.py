"""benchmarks/gpu_check.sh --dry-run: the GPU check's whole script on this CPU under JAX at tiny sizes."""
import json
import os
import subprocess
import sys
import tarfile

import pytest

from conftest import ROOT

# slow (~2 minutes, JAX compiles every shape): run it before a session on the lent GPU machine,
#   python -m pytest -q -m slow tests/test_gpu_check.py
pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_the_gpu_check_dry_run_measures_runs_the_four_experiments_and_packs_at_most_8_files(tmp_path):
    out = tmp_path / "out"
    result = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry-run"], cwd=ROOT,
                            env={**os.environ, "PYTHON": sys.executable, "OUT": str(out),
                                 "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "jax_cache")},
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "(0) carried:" in result.stdout and "(4) packed" in result.stdout
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) <= 8 and all(p.stat().st_size < 16 * 2**20 for p in files)
    assert all(len(p.relative_to(out).parts) <= 2 for p in files)

    throughput = json.loads((out / "throughput.json").read_text())
    assert [r["precision"] for r in throughput["rows"]] == ["fp32", "bf16"]
    assert all(r["backend"] == "jax" and r["train_images_per_s"] > 0 and r["input_images_per_s"] > 0
               and 0 < r["fraction_of_peak"] < 1 for r in throughput["rows"])
    assert "avx512f=" in throughput["header"][0]

    with tarfile.open(out / "runs.tar.gz") as tar:
        names = tar.getnames()
        metrics = [json.load(tar.extractfile(n)) for n in names if n.endswith("/metrics.json")]
    assert not any(n.endswith("model.keras") for n in names)
    assert len(metrics) == 4 and all(m["status"] == "completed" for m in metrics)
    assert {m["provenance"]["backend"] for m in metrics} == {"jax"}
    assert all(m["provenance"]["weights"]["source"] == "hed_bsds500" for m in metrics)
    assert (out / "report.md").is_file() and (out / "runs.csv").is_file()
