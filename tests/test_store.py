"""The frozen-base feature store: the same question is answered from disk (in this process, in another, in a
later run), any change of what the outputs depend on misses, writers race safely, damage is recomputed, the
test set is predicted from stored features as the whole model predicts it, and a null store is today's run."""
import json
import logging
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from conftest import QUICK, run_cli
from finetune_lab import cache, config, store
from finetune_lab.errors import ConfigError
from test_model import cfg_with

WEIGHTS = {"source": "file", "file": "base.weights.h5", "sha256": "ab" * 32}
DIGITS = np.arange(4 * 28 * 28, dtype=np.uint8).reshape(4, 28, 28)
FEATURES = np.linspace(0, 1, 4 * 8, dtype=np.float32).reshape(4, 2, 2, 2)
FROZEN_RUN = [*QUICK, "model.freeze=all", "seed=3", "analysis.train_eval.enabled=true"]  # scored from the store too


class Base:
    """Stands for the frozen base: counts its calls."""

    def __init__(self, out=FEATURES):
        self.out, self.calls = out, 0

    def __call__(self):
        self.calls += 1
        return self.out


def fields(cfg=None, layer="block5_pool", weights=WEIGHTS, images=DIGITS) -> dict:
    cfg = cfg if cfg is not None else cfg_with(model__freeze="all")
    return {**cache.key_fields(cfg, layer, weights), "images": store.digest(images)}


def entries_and_leftovers(folder) -> tuple[list[str], list[str]]:
    names = os.listdir(folder)
    return ([n for n in names if not n.startswith(store.TMP_PREFIX)],
            [n for n in names if n.startswith(store.TMP_PREFIX)])


def test_the_same_question_is_answered_from_disk_without_calling_the_base(tmp_path):
    feature_store, base = store.FeatureStore(str(tmp_path)), Base()
    first, key, hit = feature_store.fetch(fields(), base)
    assert not hit and base.calls == 1
    again, same_key, hit = feature_store.fetch(fields(), base)
    assert hit and same_key == key and base.calls == 1
    assert isinstance(again, np.memmap) and again.dtype == np.float32 and np.array_equal(again, first)
    entry = json.loads((tmp_path / key / store.ENTRY).read_text())
    assert entry["shape"] == [4, 2, 2, 2] and entry["fields"]["images"]["shape"] == [4, 28, 28]
    assert entry["seconds"] >= 0 and entry["created"]


def test_another_process_reads_the_entry_and_does_not_compute(tmp_path):
    feature_store = store.FeatureStore(str(tmp_path))
    feature_store.fetch(fields(), Base())
    code = ("import json, sys; from finetune_lab import store\n"
            "def base(): raise SystemExit('the base was called')\n"
            "array, key, hit = store.FeatureStore(sys.argv[1]).fetch(json.loads(sys.argv[2]), base)\n"
            "print(hit, float(array.sum()))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path), json.dumps(fields())], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", str(float(FEATURES.sum()))]


def _other_weights(cfg):
    return fields(cfg, weights={**WEIGHTS, "sha256": "cd" * 32})


def _one_pixel(cfg):
    images = DIGITS.copy()
    images[2, 14, 14] += 1
    return fields(cfg, images=images)


CHANGES = {  # each changes one thing the base's outputs depend on
    "weights": _other_weights,
    "base": lambda cfg: fields(cfg_with(model__freeze="all", model__base="scratch_cnn")),
    "output layer": lambda cfg: fields(cfg, layer="block4_pool"),
    "input_size": lambda cfg: fields(cfg_with(model__freeze="all", data__input_size=64)),
    "placement": lambda cfg: fields(cfg_with(model__freeze="all", data__placement="resize")),
    "channels": lambda cfg: fields(cfg_with(model__freeze="all", data__channels="seed")),
    "preprocess": lambda cfg: fields(cfg_with(model__freeze="all", data__preprocess="unit")),
    "precision": lambda cfg: fields(cfg_with(model__freeze="all", training__precision="bf16")),
    "one pixel": _one_pixel,
    "fewer images": lambda cfg: fields(cfg, images=DIGITS[:3]),
    "image shape": lambda cfg: fields(cfg, images=DIGITS.reshape(4, 28 * 28)),
    # a folder's images are scaled on the host (images.scale): its method is part of the key, the digits' is not
    "host scaling": lambda cfg: fields(cfg_with(model__freeze="all", data__source="folder", data__path="/x")),
}


