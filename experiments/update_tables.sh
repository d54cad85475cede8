#!/usr/bin/env bash
# Regenerate the study's generated tables from the committed run records (experiments/runs/study_split):
# the verdict table and how long each sweep took on which CPU. Run after copying in new records.
#   PATH=.venv/bin:$PATH experiments/update_tables.sh
set -eu
cd "$(dirname "$0")/.."
finetune-lab-verdicts experiments/claims.yaml --out experiments/verdicts_study_split.md > /dev/null
python experiments/sweep_times.py experiments/runs/study_split --out experiments/sweep_times.md > /dev/null
echo "experiments/verdicts_study_split.md and experiments/sweep_times.md regenerated"
