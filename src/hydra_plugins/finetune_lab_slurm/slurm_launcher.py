"""hydra/launcher=slurm: hydra-submitit-launcher's SLURM launcher (its config, submission and requeue support),
waiting for its jobs as finetune_lab.slurm.launch does; in each job, a time limit that is not requeued stops the
run as a signal does (finetune_lab.slurm.stopped_when_not_requeued). Here because Hydra finds launchers only in
the hydra_plugins package."""
from hydra_plugins.hydra_submitit_launcher import submitit_launcher


class SlurmLauncher(submitit_launcher.SlurmLauncher):
    def launch(self, job_overrides, initial_job_idx):
        from finetune_lab import slurm  # at launch, not when Hydra scans its plugins

        return slurm.launch(self, job_overrides, initial_job_idx)

    def __call__(self, *args, **kwargs):
        from finetune_lab import slurm

        with slurm.stopped_when_not_requeued():
            return super().__call__(*args, **kwargs)
