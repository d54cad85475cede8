#!/usr/bin/env bash
# The worked example of docs/any-base-any-data.md: the study's templates (conf/experiment/study_*.yaml) on a
# second pair, offline: HED's VGG16 (model=vgg16) on the shapes folder that experiments/make_shapes.py draws
# (5 classes x 120 images of 64x64, written into $DATA when it is not there yet). Scaled to a 2-core CPU: 32x32
# input, 384 training / 96 validation / 120 test images (data.test_fraction 0.2, validation 0.2). The sweeps
# carry on from their records in experiments/runs/shapes (experiments/sweeps.sh says how):
#   PATH=.venv/bin:$PATH experiments/run_shapes.sh            # every sweep, in the order below
#   experiments/run_shapes.sh --list                          # the names, one a line
# Then the table: experiments/update_tables.sh (finetune-lab-verdicts experiments/claims_shapes.yaml --out docs/verdicts_shapes.md)
set -u -f   # -f: the [..] of list overrides are values, never file patterns
OUT=${OUT:-outputs/shapes_runs}
RECORDS=${RECORDS:-experiments/runs/shapes}
DATA=${DATA:-outputs/shapes}
# shellcheck source=experiments/sweeps.sh
. "$(dirname "$0")/sweeps.sh"

PAIR="model=vgg16 data=folder data.path=$DATA data.input_size=32"
LEAN="analysis.original_task.enabled=false analysis.layer_change.enabled=false analysis.feature_maps.enabled=false"
# E4: the base frozen, the head alone (Adam 1e-3, 10 epochs) on its outputs, from the feature store after seed 0.
def e4_frozen  experiment=study_e4_frozen $PAIR $LEAN seed=0,1,2
# E5 and the trade-off: Adam 1e-4 for 5 epochs with the base frozen, stages 1-2 frozen, or all trainable; HED's
# edges on 8 photos and CKA per block against the pretrained base after each.
def tradeoff   experiment=study_tradeoff $PAIR analysis.feature_maps.enabled=false model.freeze=all,stages:2,none seed=0,1,2
# E6: the trainable base on 1/8, 1/4 and 1/2 of the training pool (48, 96, 192 images) at the full pool's
# steps (5 epochs of 384 samples); the full pool is the trade-off's freeze=none.
def e6_sizes   experiment=study_e6_sizes $PAIR $LEAN data.cutoff_rate=0.125,0.25,0.5 training.samples_per_epoch=384 seed=0,1
# More seeds for each of the three, to the six replicates per arm a verdict's interval needs (docs/statistics.md);
# sweeps of their own, so that the jobs above keep their numbers and records.
def e4_frozen_more  experiment=study_e4_frozen $PAIR $LEAN seed=3,4,5
def tradeoff_more   experiment=study_tradeoff $PAIR analysis.feature_maps.enabled=false model.freeze=all,stages:2,none seed=3,4,5
def e6_sizes_more   experiment=study_e6_sizes $PAIR $LEAN data.cutoff_rate=0.125,0.25,0.5 training.samples_per_epoch=384 seed=2,3,4,5

case "${1:-}" in --list|--show) ;; *) [ -d "$DATA" ] || python experiments/make_shapes.py "$DATA" --per-class 120 ;; esac
main "$@"
