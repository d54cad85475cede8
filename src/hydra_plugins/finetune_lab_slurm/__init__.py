"""finetune-lab's Hydra launcher plugin (hydra/launcher=slurm); the work is in finetune_lab.slurm."""
