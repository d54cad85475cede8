"""`finetune-lab-records SRC DEST`: copy the records of finished runs under SRC into DEST, at the same paths.

A record is what a table or a verdict is computed from: the run's config (`.hydra/config.yaml`,
`overrides.yaml`), `metrics.json`, `status.json` and `history.csv`, a few KB, without the model, the
pictures or the backup. Copied from the run folders of a study into version control, the records let anyone
regenerate its tables (`finetune-lab-verdicts`, `finetune-lab-report` read them like run folders); copied back
into a sweep folder, they make `output.resume=true` skip the runs they record, so a study carries on where the
last machine left it.

Only finished runs (completed, failed, diverged) have a record. A file that DEST already has is left alone when
it is the same and refused when it differs: a record is never overwritten.
"""
from __future__ import annotations

import argparse
import filecmp
import os
import shutil

from . import rundir
from .errors import UserError, exit_on_user_error
from .runs import find_runs

RECORD_FILES = (rundir.CONFIG, os.path.join(rundir.CONFIG_DIR, "overrides.yaml"), rundir.METRICS, rundir.STATUS,
                rundir.HISTORY)


def copy_records(src: str, dest: str) -> dict[str, int]:
    """Copy the record of every finished run under `src` into `dest`; return how many runs were copied,
    were there already, and were not finished (skipped)."""
    counts = {"copied": 0, "present": 0, "unfinished": 0}
    plan = []
    for run in find_runs([src]):
        if rundir.status(run) not in rundir.FINAL_STATUSES:
            counts["unfinished"] += 1
            continue
        target = os.path.join(dest, os.path.relpath(run, src))
        files = [name for name in RECORD_FILES if os.path.isfile(os.path.join(run, name))]
        clash = [name for name in files if os.path.isfile(os.path.join(target, name))
                 and not filecmp.cmp(os.path.join(run, name), os.path.join(target, name), shallow=False)]
        if clash:
            raise UserError(f"{os.path.join(target, clash[0])} differs from {os.path.join(run, clash[0])}; "
                            "a record is never overwritten (move one of them away)")
        plan.append((run, target, files))
    for run, target, files in plan:  # all checked before anything is written
        new = [name for name in files if not os.path.isfile(os.path.join(target, name))]
        for name in new:
            os.makedirs(os.path.dirname(os.path.join(target, name)), exist_ok=True)
            shutil.copy2(os.path.join(run, name), os.path.join(target, name))
        counts["copied" if new else "present"] += 1
    return counts


def describe(src: str, dest: str, counts: dict[str, int]) -> str:
    """One line: what copy_records did."""
    return (f"{src} -> {dest}: {counts['copied']} runs copied, {counts['present']} already there, "
            f"{counts['unfinished']} not finished (no record)")


@exit_on_user_error("finetune-lab-records")
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="finetune-lab-records", description=__doc__.split("\n\n")[0])
    parser.add_argument("src", help="a run folder, a sweep folder, or any folder above them")
    parser.add_argument("dest", help="where the records go (created when missing)")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.src):
        raise UserError(f"{args.src} is not a folder")
    counts = copy_records(args.src, args.dest)
    print(describe(args.src, args.dest, counts))


if __name__ == "__main__":
    main()
