"""`finetune-lab-study STUDY.yaml reproduce NAME [--job K]`: rerun one recorded job of a sweep on this machine and
say whether it reproduced (docs/reproducibility.md).

The job's record (<records>/NAME/K, else the sweep folder's <runs>/NAME/K) gives its exact overrides
(.hydra/overrides.yaml, without output.resume); the rerun is `finetune-lab OVERRIDES hydra.run.dir=<runs>/reproduce/
NAME/K/<timestamp>`, a fresh folder, nothing overwritten. Its result is then read against the record:

  same machine kind (CPU model and flags, as machine.py records them, and no GPU or the same ones), backend and
  precision: the result is expected to be identical, every headline metric and every number of history.csv to
  the last digit; anything else is reproducibility broken.
  another machine kind, backend or precision: identical is not expected; the new test accuracy is set among the
  recorded runs of the same configuration in the sweep (the same overrides but the seed) by its rank alone
  (`rank_check`): were the rerun one more draw from their distribution, each of the n + 1 ranks would be equally
  likely, whatever that distribution, so the two-sided p of a rank that far out is exact; no interval method is
  assumed (none is proven at these sizes, docs/statistics.md). A rerun outside the recorded range is told apart
  from chance only with 40 recorded runs or more (2 / (n + 1) < 0.05).

Exit status 0 when reproduced (identical; or, on another kind, consistent with the recorded runs), 1 when not (or
when it cannot tell), 2 for bad input.
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime

import yaml

from . import rundir
from .stats import ALPHA
from .runs import Run, find_runs, load_run, natural_key, numeric_leaves

HEADLINE = ("test.accuracy", "test.loss", "val.accuracy", "val.loss", "train.accuracy", "train.loss", "epochs_run")
CHECKED = HEADLINE + ("test.n", "test.correct", "train_eval.accuracy", "train_eval.loss")   # compared, not shown
SECTIONS = ("original_task", "layer_change")   # every number of these compared too (forgetting, CKA, weight change)
DROPPED = ("output.resume", "hydra.")   # overrides of where a job ran, not of what it computed


@dataclass
class Verdict:
    reproduced: bool
    lines: list[str] = field(default_factory=list)


# ----- the record -----

def recorded_job(study, name: str, job: str) -> str:
    """The run folder of job `job` of sweep `name`: its record, else its job folder in the sweep folder.
    StudyError (one line naming the sweep, the job and the jobs there are) when there is none, or it did not
    complete."""
    from .study_file import StudyError, chosen

    chosen(study, [name])
    jobs = recorded_jobs(study, name)
    if job not in jobs:
        where = " and ".join(os.path.join(root, name) for root in (study.records, study.runs))
        there = (f"its finished jobs are {', '.join(sorted(jobs, key=natural_key))}" if jobs
                 else "it has no finished job yet (run it first)")
        raise StudyError(f"sweep {name} has no finished job {job} (under {where}): {there}")
    path = jobs[job]
    if rundir.status(path) != "completed":
        raise StudyError(f"sweep {name}, job {job} ({path}) did not complete ({rundir.status(path)}): nothing to "
                         "reproduce")
    return path


def recorded_jobs(study, name: str) -> dict[str, str]:
    """{job: run folder} of the finished runs of sweep `name`: its records first, then its sweep folder."""
    jobs: dict[str, str] = {}
    for root in (os.path.join(study.records, name), os.path.join(study.runs, name)):
        if os.path.isdir(root):
            for run_dir in find_runs([root]):
                job = os.path.relpath(run_dir, root)
                if job not in jobs and rundir.status(run_dir) in rundir.FINAL_STATUSES:
                    jobs[job] = run_dir
    return jobs


def overrides(run_dir: str) -> list[str]:
    """The overrides the job ran with (.hydra/overrides.yaml), without those of where it ran (output.resume,
    hydra.*)."""
    path = os.path.join(run_dir, rundir.CONFIG_DIR, "overrides.yaml")
    try:
        with open(path) as f:
            items = yaml.safe_load(f) or []
    except OSError:
        items = []
    return [str(item) for item in items if not str(item).lstrip("+~").startswith(DROPPED)]


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def same_configuration(study, name: str, run_dir: str) -> list[Run]:
    """The completed runs of the study whose overrides are `run_dir`'s but the seed (the job itself among them):
    sweep `name`'s in job order, then those of its other sweeps (more seeds of one configuration are a sweep of
    their own, `*_more`) in the study's order."""
    def but_seed(path: str) -> list[str]:
        return [o for o in overrides(path) if _key(o) != "seed"]

    want = but_seed(run_dir)
    found = []
    for sweep in [name] + [other for other in study.sweeps if other != name]:
        jobs = recorded_jobs(study, sweep)
        found += [load_run(path) for job, path in sorted(jobs.items(), key=lambda kv: natural_key(kv[0]))
                  if rundir.status(path) == "completed" and but_seed(path) == want]
    return found


