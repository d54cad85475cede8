"""finetune-lab's Hydra configs (`conf/` at the top of the repository links here), shipped inside the package so
that an installed finetune-lab finds them as `pkg://finetune_lab.conf`."""
