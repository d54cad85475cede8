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
              name ending in .png, or at `plot`), sweep_times (how long each sweep took, finetune_lab.sweep_times)
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
import itertools
import math
import os
import re
import shlex
import statistics
import subprocess
import sys
from dataclasses import dataclass, field

import yaml

from .errors import UserError, exit_on_user_error

STUDY_KEYS = ("name", "runs", "records", "prepare", "fragments", "sweeps", "claims", "tables")
SWEEP_KEYS = ("use", "overrides", "for")
PREPARE_KEYS = ("creates", "command")
TABLE_KEYS = ("verdicts", "plot", "sweep_times", "moved")
MOVED_KEYS = ("old", "out")
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")   # a study's, fragment's or sweep's name (a folder's name)
FOR_KEY = re.compile(r"[A-Za-z_]\w*")
PROG = "finetune-lab-study"


class StudyError(UserError):
    """A study file that cannot be used: one line naming the file, the key and what is allowed."""


@dataclass
class Study:
    path: str
    name: str
    runs: str
    records: str
    sweeps: dict[str, list[str]]                      # name -> the overrides it passes to finetune-lab -m, in order
    claims: list[dict] = field(default_factory=list)
    tables: dict = field(default_factory=dict)
    prepare: dict | None = None


# ----- the file -----

def load(path: str) -> Study:
    """The study file at `path`, checked: StudyError (one line naming the key) unless every key is allowed."""
    try:
        with open(path) as f:
            doc = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as exc:
        raise StudyError(f"{path}: {' '.join(str(exc).split())}") from None

    def bad(key: str, value, allowed: str):
        return StudyError(f"{path}: {key}={value!r} is not allowed: {allowed}")

    if not isinstance(doc, dict):
        raise StudyError(f"{path}: a study file is a mapping of {', '.join(STUDY_KEYS)}")
    _known(path, "", doc, STUDY_KEYS, "a study key")
    for key in ("name", "records", "sweeps"):
        if key not in doc:
            raise StudyError(f"{path}: `{key}` is missing")
    name = doc["name"]
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise bad("name", name, "a name of letters, digits, _ . - (it names the default runs folder)")
    for key in ("runs", "records"):
        if key in doc and not (isinstance(doc[key], str) and doc[key].strip()):
            raise bad(key, doc[key], "a folder (relative to the current folder, or absolute)")
    fragments = doc.get("fragments") or {}
    if not isinstance(fragments, dict):
        raise bad("fragments", fragments, "a mapping of names to lists of overrides, e.g. {V: [variant=mnist_cpu]}")
    for frag, items in fragments.items():
        if not isinstance(frag, str) or not NAME.fullmatch(frag) or "=" in frag:
            raise bad(f"fragments.{frag}", frag, "a fragment name: letters, digits, _ . -")
        _items(path, f"fragments.{frag}", items)
    sweeps = doc["sweeps"]
    if not isinstance(sweeps, dict) or not sweeps:
        raise bad("sweeps", sweeps, "a mapping of sweep names to {use: [...], overrides: [...]}, at least one")
    expanded: dict[str, list[str]] = {}
    for entry, spec in sweeps.items():
        for sweep, overrides in _expand(path, str(entry), spec, fragments):
            if sweep in expanded:
                raise StudyError(f"{path}: sweeps.{entry}: the sweep name {sweep} comes twice")
            expanded[sweep] = overrides
    study = Study(path=path, name=name, runs=doc.get("runs") or os.path.join("outputs", name),
                  records=doc["records"], sweeps=expanded, claims=_claims(path, doc.get("claims"), expanded),
                  tables=_tables(path, doc.get("tables")), prepare=_prepare(path, doc.get("prepare")))
    return study


def _known(path: str, where: str, mapping: dict, keys: tuple, what: str) -> None:
    if unknown := [key for key in mapping if key not in keys]:
        raise StudyError(f"{path}: `{where}{unknown[0]}` is not {what}: one of {', '.join(keys)}")


def _items(path: str, key: str, items) -> None:
    """A list of overrides and fragment names, each a string."""
    if not isinstance(items, list) or not all(isinstance(item, str) and item.strip() for item in items):
        raise StudyError(f"{path}: {key}={items!r} is not allowed: a list of Hydra overrides (KEY=VALUE, as the "
                         "command line writes them, without shell quoting) and fragment names")