# ----- the comparison -----

def kind(run: Run) -> dict:
    """What decides whether two runs compute the same numbers: the CPU (model and flags), the GPUs, the backend,
    the precision (and, not part of the kind, the cores and op determinism: reported beside it)."""
    provenance = run.metrics.get("provenance") or {}
    cpu = provenance.get("cpu") or {}
    return {"cpu": cpu.get("model", "?"), "flags": " ".join(cpu.get("flags") or []) or "none",
            "gpus": ", ".join(d for d in provenance.get("devices") or [] if "cpu" not in d.lower()) or "none",
            "backend": provenance.get("backend", "?"), "precision": str(run.config.get("training.precision", "?"))}


def numbers(run: Run) -> dict:
    """Every number the comparison checks: the headline metrics (and CHECKED's others), SECTIONS' numbers and
    history.csv's."""
    out = {key: value for key, value in numeric_leaves(run.metrics).items() if key in CHECKED}
    for section in SECTIONS:
        out.update(numeric_leaves(run.metrics.get(section) or {}, f"{section}."))
    for column, values in run.history.items():
        out.update({f"history.{column}[{i}]": v for i, v in enumerate(values)})
    return out


def rank_check(values: list[float], value: float) -> dict | None:
    """Where `value` falls among `values` by rank: n, their range, how many lie below and above it, and the exact
    two-sided p of a rank that far out were it one more exchangeable draw (2 x the smaller tail of n + 1 equally
    likely ranks; a recorded value equal to it counts on both sides: a tie is no sign of a shift); None without a
    recorded value."""
    n = len(values)
    if n < 1:
        return None
    below, above = sum(v < value for v in values), sum(v > value for v in values)
    ties = n - below - above
    return {"n": n, "lo": min(values), "hi": max(values), "below": below, "above": above,
            "inside": min(values) <= value <= max(values),
            "p": min(1.0, 2 * (min(below, above) + ties + 1) / (n + 1))}


def _show(value) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def _seeds(runs: list[Run]) -> str:
    return ", ".join(str(run.config.get("seed", "?")) for run in runs)


