#!/usr/bin/env bash
# Regenerate the study's generated tables from the committed run records (experiments/runs/study_split):
# the verdict table, the verdicts that moved against the table before the statistics rewrite (commit 5a4eac7,
# read from git) and how long each sweep took on which CPU; and the worked example's verdict table
# (experiments/runs/shapes, docs/any-base-any-data.md). Run after copying in new records.
#   PATH=.venv/bin:$PATH experiments/update_tables.sh
set -eu
cd "$(dirname "$0")/.."
finetune-lab-verdicts experiments/claims.yaml --out experiments/verdicts_study_split.md > /dev/null
old=$(mktemp)
trap 'rm -f "$old"' EXIT
git show 5a4eac7:experiments/verdicts_study_split.md > "$old"
python experiments/verdicts_moved.py "$old" experiments/verdicts_study_split.md \
    --old-name 5a4eac7:experiments/verdicts_study_split.md --out experiments/verdicts_moved.md > /dev/null
python experiments/sweep_times.py experiments/runs/study_split --out experiments/sweep_times.md > /dev/null
finetune-lab-verdicts experiments/claims_shapes.yaml --out docs/verdicts_shapes.md > /dev/null
echo "experiments/verdicts_study_split.md, verdicts_moved.md, sweep_times.md and docs/verdicts_shapes.md regenerated"
