#!/usr/bin/env bash
# Every figure of docs/performance.md, in the order it shows them. Run from anywhere with the
# project installed: bash benchmarks/run_all.sh [PARITY_DIR]
# About an hour on a shared 2-core CPU, plus ~1.5 hours for the bf16 accuracy parity (6 default runs into
# PARITY_DIR, default outputs/bf16_parity; completed runs there are reused, so it can be stopped and rerun).
set -euo pipefail
cd "$(dirname "$0")/.."
parity_dir="${1:-outputs/bf16_parity}"
step() { echo "\$ python $*"; python "$@"; echo; }
step benchmarks/throughput.py --figures probe,bf16,infer,pipeline,xla --sizes 48,224 --rounds 5
step benchmarks/onednn_profile.py --rounds 2 --images 32
step benchmarks/frozen_cache.py --rounds 2
step benchmarks/memory.py --rounds 2
step benchmarks/memory.py --rounds 1 --input-only --steps 500 --batch 64
step benchmarks/bf16_parity.py --out "$parity_dir"
