"""A study file (its keys in finetune_lab/study.py) read and checked into a Study, and the claims of a claims file
or of a study file (load_claims: what finetune-lab-verdicts reads). Importing it imports neither Hydra nor the
verdicts."""
from __future__ import annotations

import itertools
import os
import re
import shlex
import subprocess
from dataclasses import dataclass, field

import yaml

from . import claims
from .errors import UserError

PROG = "finetune-lab-study"
STUDY_KEYS = ("name", "runs", "records", "prepare", "fragments", "sweeps", "claims", "tables")
SWEEP_KEYS = ("use", "overrides", "for")
PREPARE_KEYS = ("creates", "command")
TABLE_KEYS = ("verdicts", "plot", "plan", "sweep_times", "moved")
MOVED_KEYS = ("old", "out")
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")   # a study's, fragment's or sweep's name (a folder's name)
FOR_KEY = re.compile(r"[A-Za-z_]\w*")


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
        parse_overrides(path, f"sweeps.{name}", overrides)
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


def parse_overrides(path: str, key: str, overrides: list[str]) -> list:
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
    for key in ("verdicts", "plot", "plan", "sweep_times"):
        if key in tables and not (isinstance(tables[key], str) and tables[key].strip()):
            raise StudyError(f"{path}: tables.{key}={tables[key]!r} is not allowed: a file path")
    for key, what in (("plot", "the verdict table's forest plot"), ("plan", "the plan of the claims it leaves undecided")):
        if key in tables and "verdicts" not in tables:
            raise StudyError(f"{path}: tables.{key} is {what}, and tables has no `verdicts`")
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


def load_claims(path: str) -> tuple[str | None, list[dict]]:
    """(the file's `root`, its claims, each checked): of a claims file (finetune_lab/claims.py), or of a study file
    (one with `sweeps:`), their root the study's `records`."""
    try:
        with open(path) as f:
            doc = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise claims.ClaimsError(f"{path}: {exc}") from None
    if isinstance(doc, dict) and "sweeps" in doc:
        declared = load(path)
        if not declared.claims:
            raise claims.ClaimsError(f"{path}: expected a non-empty list under `claims:`")
        return declared.records, declared.claims
    found = doc.get("claims") if isinstance(doc, dict) else None
    if not isinstance(found, list) or not found:
        raise claims.ClaimsError(f"{path}: expected a non-empty list under `claims:`")
    claims.check_claims(found)
    return doc.get("root"), found


def chosen(study: Study, names: list[str]) -> list[str]:
    """The named sweeps (all, in order, when none is named); StudyError for a name the study lacks."""
    for name in names:
        if name not in study.sweeps:
            raise StudyError(f"no sweep named {name} in {study.path} (list shows them)")
    return names or list(study.sweeps)


def prepare(study: Study) -> None:
    """Run the study's `prepare` command when what it creates is missing; StudyError when it fails or makes nothing."""
    if study.prepare and not os.path.exists(study.prepare["creates"]):
        print(f"{PROG}: {study.prepare['creates']} is missing: {study.prepare['command']}", flush=True)
        result = subprocess.run(shlex.split(study.prepare["command"]))
        if result.returncode or not os.path.exists(study.prepare["creates"]):
            raise StudyError(f"prepare: `{study.prepare['command']}` ended with exit status {result.returncode}"
                             f"{'' if os.path.exists(study.prepare['creates']) else ' and made no ' + study.prepare['creates']}")
