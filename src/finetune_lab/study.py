"""`finetune-lab-study STUDY.yaml {list | show NAME | run [NAME...] [-- OVERRIDE...] | status [NAME...] | tables |
reproduce NAME [--job K]}`:
a study, one file: its sweeps, where they run and where their records live, its claims and its tables.

A study file (YAML) holds these keys (others are refused, each with one line naming the key):
  name        the study's name
  runs        where its sweeps run, a sweep folder <runs>/<sweep> each (default: outputs/<name>)
  records     where the records of their finished runs live under version control, <records>/<sweep> each
              (finetune-lab-records: config, metrics, status, history; the claims' root)
  prepare     optional, {creates: PATH, command: COMMAND}: what `run` runs first (the command's words split as a
              shell would, no shell started) when PATH is missing, e.g. the data folder the sweeps read
  fragments   named lists of overrides, e.g. {V: [variant=mnist_cpu], LEAN: [analysis.feature_maps.enabled=false]}
  sweeps      in order, name -> {use: [fragment names], overrides: [Hydra overrides], for: {k: [values]}}:
              the sweep passes `finetune-lab -m` the overrides of each fragment it uses, in order, then its own.
              An override is written as Hydra's command line writes it, without shell quoting
              (model.head.dropout=[0.5,0.5,0.0], seed=0,1,2); an item of `overrides` (or of a fragment) that
              names a fragment stands for that fragment's overrides, where it stands. With `for`, the entry is
              one sweep per value (several keys: per combination, the first key slowest), each `{k}` of its name
              and overrides replaced by the value, e.g. `depth_s{k}: {for: {k: [0, 1, 2]}, ...}`
  claims      the study's claims (finetune_lab/claims.py), their sweep names under `records`; each names
              sweeps of this file
  tables      where `tables` writes: verdicts (the verdict table, markdown; its forest plot beside it, the same
              name ending in .png, or at `plot`), plan (for each claim it leaves undecided, the replicates that would
              decide it and their hours: finetune-lab-verdicts --plan), sweep_times (how long each sweep took,
              finetune_lab.sweep_times)
              and moved ({old: REV:PATH, out: FILE}: the verdicts that moved between the table at git revision
              REV and the one written now, finetune_lab.verdicts_moved)
Paths are relative to the current folder (the repository's top, as for the claims' root).

  list        the sweep names, in order
  show NAME   the overrides that sweep passes to finetune-lab -m, one a line
  run         each named sweep (default: all, in order), resumably: the records of its finished runs copied in
              from <records>/<name> (so output.resume=true skips them), then
              `finetune-lab -m OVERRIDES output.resume=true hydra.sweep.dir=<runs>/<name> [OVERRIDE...]`, then the
              records of its finished runs copied back; a sweep that fails leaves the others to run. Overrides
              after `--` go to every sweep (e.g. hydra/launcher=slurm)
  status      per sweep: runs finished of those its grid plans, their time so far (the records' wall_seconds) and
              the time left at their median
  tables      the tables the study names (`tables:`), regenerated from its records
  reproduce   NAME [--job K]: job K (default 0) of sweep NAME rerun on this machine with its recorded overrides,
              into <runs>/reproduce/NAME/K/<timestamp>, and its result read against the record: identical where
              the machine kind, backend and precision are the same, else inside the 95% prediction interval of
              the recorded runs of its configuration (finetune_lab/reproduce.py, docs/reproducibility.md); exit
              status 0 when reproduced, 1 when not
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys

from .errors import UserError, exit_on_user_error
from .study_file import PROG, Study, StudyError, chosen, load, parse_overrides, prepare


# ----- the sweeps -----

def planned(overrides: list[str]) -> int:
    """The jobs of `finetune-lab -m OVERRIDES`: the product of the sizes of its sweep overrides (Hydra's parser)."""
    size = 1
    for override in parse_overrides("", "", overrides):
        if override.is_sweep_override():
            size *= len(list(override.sweep_string_iterator()))
    return size


def command(study: Study, name: str, extra: list[str]) -> list[str]:
    """The command line that runs sweep `name` (finetune-lab -m, resumable, into <runs>/<name>)."""
    return [sys.executable, "-m", "finetune_lab", "-m", *study.sweeps[name], "output.resume=true",
            f"hydra.sweep.dir={os.path.join(study.runs, name)}", *extra]


def copy(src: str, dest: str) -> None:
    from .records import copy_records, describe

    print(describe(src, dest, copy_records(src, dest)), flush=True)


def run(study: Study, names: list[str], extra: list[str]) -> list[str]:
    """Run the named sweeps one after another, each resumably (module docstring); the names of those that did not
    complete every job."""
    prepare(study)
    failed = []
    for name in chosen(study, names):
        out, records = os.path.join(study.runs, name), os.path.join(study.records, name)
        print(f"{PROG}: sweep {name} -> {out}", flush=True)
        try:
            if os.path.isdir(records):
                copy(records, out)
            code = subprocess.run(command(study, name, extra)).returncode
            if code:
                print(f"{PROG}: sweep {name}: some jobs did not complete (see "
                      f"{os.path.join(out, 'sweep_summary.json')})", flush=True)
                failed.append(name)
            if os.path.isdir(out):
                copy(out, records)
        except UserError as exc:   # a record that clashes: this sweep stops, the others run
            print(f"{PROG}: sweep {name}: {exc}", file=sys.stderr, flush=True)
            failed.append(name)
    return failed


def status_rows(study: Study, names: list[str]) -> list[dict]:
    """Per sweep: the runs finished (in its records, or in its sweep folder and not yet copied) of those planned,
    the hours they took, and the hours left at their median."""
    from . import rundir
    from .runs import find_runs, load_run

    rows = []
    for name in chosen(study, names):
        finished = {}
        for root in (os.path.join(study.records, name), os.path.join(study.runs, name)):
            if os.path.isdir(root):
                for run_dir in find_runs([root]):
                    job = os.path.relpath(run_dir, root)
                    if job not in finished and rundir.status(run_dir) in rundir.FINAL_STATUSES:
                        finished[job] = load_run(run_dir)
        walls = [run.metrics["wall_seconds"] for run in finished.values()
                 if isinstance(run.metrics.get("wall_seconds"), (int, float))]
        plan = planned(study.sweeps[name])
        left = max(plan - len(finished), 0)
        rows.append({"sweep": name, "done": len(finished), "planned": plan, "hours": sum(walls) / 3600,
                     "left_hours": left * statistics.median(walls) / 3600 if walls else (0.0 if not left else math.nan)})
    return rows


def status_table(rows: list[dict]) -> str:
    import pandas as pd

    from . import tables

    def hours(value: float, unknown: bool = False) -> str:
        return "?" if math.isnan(value) else f"{value:.2f}" + (" + ?" if unknown else "")

    known = [r["left_hours"] for r in rows if not math.isnan(r["left_hours"])]
    total = {"sweep": "all", "done": sum(r["done"] for r in rows), "planned": sum(r["planned"] for r in rows),
             "hours": sum(r["hours"] for r in rows), "left_hours": sum(known)}
    # a sweep with no finished run has no median: the total says so ("+ ?")
    frame = pd.DataFrame([[r["sweep"], f"{r['done']} of {r['planned']}", hours(r["hours"]),
                           hours(r["left_hours"], r is total and len(known) < len(rows))] for r in rows + [total]],
                         columns=["sweep", "runs finished", "run time so far (h)", "left, at their median (h)"])
    return tables.markdown(frame) + "\n"


# ----- the tables -----

def write_tables(study: Study, into: str | None = None) -> list[str]:
    """Regenerate the tables the study names from its records; the files written. `into`: write each into that
    folder under its own file name instead (the tables' text is the same: they name the paths the study gives)."""
    from . import sweep_times, verdicts, verdicts_moved

    where = (lambda path: os.path.join(into, os.path.basename(path))) if into else (lambda path: path)
    tables, written = study.tables, []
    if not tables:
        raise StudyError(f"{study.path}: the study names no tables (`tables:`)")
    if "verdicts" in tables:
        if not study.claims:
            raise StudyError(f"{study.path}: tables.verdicts needs claims, and `claims:` is empty")
        out = where(tables["verdicts"])
        plot = where(tables["plot"]) if "plot" in tables else None
        loaded: dict = {}   # each run folder read once, for the table and the plan
        rows, _, plot = verdicts.write_table(study.claims, study.records, out, plot, loaded)
        written += [out, plot]
        if "plan" in tables:
            from . import planner   # pandas and the simulations: only for a plan

            planned = planner.plan(study.claims, rows, study.records, loaded)
            written.append(_write(where(tables["plan"]), planner.markdown(planned)))
    if "moved" in tables:
        old = _git_show(tables["moved"]["old"])
        new = verdicts_moved.read_table(open(where(tables["verdicts"])).read())
        text = verdicts_moved.markdown(verdicts_moved.moved(verdicts_moved.read_table(old), new),
                                       tables["moved"]["old"], tables["verdicts"], len(new))
        written.append(_write(where(tables["moved"]["out"]), text))
    if "sweep_times" in tables:
        written.append(_write(where(tables["sweep_times"]), sweep_times.table(study.records)))
    return written


def _write(path: str, text: str) -> str:
    with open(path, "w") as f:
        f.write(text)
    return path


def _git_show(name: str) -> str:
    result = subprocess.run(["git", "show", name], capture_output=True, text=True)
    if result.returncode:
        raise StudyError(f"tables.moved.old: git show {name}: {' '.join(result.stderr.split()) or 'failed'}")
    return result.stdout


# ----- the command -----

@exit_on_user_error(PROG)
def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("study", help="the study file (YAML), e.g. experiments/study_split.yaml")
    commands = parser.add_subparsers(dest="command", required=True,
                                     metavar="{list,show,run,status,tables,reproduce}")
    commands.add_parser("list", help="the sweep names, in order")
    show = commands.add_parser("show", help="the overrides a sweep passes to finetune-lab -m, one a line")
    show.add_argument("name")
    running = commands.add_parser("run", help="run sweeps resumably (all, in order, when none is named); "
                                              "overrides after -- go to every sweep")
    running.add_argument("names", nargs="*")
    state = commands.add_parser("status", help="per sweep: runs finished of planned, time so far and left")
    state.add_argument("names", nargs="*")
    commands.add_parser("tables", help="regenerate the tables the study names from its records")
    again = commands.add_parser("reproduce", help="rerun one recorded job of a sweep here and say whether it "
                                                  "reproduced (exit status 0 when it did, 1 when not)")
    again.add_argument("name", help="the sweep (list shows them)")
    again.add_argument("--job", default="0", help="the job's number in the sweep (default 0)")
    args = parser.parse_args(argv)
    if extra and args.command != "run":
        parser.error("overrides after -- go with run only")
    study = load(args.study)
    if args.command == "list":
        print("\n".join(study.sweeps))
    elif args.command == "show":
        print("\n".join(study.sweeps[chosen(study, [args.name])[0]]))
    elif args.command == "run":
        failed = run(study, args.names, extra)
        if failed:
            print(f"{PROG}: {len(failed)} sweeps did not complete every job: {', '.join(failed)}", file=sys.stderr)
            sys.exit(1)
    elif args.command == "status":
        sys.stdout.write(status_table(status_rows(study, args.names)))
    elif args.command == "reproduce":
        from .reproduce import reproduce

        if not reproduce(study, args.name, args.job).reproduced:
            sys.exit(1)
    else:
        for path in write_tables(study):
            print(f"{PROG}: wrote {path}")


if __name__ == "__main__":
    main()