def test_a_folder_runs_key_names_the_host_scaling_and_the_digits_key_does_not():
    from finetune_lab import images

    assert fields(cfg_with(model__freeze="all", data__source="folder", data__path="/x"))["host_scale"] == \
        images.SCALE_METHOD
    assert "host_scale" not in fields()


@pytest.mark.parametrize("change", CHANGES)
def test_any_change_of_what_the_outputs_depend_on_misses(tmp_path, change):
    feature_store, base = store.FeatureStore(str(tmp_path)), Base()
    feature_store.fetch(fields(), base)
    _, _, hit = feature_store.fetch(CHANGES[change](cfg_with(model__freeze="all")), base)
    assert not hit and base.calls == 2
    assert len(entries_and_leftovers(tmp_path)[0]) == 2


@pytest.mark.parametrize("what", ["config.backend", "version"])
def test_another_keras_backend_or_version_misses(tmp_path, monkeypatch, what):
    feature_store, base = store.FeatureStore(str(tmp_path)), Base()
    feature_store.fetch(fields(), base)
    owner = cache.keras.config if what == "config.backend" else cache.keras
    now = getattr(owner, what.split(".")[-1])()
    monkeypatch.setattr(owner, what.split(".")[-1], lambda: f"{now}-another")
    _, _, hit = feature_store.fetch(fields(), base)
    assert not hit and base.calls == 2


def test_what_only_the_training_uses_shares_the_entry():
    same = cfg_with(model__freeze="all", seed=7, training__optimizer__lr=0.1, training__batch_size=8,
                    training__epochs=9, model__head__units=[4, 4], data__cutoff_rate=0.5, training__feature_store="x")
    assert store.key(fields(same)) == store.key(fields())


def test_a_randomly_initialised_base_is_never_stored(tmp_path):
    cfg = cfg_with(model__freeze="all", model__weights=None, training__feature_store=str(tmp_path))
    feature_store, _, why = cache.store_for(cfg, "block5_pool", {"source": None, "note": "random initialisation"})
    assert feature_store is None and "model.weights=null" in why


def test_concurrent_writers_of_one_key_leave_one_whole_entry_and_no_temporary_files(tmp_path):
    feature_store = store.FeatureStore(str(tmp_path))
    ready = threading.Barrier(6)

    def base():
        ready.wait(timeout=30)  # every writer has missed before any of them writes
        return FEATURES

    results, errors = [], []

    def writer():
        try:
            results.append(feature_store.fetch(fields(), base))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors and len(results) == 6 and not any(hit for _, _, hit in results)
    entries, leftovers = entries_and_leftovers(tmp_path)
    assert len(entries) == 1 and leftovers == []
    assert np.array_equal(feature_store.load(entries[0]), FEATURES)


def test_two_processes_writing_one_key_at_once_both_succeed(tmp_path):
    big = np.random.default_rng(0).random((2000, 7, 7, 64), dtype=np.float32)  # 25 MB: a long write
    np.save(tmp_path / "big.npy", big)
    folder = tmp_path / "store"
    code = ("import glob, json, os, sys, time, numpy as np; from finetune_lab import store\n"
            "array = np.load(sys.argv[3])\n"
            "def base():  # both writers have missed before either writes\n"
            "    open(os.path.join(sys.argv[4], f'ready-{os.getpid()}'), 'w').close()\n"
            "    while len(glob.glob(os.path.join(sys.argv[4], 'ready-*'))) < 2: time.sleep(0.01)\n"
            "    return array\n"
            "print(store.FeatureStore(sys.argv[1]).fetch(json.loads(sys.argv[2]), base)[2])")
    args = [sys.executable, "-c", code, str(folder), json.dumps(fields()), str(tmp_path / "big.npy"), str(tmp_path)]
    writers = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [w.communicate(timeout=120) for w in writers]
    assert [w.returncode for w in writers] == [0, 0] and [out for out, _ in outputs] == ["False\n"] * 2, outputs
    entries, leftovers = entries_and_leftovers(folder)
    assert len(entries) == 1 and leftovers == []
    assert np.array_equal(store.FeatureStore(str(folder)).load(entries[0]), big)


