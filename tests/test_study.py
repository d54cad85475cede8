"""A study is one file (finetune_lab/study.py): its schema, `list`/`show` against the scripts it replaced, every
sweep composing, `status`'s grid sizes, `tables` regenerating the committed tables, and `run` resuming (e2e)."""
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from finetune_lab import claims, study, study_file
from finetune_lab.config import validate

STUDY_FILES = {"study_split": "experiments/study_split.yaml", "shapes": "experiments/shapes.yaml"}
# What `run_study_split.sh --show NAME` and `run_shapes.sh --show NAME` printed for every sweep, in their order,
# before the study files replaced them (DATA unset: outputs/shapes).
RETIRED = json.loads((ROOT / "tests" / "sweeps_of_the_retired_scripts.json").read_text())
# Sweeps declared in the study files since: seeds 3-5 of the E4 cells the single-cell claims read, and of the
# study's own E4 schedule.
ADDED_SINCE = {"study_split": {f"e4_{opt}_{cell}_more" for opt in ("sgd", "adam")
                               for cell in ("seedpad_steps", "seedpad_scaling", "seedpad_head", "centred")}
               | {"e4_study_schedule_more"}}


def load(name: str) -> study.Study:
    return study.load(str(ROOT / STUDY_FILES[name]))


@pytest.mark.parametrize("name", STUDY_FILES)
def test_list_and_show_are_what_the_retired_scripts_printed(name, capsys):
    """Same names, same order, same overrides in the same order (a sweep's job numbers, and so its records,
    follow the order of its swept keys); the sweeps declared since are only added, never in place of one."""
    loaded = load(name)
    kept = {key: value for key, value in loaded.sweeps.items() if key not in ADDED_SINCE.get(name, ())}
    assert list(kept) == list(RETIRED[name])
    assert kept == RETIRED[name]
    assert set(loaded.sweeps) - set(kept) == set(ADDED_SINCE.get(name, ()))
    study.main([str(ROOT / STUDY_FILES[name]), "list"])
    assert capsys.readouterr().out.split() == list(loaded.sweeps)
    first = next(iter(RETIRED[name]))
    study.main([str(ROOT / STUDY_FILES[name]), "show", first])
    assert capsys.readouterr().out == "\n".join(RETIRED[name][first]) + "\n"