def _expand(path: str, entry: str, spec, fragments: dict) -> list[tuple[str, list[str]]]:
    """[(sweep name, its overrides)] of one entry of `sweeps`: one, or one per combination of its `for` values."""
    key = f"sweeps.{entry}"
    if not isinstance(spec, dict):
        raise StudyError(f"{path}: {key}={spec!r} is not allowed: a mapping of {', '.join(SWEEP_KEYS)}")
    _known(path, f"{key}.", spec, SWEEP_KEYS, "a sweep key")
    use = spec.get("use") or []
    if not isinstance(use, list) or not all(isinstance(u, str) for u in use):
        raise StudyError(f"{path}: {key}.use={use!r} is not allowed: a list of fragment names")
    for frag in use:
        if frag not in fragments:
            raise StudyError(f"{path}: {key}.use: {frag!r} is not a fragment of this study: one of "
                             f"{', '.join(fragments) or '(none: `fragments:` is empty)'}")
    _items(path, f"{key}.overrides", spec.get("overrides") or [])
    loops = spec.get("for") or {}
    if not isinstance(loops, dict) or not all(
            isinstance(k, str) and FOR_KEY.fullmatch(k) and isinstance(v, list) and v and
            all(isinstance(x, (str, int, float)) and not isinstance(x, bool) for x in v) for k, v in loops.items()):
        raise StudyError(f"{path}: {key}.for={loops!r} is not allowed: {{NAME: [values]}}, each NAME written "
                         "{NAME} in the sweep's name and overrides, e.g. {k: [0, 1, 2]}")
    if missing := [k for k in loops if "{" + k + "}" not in entry]:
        raise StudyError(f"{path}: {key}.for: {missing[0]} is not in the sweep's name: write {{{missing[0]}}} "
                         "in it, so that each of its sweeps has a name of its own")
    items = list(use) + list(spec.get("overrides") or [])
    out = []
    for values in itertools.product(*loops.values()):
        name, these = entry, items
        for k, value in zip(loops, values):
            name = name.replace("{" + k + "}", str(value))
            these = [item.replace("{" + k + "}", str(value)) for item in these]
        if not NAME.fullmatch(name):
            raise StudyError(f"{path}: {key}: the sweep name {name!r} is not allowed: letters, digits, _ . - "
                             "(it names the sweep's folder)")
        overrides = _resolve(path, f"sweeps.{name}", these, fragments, ())
        if not overrides:
            raise StudyError(f"{path}: {key}: the sweep has no overrides (`use` and `overrides` are empty)")
        _parse(path, f"sweeps.{name}", overrides)
        out.append((name, overrides))
    return out


def _resolve(path: str, key: str, items: list[str], fragments: dict, seen: tuple) -> list[str]:
    """The overrides of `items`, each fragment name among them replaced by its overrides, in place."""
    out = []
    for item in items:
        if "=" in item or item.startswith("~"):
            out.append(item)
        elif item in fragments:
            if item in seen:
                raise StudyError(f"{path}: fragments.{item} names itself, through {' -> '.join(seen)}")
            _items(path, f"fragments.{item}", fragments[item])
            out += _resolve(path, key, fragments[item], fragments, seen + (item,))
        else:
            raise StudyError(f"{path}: {key}: {item!r} is neither an override (KEY=VALUE) nor a fragment of this "
                             f"study ({', '.join(fragments) or 'it has none'})")
    return out


