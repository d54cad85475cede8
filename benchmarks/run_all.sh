#!/usr/bin/env bash
# Every performance figure of the README in one go (about 25 minutes on the 2-core CPU machine).
# Run from the repository root with the project installed: bash benchmarks/run_all.sh
set -euo pipefail
cd "$(dirname "$0")/.."
echo '$ python benchmarks/throughput.py' && python benchmarks/throughput.py
echo '$ python benchmarks/frozen_cache.py' && python benchmarks/frozen_cache.py
echo '$ python benchmarks/memory.py' && python benchmarks/memory.py