def test_show_of_a_sweep_the_study_lacks_is_one_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        study.main([str(ROOT / STUDY_FILES["study_split"]), "show", "e99"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip() == ("finetune-lab-study: error: no sweep named e99 in "
                                               f"{ROOT / STUDY_FILES['study_split']} (list shows them)")


def jobs_covering_every_value(overrides: list[str]) -> list[list[str]]:
    """Jobs of a -m sweep that between them take every value of every swept key but the seed (job i takes each
    key's value i, or its last): as many jobs as the longest sweep, not the whole product."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    keys, values = [], []
    for override in OverridesParser.create().parse_overrides(overrides):
        keys.append(override.get_key_element())
        values.append(list(override.sweep_string_iterator())[:1 if keys[-1] == "seed" else None]
                      if override.is_sweep_override() else [override.get_value_element_as_str()])
    longest = max(len(v) for v in values)
    return [[f"{k}={v[min(i, len(v) - 1)]}" for k, v in zip(keys, values)] for i in range(longest)]


@pytest.mark.parametrize("name, sweep", [(name, sweep) for name in STUDY_FILES for sweep in load(name).sweeps])
def test_every_sweep_of_every_study_file_composes_and_validates(compose, shapes, name, sweep):
    """A typo in a sweep that runs for hours next session fails here, in seconds: every value each sweep names
    composes (in this process, Hydra's compose) and passes validation."""
    # the shapes study reads the folder its `prepare` draws: here, the shapes fixture
    overrides = [f"data.path={shapes}" if o.startswith("data.path=") else o for o in load(name).sweeps[sweep]]
    for job in jobs_covering_every_value(overrides):
        validate(compose(*job))


def test_every_study_file_has_its_claims_on_its_own_sweeps_and_verdicts_reads_it():
    for name in STUDY_FILES:
        loaded = load(name)
        assert study_file.load_claims(str(ROOT / STUDY_FILES[name])) == (loaded.records, loaded.claims)
        assert Path(ROOT / loaded.records).is_dir()


@pytest.mark.parametrize("record", sorted(f"{p.parent.name}/{p.name}" for p in (ROOT / "experiments" / "runs").glob("*/*")))
def test_every_committed_record_is_of_a_sweep_of_its_study(record):
    name, sweep = record.split("/")
    loaded = load(name)
    assert Path(loaded.records) == Path("experiments/runs") / name and sweep in loaded.sweeps


@pytest.mark.parametrize("sweep", sorted(p.name for p in (ROOT / "experiments" / "runs" / "study_split").iterdir()))
def test_a_committed_record_is_still_the_same_job_for_output_resume(compose, sweep):
    """output.resume skips a recorded job only when today's config of its overrides is the one it saved: new keys
    and defaults now taken from the base (analysis.feature_maps.layers) must leave the study's jobs the same."""
    from finetune_lab import config

    record = sorted((ROOT / "experiments" / "runs" / "study_split" / sweep).iterdir())[0]
    overrides = [o for o in yaml.safe_load((record / ".hydra" / "overrides.yaml").read_text())
                 if not o.startswith("hydra")]
    assert config.differences(record / ".hydra" / "config.yaml", compose(*overrides)) == []


@pytest.mark.parametrize("sweep, jobs", [("e4f_sgd_seedpad", 24), ("e4_lr_sgd", 12), ("e3_subset0", 10),
                                         ("depth_s3", 6), ("e9_full", 6), ("e4_study_schedule", 3)])
def test_a_sweeps_planned_runs_are_its_grid(sweep, jobs):
    assert study.planned(load("study_split").sweeps[sweep]) == jobs


def test_status_counts_finished_runs_and_prices_the_rest_at_their_median(tmp_path):
    """Finished runs are read from the records and from the sweep folder (not yet copied back); the time left is
    the runs not finished times the finished ones' median wall time."""
    records, runs = tmp_path / "records" / "s", tmp_path / "runs" / "s"
    for folder, job, wall in ((records, "0", 3600), (runs, "1", 7200), (runs, "2", None)):
        (folder / job / ".hydra").mkdir(parents=True)
        (folder / job / ".hydra" / "config.yaml").write_text("seed: 0\n")
        if wall is not None:
            (folder / job / "metrics.json").write_text(json.dumps({"status": "completed", "wall_seconds": wall}))
    path = write_study(tmp_path, {"sweeps": {"s": {"overrides": ["seed=0,1,2,3"]}}})
    (row,) = study.status_rows(study.load(path), [])
    assert (row["done"], row["planned"], row["hours"], row["left_hours"]) == (2, 4, 3.0, 3.0)
    assert "| all | 2 of 4 | 3.00 | 3.00 |" in study.status_table([row])


@pytest.mark.parametrize("name", STUDY_FILES)
def test_tables_regenerates_the_committed_tables_from_the_committed_records(tmp_path, monkeypatch, name):
    """A study's tables are generated, never typed: regenerated from its records, byte for byte (the verdicts that
    moved read the old table from git)."""
    loaded = load(name)
    if "moved" in loaded.tables:
        old = subprocess.run(["git", "-C", str(ROOT), "show", loaded.tables["moved"]["old"]], capture_output=True)
        if old.returncode:
            pytest.skip(f"git show {loaded.tables['moved']['old']}: {old.stderr.decode().strip()}")
    monkeypatch.chdir(ROOT)  # the study's paths are relative to the repository
    written = study.write_tables(study.load(STUDY_FILES[name]), into=str(tmp_path))
    committed = [loaded.tables["verdicts"], *([loaded.tables["moved"]["out"]] if "moved" in loaded.tables else []),
                 *[loaded.tables[key] for key in ("plan", "sweep_times") if key in loaded.tables]]
    assert sorted(Path(p).name for p in written if p.endswith(".md")) == sorted(Path(p).name for p in committed)
    for path in committed:
        assert (tmp_path / Path(path).name).read_text() == (ROOT / path).read_text(), path


# ----- the schema -----

MINIMAL = {"name": "tiny", "records": "records", "sweeps": {"s": {"overrides": ["seed=0"]}}}


def write_study(folder: Path, doc: dict) -> str:
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump({**MINIMAL, "runs": str(folder / "runs"), "records": str(folder / "records"),
                                    **doc}, sort_keys=False))
    return str(path)


def test_fragments_for_and_inline_fragment_names_expand_in_order(tmp_path):
    path = write_study(tmp_path, {
        "fragments": {"A": ["a.x=1"], "B": ["A", "b.y=2"]},
        "sweeps": {"s{k}_{j}": {"for": {"k": [0, 1], "j": ["p", "q"]}, "use": ["B"],
                                "overrides": ["first=1", "A", "seed={k}", "model.head.dropout=[0.5,0.{k}]"]}}})
    loaded = study.load(path)
    assert list(loaded.sweeps) == ["s0_p", "s0_q", "s1_p", "s1_q"]
    assert loaded.sweeps["s1_q"] == ["a.x=1", "b.y=2", "first=1", "a.x=1", "seed=1", "model.head.dropout=[0.5,0.1]"]
    assert loaded.runs == str(tmp_path / "runs")
    (tmp_path / "default.yaml").write_text(yaml.safe_dump(MINIMAL))
    assert study.load(str(tmp_path / "default.yaml")).runs == "outputs/tiny"


@pytest.mark.parametrize("doc, words", [
    ({"sweep": {}}, "`sweep` is not a study key"),
    ({"name": None}, "name=None is not allowed"),
    ({"records": 3}, "records=3 is not allowed"),
    ({"sweeps": {}}, "sweeps={} is not allowed"),
    ({"sweeps": {"s": {"overides": ["seed=0"]}}}, "`sweeps.s.overides` is not a sweep key"),
    ({"sweeps": {"s": {"use": ["V"]}}}, "sweeps.s.use: 'V' is not a fragment of this study"),
    ({"sweeps": {"s": {"overrides": "seed=0"}}}, "sweeps.s.overrides='seed=0' is not allowed"),
    ({"sweeps": {"s": {"overrides": ["LEAN"]}}}, "sweeps.s: 'LEAN' is neither an override"),
    ({"sweeps": {"s": {"overrides": ["seed=[0,1"]}}}, "sweeps.s: 'seed=[0,1' is not a Hydra override"),
    ({"sweeps": {"s": {"for": {"k": [0, 1]}, "overrides": ["seed={k}"]}}}, "sweeps.s.for: k is not in the sweep's name"),
    ({"sweeps": {"s{k}": {"for": {"k": []}, "overrides": ["seed={k}"]}}}, "sweeps.s{k}.for={'k': []} is not allowed"),
    ({"sweeps": {"s": {}}}, "sweeps.s: the sweep has no overrides"),
    ({"fragments": {"A": ["A"]}, "sweeps": {"s": {"use": ["A"]}}}, "fragments.A names itself"),
    ({"fragments": ["V"]}, "fragments=['V'] is not allowed"),
    ({"claims": [{"id": "c", "claim": "w", "runs": "t", "statistic": "mean", "rule": {"above": 0.5}}]},
     "claim c: runs: 't' is not a sweep of this study"),
    ({"claims": [{"id": "c", "claim": "w", "runs": "s", "statistic": "mode", "rule": {"above": 0.5}}]},
     "claim c: statistic='mode' is not allowed"),
    ({"tables": {"verdict": "v.md"}}, "`tables.verdict` is not a table key"),
    ({"tables": {"plan": "p.md"}}, "tables.plan is the plan of the claims it leaves undecided, and tables has no"),
    ({"tables": {"verdicts": "v.md", "plan": ""}}, "tables.plan='' is not allowed: a file path"),
    ({"tables": {"verdicts": "v.md", "moved": {"old": "v.md", "out": "m.md"}}}, "tables.moved.old='v.md' is not allowed"),
    ({"prepare": {"creates": "data"}}, "prepare.command=None is not allowed"),
])
def test_a_bad_study_file_is_one_line_naming_the_key(tmp_path, doc, words):
    with pytest.raises(claims.ClaimsError if "claim c: statistic" in words else study.StudyError) as caught:
        study.load(write_study(tmp_path, doc))
    assert words in str(caught.value) and "\n" not in str(caught.value), str(caught.value)


def test_a_bad_study_file_on_the_command_line_is_one_line_and_exit_status_2(tmp_path, capsys):
    path = write_study(tmp_path, {"sweeps": {"s": {"use": ["V"]}}})
    with pytest.raises(SystemExit) as exit_:
        study.main([path, "list"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"finetune-lab-study: error: {path}: sweeps.s.use:") and err.count("\n") == 1


# ----- run -----

def test_prepare_runs_its_command_only_while_what_it_creates_is_missing(tmp_path, monkeypatch):
    import sys

    command = f"{sys.executable} -c \"import pathlib; pathlib.Path('made').mkdir(); print('drawn')\""
    loaded = study.load(write_study(tmp_path, {"prepare": {"creates": "made", "command": command}}))
    monkeypatch.chdir(tmp_path)
    study.prepare(loaded)
    assert (tmp_path / "made").is_dir()
    study.prepare(loaded)   # there: not run again (mkdir would fail)
    loaded.prepare = {"creates": "never", "command": f"{sys.executable} -c pass"}
    with pytest.raises(study.StudyError, match="made no never"):
        study.prepare(loaded)


@pytest.mark.e2e
def test_run_runs_a_sweep_resumably_and_copies_its_records(tmp_path, monkeypatch, capfd):
    """A 2-job smoke sweep: the first `run` runs both jobs and copies their records; the second copies them back
    into the sweep folder, skips both (output.resume=true) and finds nothing new to copy."""
    path = write_study(tmp_path, {"sweeps": {"smoke": {"overrides": ["debug=smoke", "seed=0,1"]}}})
    monkeypatch.chdir(tmp_path)
    study.main([path, "run"])
    first = capfd.readouterr()
    records = tmp_path / "records" / "smoke"
    assert sorted(p.name for p in records.iterdir()) == ["0", "1"], first.out + first.err[-3000:]
    for job in ("0", "1"):
        assert json.loads((records / job / "metrics.json").read_text())["status"] == "completed"
    assert f"{tmp_path / 'runs' / 'smoke'} -> {records}: 2 runs copied" in first.out
    assert list((tmp_path / "runs" / "smoke").glob("*/predictions.csv"))
    stamps = {job: (records / job / "metrics.json").stat().st_mtime_ns for job in ("0", "1")}
    import shutil
    shutil.rmtree(tmp_path / "runs")   # another machine: only the records are there
    study.main([path, "run", "smoke"])
    second = capfd.readouterr()
    assert f"{records} -> {tmp_path / 'runs' / 'smoke'}: 2 runs copied" in second.out
    assert f"{tmp_path / 'runs' / 'smoke'} -> {records}: 0 runs copied, 2 already there" in second.out
    assert {job: (records / job / "metrics.json").stat().st_mtime_ns for job in ("0", "1")} == stamps
    # skipped: each job folder holds its record and nothing a run writes beside it
    assert not list((tmp_path / "runs" / "smoke").glob("*/predictions.csv"))
    (row,) = study.status_rows(study.load(path), [])
    assert (row["done"], row["planned"], row["left_hours"]) == (2, 2, 0.0)


# ----- reproduce -----

def fake_run(accuracy: float, seed: int = 0, flags=("avx2", "fma", "avx512f", "avx512_bf16"), precision="bf16",
             backend="tensorflow", loss: float = 1.0):
    from finetune_lab.runs import Run

    metrics = {"status": "completed", "test": {"accuracy": accuracy, "loss": loss},
               "provenance": {"backend": backend, "devices": ["/device:CPU:0"],
                              "cpu": {"model": "AMD EPYC", "cores": 2, "flags": list(flags)}}}
    return Run(path=f"runs/{seed}", config={"seed": seed, "training.precision": precision}, status="completed",
               metrics=metrics, history={"val_loss": [loss + 1]})


AMX = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def test_a_reruns_rank_among_the_recorded_runs_has_an_exact_p():
    """n + 1 equally likely ranks: the p of a rank k from the nearer end is 2k / (n + 1), capped at 1."""
    from finetune_lab.reproduce import rank_check

    assert rank_check([0.630, 0.837, 0.823], 0.718) == {"n": 3, "lo": 0.630, "hi": 0.837, "below": 1, "above": 2,
                                                        "inside": True, "p": 1.0}
    assert rank_check([0.630, 0.837, 0.823], 0.9)["p"] == 0.5   # above all three: 2 x 1/4
    many = [0.5 + i / 1000 for i in range(39)]
    assert rank_check(many, 0.9)["p"] == pytest.approx(0.05) and rank_check(many + [0.6], 0.9)["p"] < 0.05
    assert rank_check([0.63, 0.63], 0.63)["p"] == 1.0 and rank_check([], 0.5) is None


@pytest.mark.parametrize("new, peers, reproduced, words", [
    # another CPU kind (the e11_224: AVX512-BF16 EPYC recorded, Xeon with AMX here): the rank decides
    (0.718, [0.630, 0.837, 0.823], True, "inside their range 0.6300-0.8370"),
    (0.100, [0.630, 0.837, 0.823], False, "cannot tell"),                        # outside, but 3 runs cannot tell
    (0.100, [0.5 + i / 1000 for i in range(40)], False, "NOT reproduced: its rank"),  # outside 40: p 2/41
    (0.718, [], False, "too few to tell"),
])
def test_reproduce_on_another_machine_kind_reads_the_reruns_rank(new, peers, reproduced, words):
    from finetune_lab.reproduce import compare

    record = fake_run(peers[0] if peers else 0.63)
    verdict = compare(record, fake_run(new, flags=AMX), [fake_run(a, seed=i) for i, a in enumerate(peers)])
    text = "\n".join(verdict.lines)
    assert verdict.reproduced is reproduced, text
    assert words in text and "CPU flags avx2 fma avx512f avx512_bf16 -> avx2 fma avx512f avx512_bf16 amx_bf16" in text
    assert "bitwise reproducibility expected but broken" not in text


def test_reproduce_on_the_same_machine_kind_is_identical_or_broken():
    from finetune_lab.reproduce import compare

    peers = [fake_run(0.63), fake_run(0.837, seed=1)]
    same = compare(fake_run(0.63), fake_run(0.63), peers)
    assert same.reproduced and "identical" in same.lines[2] and same.lines[-1] == "reproduced", same.lines
    broken = compare(fake_run(0.63), fake_run(0.63, loss=1.0000001), peers)   # one digit of the loss
    text = "\n".join(broken.lines)
    assert not broken.reproduced and "bitwise reproducibility expected but broken" in text, text
    assert "first test.loss: 1.0 -> 1.0000001" in text
    record, rerun = fake_run(0.63), fake_run(0.63)
    record.metrics["layer_change"], rerun.metrics["layer_change"] = {"cka": {"block5_pool": 0.5}}, {"cka": {"block5_pool": 0.25}}
    cka = compare(record, rerun, peers)
    assert not cka.reproduced and "first layer_change.cka.block5_pool: 0.5 -> 0.25" in "\n".join(cka.lines), cka.lines
    other = compare(fake_run(0.63), fake_run(0.63, loss=1.1, precision="fp32"), peers)   # fp32 vs bf16: in distribution
    assert other.reproduced and "precision bf16 -> fp32" in "\n".join(other.lines), other.lines


@pytest.mark.parametrize("args, words", [
    (["reproduce", "nope"], "no sweep named nope in"),
    (["reproduce", "s", "--job", "3"], "sweep s has no finished job 3 (under "),
])
def test_reproduce_of_a_sweep_or_job_there_is_not_is_one_line(tmp_path, capsys, args, words):
    record = tmp_path / "records" / "s" / "0"
    (record / ".hydra").mkdir(parents=True)
    (record / ".hydra" / "config.yaml").write_text("seed: 0\n")
    (record / "metrics.json").write_text(json.dumps({"status": "completed"}))
    path = write_study(tmp_path, {})
    with pytest.raises(SystemExit) as exit_:
        study.main([path, *args])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("finetune-lab-study: error: ") and words in err and err.count("\n") == 1, err
    if "--job" in args:
        assert err.rstrip().endswith("its finished jobs are 0"), err


@pytest.mark.e2e
def test_reproduce_reruns_a_recorded_job_and_finds_it_identical(tmp_path, monkeypatch, capfd):
    """On the machine that recorded it, a smoke job run again in a fresh process (job 1 ran second in its sweep's
    process) gives the same numbers to the last digit, without training.deterministic (docs/reproducibility.md)."""
    path = write_study(tmp_path, {"sweeps": {"smoke": {"overrides": ["debug=smoke", "seed=0,1"]}}})
    monkeypatch.chdir(tmp_path)
    study.main([path, "run"])
    capfd.readouterr()
    study.main([path, "reproduce", "smoke", "--job", "1"])   # exit status 0: no SystemExit
    out = capfd.readouterr().out
    (rerun,) = (tmp_path / "runs" / "reproduce" / "smoke" / "1").iterdir()
    assert f"reproduce smoke job 1: {tmp_path / 'records' / 'smoke' / '1'} -> {rerun}" in out, out
    assert "machine, backend, precision: the same" in out and "  identical: " in out, out
    assert out.rstrip().endswith("  reproduced"), out
    assert json.loads((rerun / "metrics.json").read_text())["status"] == "completed"
    assert sorted(p.name for p in (tmp_path / "records" / "smoke").iterdir()) == ["0", "1"]   # records untouched


# ----- the shapes study, from its own file -----

def shapes_here(tmp_path: Path, records: tuple[str, ...] = ()) -> str:
    """experiments/shapes.yaml and the script its `prepare` runs, copied into `tmp_path` (the study's paths are
    relative: runs, records, data and the feature store land there), with the committed records of `records`."""
    import shutil

    (tmp_path / "experiments").mkdir()
    for name in ("shapes.yaml", "make_shapes.py"):
        shutil.copy(ROOT / "experiments" / name, tmp_path / "experiments" / name)
    for sweep in records:
        shutil.copytree(ROOT / "experiments" / "runs" / "shapes" / sweep, tmp_path / "experiments" / "runs" / "shapes" / sweep)
    return str(tmp_path / "experiments" / "shapes.yaml")


@pytest.fixture
def in_shapes(monkeypatch):
    """This interpreter first on PATH: `prepare` runs `python experiments/make_shapes.py` (docs run the study with
    the virtual environment's bin on PATH)."""
    import sys

    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))


@pytest.mark.e2e
def test_the_shapes_study_runs_from_its_file(tmp_path, monkeypatch, capfd, in_shapes):
    """`run e4_frozen` on a fresh machine: prepare draws the shapes, the sweep's three jobs run and their records
    are the committed records' jobs (the same overrides, job for job)."""
    path = shapes_here(tmp_path)
    monkeypatch.chdir(tmp_path)
    study.main([path, "run", "e4_frozen"])
    out = capfd.readouterr()
    made = tmp_path / "experiments" / "runs" / "shapes" / "e4_frozen"
    committed = ROOT / "experiments" / "runs" / "shapes" / "e4_frozen"
    assert "outputs/shapes is missing: python experiments/make_shapes.py" in out.out, out.out + out.err[-3000:]
    assert sorted(p.name for p in made.iterdir()) == sorted(p.name for p in committed.iterdir()) == ["0", "1", "2"]
    for job in ("0", "1", "2"):
        assert json.loads((made / job / "metrics.json").read_text())["status"] == "completed"
        assert (yaml.safe_load((made / job / ".hydra" / "overrides.yaml").read_text())
                == yaml.safe_load((committed / job / ".hydra" / "overrides.yaml").read_text()))


@pytest.mark.e2e
def test_reproduce_reruns_a_committed_job_of_the_shapes_study(tmp_path, monkeypatch, capfd, in_shapes):
    """Job 1 of the committed e4_frozen records, rerun here: judged against its record, identical where this machine
    is the recording one's kind, else by its rank among the recorded runs (exit status 1 when not reproduced)."""
    path = shapes_here(tmp_path, records=("e4_frozen", "e4_frozen_more"))
    monkeypatch.chdir(tmp_path)
    try:
        study.main([path, "reproduce", "e4_frozen", "--job", "1"])
    except SystemExit as exit_:
        assert exit_.code == 1
    out = capfd.readouterr().out
    record = tmp_path / "experiments" / "runs" / "shapes" / "e4_frozen" / "1"
    (rerun,) = (tmp_path / "outputs" / "shapes_runs" / "reproduce" / "e4_frozen" / "1").iterdir()
    assert f"reproduce e4_frozen job 1: {os.path.relpath(record, tmp_path)} -> " in out or str(record) in out, out
    assert "recorded -> now: " in out and "machine, backend, precision: " in out, out
    assert json.loads((rerun / "metrics.json").read_text())["status"] == "completed"
    last = out.rstrip().splitlines()[-1].strip()
    from finetune_lab import reproduce
    from finetune_lab.runs import load_run

    if reproduce.kind(load_run(str(record))) == reproduce.kind(load_run(str(rerun))):
        assert "machine, backend, precision: the same" in out and last == "reproduced", out
    else:   # another machine kind: judged by the rerun's rank among the six recorded seeds
        assert "machine, backend, precision: differ" in out, out
        assert "recorded runs of this configuration (seeds 0, 1, 2)" in out or "identical: " in out, out
        assert last.startswith(("reproduced", "NOT reproduced", "cannot tell")), out


def test_the_recorded_runs_of_a_configuration_include_its_more_seeds_sweep(tmp_path):
    """A rerun is judged among every recorded seed of its configuration: `s`'s and `s_more`'s alike, not `t`'s."""
    from finetune_lab import reproduce

    path = write_study(tmp_path, {"sweeps": {"s": {"overrides": ["a=1", "seed=0,1"]},
                                             "t": {"overrides": ["a=2", "seed=0,1"]},
                                             "s_more": {"overrides": ["a=1", "seed=2,3"]}}})
    for sweep, a, seeds in (("s", 1, (0, 1)), ("t", 2, (0, 1)), ("s_more", 1, (2, 3))):
        for job, seed in enumerate(seeds):
            folder = tmp_path / "records" / sweep / str(job)
            (folder / ".hydra").mkdir(parents=True)
            (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"a={a}", f"seed={seed}",
                                                                              "output.resume=True"]))
            (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump({"a": a, "seed": seed}))
            (folder / "metrics.json").write_text(json.dumps({"status": "completed", "test": {"accuracy": 0.5}}))
            (folder / "status.json").write_text(json.dumps({"status": "completed"}))
    loaded = study.load(path)
    peers = reproduce.same_configuration(loaded, "s", reproduce.recorded_job(loaded, "s", "1"))
    assert [(Path(run.path).parent.name, run.config["seed"]) for run in peers] == [
        ("s", 0), ("s", 1), ("s_more", 2), ("s_more", 3)]