def _truncate(entry):
    data = entry / store.DATA
    data.write_bytes(data.read_bytes()[:-40])


def _flip_a_byte(entry):
    raw = bytearray((entry / store.DATA).read_bytes())
    raw[-1] ^= 0xFF
    (entry / store.DATA).write_bytes(bytes(raw))


DAMAGE = {
    "truncated data": _truncate,
    "changed data": _flip_a_byte,
    "no data": lambda entry: (entry / store.DATA).unlink(),
    "no entry.json": lambda entry: (entry / store.ENTRY).unlink(),
    "half an entry.json": lambda entry: (entry / store.ENTRY).write_text('{"key": "'),
    "a shape that is not the data's": lambda entry: (entry / store.ENTRY).write_text(json.dumps(
        {**json.loads((entry / store.ENTRY).read_text()), "shape": [2, 2, 2, 2]})),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_entry_is_computed_again_not_trusted(tmp_path, caplog, damage):
    feature_store, base = store.FeatureStore(str(tmp_path)), Base()
    _, key, _ = feature_store.fetch(fields(), base)
    DAMAGE[damage](tmp_path / key)
    with caplog.at_level(logging.WARNING, logger="finetune_lab.store"):
        array, _, hit = feature_store.fetch(fields(), base)
    assert not hit and base.calls == 2 and np.array_equal(array, FEATURES)
    assert f"entry {key[:store.SHORT]} is damaged" in caplog.text
    _, _, hit = feature_store.fetch(fields(), base)  # the entry written again is whole
    assert hit and base.calls == 2 and entries_and_leftovers(tmp_path)[1] == []


def test_the_command_lists_the_entries_and_prunes_by_last_use(tmp_path, capsys):
    feature_store = store.FeatureStore(str(tmp_path))
    _, old, _ = feature_store.fetch(fields(), Base())
    _, new, _ = feature_store.fetch(fields(images=DIGITS[:2]), Base(FEATURES[:2]))
    long_ago = os.path.getmtime(tmp_path / new / store.DATA) - 10 * 86400
    os.utime(tmp_path / old / store.DATA, (long_ago, long_ago))
    store.main(["--dir", str(tmp_path)])
    listed = capsys.readouterr().out
    assert f"feature store {tmp_path}: 2 entries" in listed
    assert old[:store.SHORT] in listed and "4x2x2x2" in listed and "vgg16:block5_pool" in listed
    store.main(["--dir", str(tmp_path), "--prune-older-than", "3"])
    pruned = capsys.readouterr().out
    assert "1 entries removed" in pruned and "1 entries" in pruned
    assert entries_and_leftovers(tmp_path) == ([new], [])
    store.main(["--dir", str(tmp_path), "--prune-all"])
    assert "0 entries, 0 B" in capsys.readouterr().out and os.listdir(tmp_path) == []


@pytest.mark.parametrize("argv, message", [
    (["--prune-older-than", "-1"], "--prune-older-than=-1.0 is not allowed: a number of days >= 0"),
    (["--prune-all", "--prune-older-than", "2"], "not allowed with argument"),
])
def test_the_command_refuses_bad_arguments_in_one_line(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as stop:
        store.main(["--dir", str(tmp_path), *argv])
    assert stop.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("value, ok", [(None, True), ("new/nested/store", True), ("", False), ("a_file", False)])
def test_the_store_setting_is_null_or_a_folder_that_can_be(tmp_path, monkeypatch, value, ok):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file").write_text("not a folder")
    cfg = cfg_with(training__feature_store=value)
    if ok:
        config.validate(cfg)
    else:
        with pytest.raises(ConfigError, match="training.feature_store=.* is not allowed: null .no store. or a folder"):
            config.validate(cfg)


def test_the_test_set_from_stored_features_is_predicted_as_the_whole_model_predicts_it(tmp_path):
    from finetune_lab import data, model as models

    cfg = cfg_with(model__freeze="all", data__input_size=32, model__head__units=[8],
                   training__feature_store=str(tmp_path))
    model, weights = models.build(cfg)
    base = model.get_layer("vgg16")
    digit_input = data.digit_input(cfg.data)
    feature_store, key_fields, _ = cache.store_for(cfg, base.layers[-1].name, weights)
    digits = np.random.default_rng(1).integers(0, 256, (20, 28, 28), dtype=np.uint8)
    for expected in ("computed", "hit"):
        outputs, report = cache.base_outputs(data.on_digits(base, digit_input), {"test": digits}, 8, feature_store,
                                             key_fields)
        assert report["test"]["status"] == expected
    head = cache.head_model(model, "vgg16")
    whole = data.on_digits(model, digit_input).predict(digits, batch_size=8, verbose=0)
    assert np.allclose(cache.predict(head, outputs["test"], 8), whole, atol=1e-5)


def _frozen_run(compose, run_dir, *overrides):
    from finetune_lab import runner

    metrics = runner.run(compose(*FROZEN_RUN, *overrides), str(run_dir))
    assert metrics["status"] == "completed"
    return metrics


@pytest.mark.e2e
def test_runs_read_the_stored_outputs_in_the_same_process_and_in_a_new_one(compose, tmp_path, monkeypatch, caplog):
    folder = tmp_path / "store"
    base_calls = []
    features = cache.features
    monkeypatch.setattr(cache, "features", lambda *a: base_calls.append(1) or features(*a))
    first = _frozen_run(compose, tmp_path / "first", f"training.feature_store={folder}")
    assert len(base_calls) == 3 and {s["status"] for s in first["feature_cache"]["sets"].values()} == {"computed"}
    with caplog.at_level(logging.INFO, logger="finetune_lab.runner"):
        second = _frozen_run(compose, tmp_path / "second", f"training.feature_store={folder}")
    assert len(base_calls) == 3  # the base was not called again
    sets = second["feature_cache"]["sets"]
    assert list(sets) == ["train", "val", "test"] and {s["status"] for s in sets.values()} == {"hit"}
    assert {k: s["key"] for k, s in sets.items()} == {k: s["key"] for k, s in first["feature_cache"]["sets"].items()}
    assert (f"frozen base outputs: train hit ({sets['train']['key']}, " in caplog.text
            and f"; store {folder}" in caplog.text)
    assert second["test"] == first["test"] and second["train_eval"] == first["train_eval"]

    cwd = tmp_path / "cli"
    cwd.mkdir()
    assert run_cli([*FROZEN_RUN, f"training.feature_store={folder}"], cwd).returncode == 0
    (run,) = (cwd / "outputs" / "runs").iterdir()
    third = json.loads((run / "metrics.json").read_text())
    assert {s["status"] for s in third["feature_cache"]["sets"].values()} == {"hit"}
    assert third["test"]["accuracy"] == first["test"]["accuracy"]


def test_without_a_store_the_run_is_as_before_and_predicts_the_test_set_alike(compose, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where the default store would be made
    off = _frozen_run(compose, tmp_path / "off", "training.feature_store=null")
    cache_info = off["feature_cache"]
    assert cache_info["store"] is None and "training.feature_store=null" in cache_info["store_off"]
    assert cache_info["sets"].keys() == {"train", "val"}  # the whole model predicts the test set
    assert all(s == {"status": "computed", "key": None, "seconds": s["seconds"]} for s in cache_info["sets"].values())
    assert not (tmp_path / "outputs" / "feature_store").exists()
    on = _frozen_run(compose, tmp_path / "on", f"training.feature_store={tmp_path / 'store'}")
    assert on["feature_cache"]["sets"]["test"]["status"] == "computed"
    off_rows, on_rows = (np.genfromtxt(tmp_path / name / "predictions.csv", delimiter=",", names=True)
                         for name in ("off", "on"))
    assert np.array_equal(off_rows["predicted"], on_rows["predicted"])
    assert np.allclose(off_rows["confidence"], on_rows["confidence"], atol=1e-4)