def _parse(path: str, key: str, overrides: list[str]) -> list:
    """The overrides parsed by Hydra's own parser (as finetune-lab -m parses them)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    parsed = []
    for override in overrides:
        try:
            parsed += parser.parse_overrides([override])
        except HydraException as exc:
            reason = " ".join(str(exc).split())
            raise StudyError(f"{path}: {key}: {override!r} is not a Hydra override: {reason}") from None
    return parsed


def _claims(path: str, declared, sweeps: dict) -> list[dict]:
    from . import claims

    if declared is None:
        return []
    if not isinstance(declared, list):
        raise StudyError(f"{path}: claims={declared!r} is not allowed: a list of claims (finetune_lab/claims.py)")
    claims.check_claims(declared)
    for claim in declared:
        for key in ("runs", "baseline"):
            for sweep in _names(claim.get(key, [])):
                if sweep not in sweeps:
                    raise StudyError(f"{path}: claim {claim['id']}: {key}: {sweep!r} is not a sweep of this study "
                                     "(list shows them)")
    return declared


def _names(sweeps) -> list:
    return [sweeps] if isinstance(sweeps, str) else list(sweeps) if isinstance(sweeps, list) else [sweeps]


def _tables(path: str, tables) -> dict:
    if tables is None:
        return {}
    if not isinstance(tables, dict):
        raise StudyError(f"{path}: tables={tables!r} is not allowed: a mapping of {', '.join(TABLE_KEYS)}")
    _known(path, "tables.", tables, TABLE_KEYS, "a table key")
    for key in ("verdicts", "plot", "sweep_times"):
        if key in tables and not (isinstance(tables[key], str) and tables[key].strip()):
            raise StudyError(f"{path}: tables.{key}={tables[key]!r} is not allowed: a file path")
    if "plot" in tables and "verdicts" not in tables:
        raise StudyError(f"{path}: tables.plot is the verdict table's forest plot, and tables has no `verdicts`")
    if "moved" in tables:
        moved = tables["moved"]
        if not isinstance(moved, dict):
            raise StudyError(f"{path}: tables.moved={moved!r} is not allowed: {{old: REV:PATH, out: FILE}}")
        _known(path, "tables.moved.", moved, MOVED_KEYS, "a key of tables.moved")
        if not (isinstance(moved.get("old"), str) and ":" in moved["old"]):
            raise StudyError(f"{path}: tables.moved.old={moved.get('old')!r} is not allowed: the earlier verdict "
                             "table as git names it, REV:PATH, e.g. 5a4eac7:experiments/verdicts_study_split.md")
        if not (isinstance(moved.get("out"), str) and moved["out"].strip()):
            raise StudyError(f"{path}: tables.moved.out={moved.get('out')!r} is not allowed: a file path")
        if "verdicts" not in tables:
            raise StudyError(f"{path}: tables.moved compares with the verdict table, and tables has no `verdicts`")
    return tables


def _prepare(path: str, prepare) -> dict | None:
    if prepare is None:
        return None
    if not isinstance(prepare, dict):
        raise StudyError(f"{path}: prepare={prepare!r} is not allowed: {{creates: PATH, command: COMMAND}}")
    _known(path, "prepare.", prepare, PREPARE_KEYS, "a key of prepare")
    for key in PREPARE_KEYS:
        if not (isinstance(prepare.get(key), str) and prepare[key].strip()):
            raise StudyError(f"{path}: prepare.{key}={prepare.get(key)!r} is not allowed: "
                             + ("the path the command makes" if key == "creates" else "a command line"))
    try:
        shlex.split(prepare["command"])
    except ValueError as exc:
        raise StudyError(f"{path}: prepare.command={prepare['command']!r} is not allowed: {exc}") from None
    return prepare


# ----- the sweeps -----

def chosen(study: Study, names: list[str]) -> list[str]:
    """The named sweeps (all, in order, when none is named); StudyError for a name the study lacks."""
    for name in names:
        if name not in study.sweeps:
            raise StudyError(f"no sweep named {name} in {study.path} (list shows them)")
    return names or list(study.sweeps)


def planned(overrides: list[str]) -> int:
    """The jobs of `finetune-lab -m OVERRIDES`: the product of the sizes of its sweep overrides (Hydra's parser)."""
    size = 1
    for override in _parse("", "", overrides):
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


def prepare(study: Study) -> None:
    if study.prepare and not os.path.exists(study.prepare["creates"]):
        print(f"{PROG}: {study.prepare['creates']} is missing: {study.prepare['command']}", flush=True)
        result = subprocess.run(shlex.split(study.prepare["command"]))
        if result.returncode or not os.path.exists(study.prepare["creates"]):
            raise StudyError(f"prepare: `{study.prepare['command']}` ended with exit status {result.returncode}"
                             f"{'' if os.path.exists(study.prepare['creates']) else ' and made no ' + study.prepare['creates']}")


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
        _, _, plot = verdicts.write_table(study.claims, study.records, out, plot)
        written += [out, plot]
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