def compare(record: Run, new: Run, peers: list[Run]) -> Verdict:
    """The verdict on `new`, a rerun of `record`; `peers`: the recorded runs of the same configuration but the
    seed (the record among them)."""
    lines = []
    shown = [f"{key.replace('.', ' ')} {_show(_get(record.metrics, key))} -> {_show(_get(new.metrics, key))}"
             for key in HEADLINE if _get(record.metrics, key) is not None]
    lines.append("recorded -> now: " + "; ".join(shown))
    if new.status != "completed":
        lines.append(f"the rerun did not complete ({new.status}: {new.reason}): NOT reproduced")
        return Verdict(False, lines)
    was, now = kind(record), kind(new)
    differ = [key for key in was if was[key] != now[key]]
    words = {"cpu": "CPU", "flags": "CPU flags", "gpus": "GPUs", "backend": "backend", "precision": "precision"}
    cores = [(record.metrics.get("provenance") or {}).get("cpu", {}).get("cores"),
             (new.metrics.get("provenance") or {}).get("cpu", {}).get("cores")]
    aside = (f"; cores {cores[0]} -> {cores[1]}" if cores[0] != cores[1] else "") + (
        f"; training.deterministic={record.config.get('training.deterministic', '?')}")
    if differ:
        lines.append("machine, backend, precision: differ: " + "; ".join(
            f"{words[key]} {was[key]} -> {now[key]}" for key in differ) + aside)
    else:
        lines.append(f"machine, backend, precision: the same ({was['cpu']}, flags {was['flags']}, GPUs "
                     f"{was['gpus']}, backend {was['backend']}, {was['precision']}){aside}")
    a, b = numbers(record), numbers(new)
    changed = [key for key in a if key in b and a[key] != b[key]] + [key for key in a.keys() ^ b.keys()]
    if not changed:
        lines.append(f"identical: the headline metrics and all {len(a)} numbers of history and metrics agree to "
                     "the last digit")
        if differ:
            lines.append("reproduced (identical, though not required to be on another machine kind, backend or "
                         "precision)")
        else:
            lines.append("reproduced")
        return Verdict(True, lines)
    first = changed[0]
    lines.append(f"not identical: {len(changed)} of {len(a | b)} numbers differ (first {first}: "
                 f"{_show(a.get(first))} -> {_show(b.get(first))})"
                 + (": bitwise reproducibility expected but broken" if not differ else ""))
    inside = _interval(lines, new, peers)
    if not differ:
        lines.append("NOT reproduced: the same machine kind, backend and precision should give identical numbers")
        return Verdict(False, lines)
    if inside is None:
        lines.append("cannot tell: outside the recorded runs' range, which their own distribution reaches that often "
                     "with this few of them (it takes 40 to tell): NOT reproduced")
        return Verdict(False, lines)
    lines.append("reproduced in distribution" if inside else "NOT reproduced: its rank among the recorded runs is "
                 "one their distribution gives with p < 0.05")
    return Verdict(inside, lines)


def _interval(lines: list[str], new: Run, peers: list[Run]) -> bool | None:
    """Adds a line on where the new test accuracy falls among `peers`' (rank_check); whether it is consistent with
    them (None: too few to tell either way)."""
    values = [run.metrics["test"]["accuracy"] for run in peers
              if isinstance((run.metrics.get("test") or {}).get("accuracy"), (int, float))]
    value = new.metrics["test"]["accuracy"]
    found = rank_check(values, value)
    if found is None:
        lines.append("no recorded run of this configuration has a test accuracy: too few to tell")
        return None
    where = f"{'inside' if found['inside'] else 'outside'} their range {found['lo']:.4f}-{found['hi']:.4f}"
    lines.append(f"the new test accuracy {value:.4f} among the {found['n']} recorded runs of this configuration "
                 f"(seeds {_seeds(peers)}): {where}; {found['below']} below, {found['above']} above; a rerun of "
                 f"their distribution lands this far out with probability {found['p']:.2g}")
    if found["p"] < ALPHA:
        return False
    return True if found["inside"] else None


def _get(metrics: dict, key: str):
    value = metrics
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


# ----- the rerun -----

def rerun_folder(study, name: str, job: str) -> str:
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S_%f")
    return os.path.join(study.runs, "reproduce", name, job, stamp)


def reproduce(study, name: str, job: str) -> Verdict:
    """Rerun job `job` of sweep `name` into a fresh folder and compare (module docstring); prints as it goes."""
    from .study_file import PROG, StudyError, prepare

    record_dir = recorded_job(study, name, job)
    items = overrides(record_dir)
    out = rerun_folder(study, name, job)
    if os.path.exists(out):   # two calls within a microsecond: never over another
        raise StudyError(f"{out} exists already; run reproduce again")
    prepare(study)
    print(f"{PROG}: reproduce {name} job {job} ({record_dir}): finetune-lab {' '.join(items)} -> {out}", flush=True)
    subprocess.run([sys.executable, "-m", "finetune_lab", *items, f"hydra.run.dir={out}"])
    record = load_run(record_dir)
    if os.path.isfile(os.path.join(out, rundir.CONFIG)):
        new = load_run(out)
    else:
        new = Run(path=out, config={}, status="failed", reason="the rerun wrote no run folder")
    verdict = compare(record, new, same_configuration(study, name, record_dir))
    print(f"{PROG}: reproduce {name} job {job}: {record_dir} -> {out}")
    for line in verdict.lines:
        print(f"  {line}")
    return verdict
