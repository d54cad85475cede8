#!/usr/bin/env bash
# Every run behind the verdicts in experiments/README.md, one after the other (2-core CPU: ~2.5 hours).
# Each line is a Hydra sweep into outputs/claims/<name>; `finetune-lab-report outputs/claims/<name>` or
# `finetune-lab-report outputs/claims` tabulates them. Rerunning a line makes a new sweep folder only if the
# old one is moved away first: a run folder is never overwritten.
set -u
V="variant=offline_cpu"
SIZE_ONLY="analysis.original_task.enabled=false analysis.layer_change.enabled=false"  # E6: accuracy is the point
sweep() { name=$1; shift; finetune-lab -m "$@" "hydra.sweep.dir=outputs/claims/$name" || echo "sweep $name: some jobs failed"; }

sweep e5_trainable        experiment=e5_trainable_48 $V seed=0,1,2          # also E6's largest size (1,600)
sweep e6_pretrained       experiment=e6_sample_size $V $SIZE_ONLY data.cutoff_rate=0.015625,0.046875,0.125   # 50, 150, 400 images
sweep e8_output1000       experiment=e8_trainable_224_1000 $V seed=0,1,2
sweep e11_simple_head     experiment=e11_simple_head_224 $V seed=0,1,2
sweep e10_bottleneck10    experiment=e10_bottleneck10_224 $V $SIZE_ONLY seed=0,1,2
sweep e6_random_init      experiment=e6_sample_size $V $SIZE_ONLY model.weights=null data.cutoff_rate=0.046875,0.5
sweep e4_frozen           experiment=e4_frozen_48 $V seed=0,1,2
sweep e7_frozen_output1000 experiment=e7_frozen_224_1000 $V seed=0,1,2
sweep e6_augment          experiment=e6_sample_size $V $SIZE_ONLY data.augment.enabled=true data.cutoff_rate=0.046875
sweep e4_frozen_augment   experiment=e4_frozen_48 $V data.augment.enabled=true seed=0,1,2
