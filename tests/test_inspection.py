"""finetune-lab-predict and finetune-lab-features (the study's E1 and E2): a tiny trained run's model on image
files, HED feature maps and filters, another base from a weights file, the ImageNet paths with the download cut
off, and every bad input."""
import argparse
import json
import os

import numpy as np
import pytest

from conftest import QUICK, run_in_process
from finetune_lab import feature_grids, images, plots, predict
from finetune_lab.errors import UserError

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def save_png(path, array):
    from skimage import io

    io.imsave(path, np.asarray(array, np.uint8), check_contrast=False)
    return str(path)


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    """A 28x28 gray digit-like file, a 40x50 colour photo-like file, and a file that is not an image."""
    folder = tmp_path_factory.mktemp("pictures")
    rng = np.random.default_rng(0)
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255
    (folder / "notes.png").write_text("not an image")
    return {"digit": save_png(folder / "seven.png", digit), "digit_array": digit,
            "photo": save_png(folder / "photo.png", rng.integers(0, 256, (40, 50, 3))),
            "broken": str(folder / "notes.png")}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A real tiny run (32x32, 1 epoch, random-init base) that saved its model.keras: trained in this process,
    its config saved where Hydra saves it (a fresh process would add ~10 s of TensorFlow start-up)."""
    folder = tmp_path_factory.mktemp("inspection") / "run"
    assert run_in_process(folder, *QUICK, "output.save_model=true", "model.weights=null")["status"] == "completed"
    return str(folder)


def fails(main, argv, capsys) -> str:
    """Run an entry point that must stop on bad input: exit code 2 and one error line, no traceback."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if ": error: " in line]
    assert len(lines) == 1, err
    return lines[0]


# ----- pure parts -----

def test_filter_mosaic_is_a_square_grid_of_patches_each_scaled_to_0_1(tmp_path):
    kernel = np.random.default_rng(0).normal(size=(3, 3, 3, 10))
    mosaic = plots.filter_patches(kernel, str(tmp_path / "f.png"), zoom=4)
    side = 4  # ceil(sqrt(10))
    assert mosaic.shape == (1 + side * (3 * 4 + 1), 1 + side * (3 * 4 + 1), 3)
    from skimage import io

    assert io.imread(tmp_path / "f.png").shape[:2] == mosaic.shape[:2]
    for i in range(10):
        row, col = divmod(i, side)
        tile = mosaic[1 + row * 13:1 + row * 13 + 12, 1 + col * 13:1 + col * 13 + 12]
        assert tile.min() == 0.0 and tile.max() == 1.0
        np.testing.assert_allclose(tile[::4, ::4], (kernel[..., i] - kernel[..., i].min()) / np.ptp(kernel[..., i]),
                                   rtol=1e-6)
    gray = plots.filter_mosaic(np.ones((5, 5, 1, 100)), max_filters=64, zoom=1)
    assert gray.shape == (1 + 8 * 6, 1 + 8 * 6, 3)  # capped at 64 filters; a constant filter is mid-gray
    assert gray[1, 1].tolist() == [0.5, 0.5, 0.5]


def test_feature_mosaic_is_a_square_grid_of_channels_each_scaled_to_0_1_with_blank_lines():
    maps = np.random.default_rng(0).normal(size=(4, 4, 70)) * np.arange(1, 71)  # channels of different ranges
    maps[..., 1] = 3.0  # a constant channel (a dead ReLU's, say)
    mosaic = plots.feature_mosaic(maps, max_channels=64)
    tile, gap, side = 16, 2, 8  # 4x4 enlarged 4 times to 16 pixels; 64 channels, 8 a side
    assert mosaic.shape == (gap + side * (tile + gap),) * 2
    for i in (0, 1, 9, 63):
        row, col = divmod(i, side)
        cell = mosaic[gap + row * (tile + gap):(row + 1) * (tile + gap), gap + col * (tile + gap):(col + 1) * (tile + gap)]
        expected = 0.0 if i == 1 else (maps[..., i] - maps[..., i].min()) / np.ptp(maps[..., i])
        np.testing.assert_allclose(cell[::4, ::4], expected, rtol=1e-6)
    assert np.isnan(mosaic[:gap]).all() and np.isnan(mosaic[:, tile + gap:tile + 2 * gap]).all()
    assert not np.isnan(mosaic[gap:gap + tile, gap:gap + tile]).any()


def test_top_classes_are_k_long_most_probable_first_and_named_when_names_exist():
    probs = keras.ops.convert_to_numpy(keras.ops.softmax(np.random.default_rng(1).normal(size=(4, 12)), axis=-1))
    rows = predict.top_classes(probs, 5, [f"n{i}" for i in range(12)])
    for p, row in zip(probs, rows):
        assert len(row) == 5 and len({t["class"] for t in row}) == 5
        assert [t["probability"] for t in row] == sorted((t["probability"] for t in row), reverse=True)
        assert row[0]["class"] == int(np.argmax(p)) and row[0]["name"] == f"n{row[0]['class']}"
    assert "name" not in predict.top_classes(probs, 1)[0][0]


def test_read_image_names_the_bad_file_and_turns_gray_into_equal_channels(pictures, tmp_path):
    for path, words in ((str(tmp_path / "missing.png"), "no such file"), (str(tmp_path), "not a file"),
                        (pictures["broken"], "could not be read as an image")):
        with pytest.raises(UserError) as err:
            images.read_image(path)
        assert path in str(err.value) and words in str(err.value) and ".png" in str(err.value)
    digit = images.read_image(pictures["digit"])
    assert digit.shape == (28, 28, 3) and digit.dtype == np.float32 and images.is_gray(digit)
    assert not images.is_gray(images.read_image(pictures["photo"]))


def test_a_file_becomes_the_form_of_the_runs_own_images_a_digit_file_exactly_a_digit(pictures):
    digit, photo = images.read_image(pictures["digit"]), images.read_image(pictures["photo"])
    for shape in ((28, 28), (28, 28, 3)):
        raw = images.as_raw(digit, shape)
        assert raw.dtype == np.uint8 and raw.shape == shape
        np.testing.assert_array_equal(raw if len(shape) == 2 else raw[..., 1], pictures["digit_array"])
    gray = images.as_raw(photo, (28, 28))  # a colour file for a gray run: its luminance, resized
    assert gray.shape == (28, 28) and gray.dtype == np.uint8
    luminance = images.scale((photo @ np.asarray(images.LUMINANCE, np.float32))[..., None], 28, 28)[..., 0]
    assert np.abs(gray.astype(np.float32) - luminance).max() <= 0.5
    colour = images.as_raw(photo, (32, 32, 3))
    assert colour.shape == (32, 32, 3) and not images.is_gray(colour.astype(np.float32))


@pytest.mark.parametrize("placement", ["center", "center_crop", "resize"])
def test_a_folder_runs_file_is_placed_as_its_own_images_were(pictures, placement):
    """A folder run's images were placed on the host by data.placement (datasets.fit), not stretched."""
    from omegaconf import OmegaConf

    from finetune_lab import datasets, inspection

    photo = images.read_image(pictures["photo"])
    run = inspection.Run(folder="r", model_file="r/model.keras", cfg=OmegaConf.create(
        {"data": {"source": "folder", "placement": placement}}))
    model = argparse.Namespace(input_shape=(None, 16, 16, 3))
    (x,) = inspection.run_images(run, model, [photo])
    expected = datasets.fit(np.clip(np.rint(photo), 0, 255).astype(np.uint8), 16, placement)
    assert x.dtype == np.uint8 and x.shape == (16, 16, 3)
    np.testing.assert_array_equal(x, expected)


# ----- E1 with a trained run -----

def test_a_runs_model_keras_alone_predicts_its_recorded_test_predictions_from_raw_digits(run_dir):
    """model.keras carries the run's input path: plain keras.models.load_model on the run's uint8 test digits gives
    predictions.csv and metrics.json's test accuracy, with nothing rebuilt from the config."""
    import csv

    from finetune_lab import config, data, sources

    cfg = config.from_saved(os.path.join(run_dir, ".hydra", "config.yaml"))
    x_test = data.split_from_config(sources.load_images(cfg.data), cfg.data).x_test
    model = keras.models.load_model(os.path.join(run_dir, "model.keras"))  # data imported: DigitInput registered
    assert model.input_shape == (None, 28, 28) and isinstance(data.parts(model)[0], data.DigitInput)
    predicted = model.predict(x_test, verbose=0).argmax(axis=1)
    with open(os.path.join(run_dir, "predictions.csv")) as f:
        rows = list(csv.DictReader(f))
    assert predicted.tolist() == [int(r["predicted"]) for r in rows]
    with open(os.path.join(run_dir, "metrics.json")) as f:
        accuracy = json.load(f)["test"]["accuracy"]
    assert np.mean(predicted == [int(r["label"]) for r in rows]) == pytest.approx(accuracy)


def test_predictions_from_a_run_are_its_model_on_the_file_as_one_of_its_digits(run_dir, pictures, capsys):
    notes, rows = predict.predict(argparse.Namespace(images=[pictures["digit"], pictures["photo"]], run=run_dir,
                                                        top=4, base=None))
    model = keras.models.load_model(os.path.join(run_dir, "model.keras"), compile=False)
    probs = model.predict(pictures["digit_array"][None], verbose=0)[0]
    assert [t["class"] for t in rows[0]] == list(np.argsort(-probs, kind="stable")[:4])
    np.testing.assert_allclose([t["probability"] for t in rows[0]], np.sort(probs)[::-1][:4], rtol=1e-5)
    assert len(rows[1]) == 4 and "model.keras" in notes[0]

    predict.predict_main([pictures["digit"], "--run", run_dir, "--top", "2"])
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[1].startswith(f"{pictures['digit']}: 1. class ") and " 2. class " in out[1]
    assert "--top 11" in fails(predict.predict_main, [pictures["digit"], "--run", run_dir, "--top", "11"], capsys)


def test_features_of_a_runs_base_and_a_failure_midway_leaves_no_folder(run_dir, pictures, tmp_path, capsys,
                                                                       monkeypatch):
    out = tmp_path / "maps"
    feature_grids.features_main([pictures["digit"], "--run", run_dir, "--layers", "block1_conv1", "--filters",
                              "--out", str(out)])
    record = json.loads((out / "features.json").read_text())
    assert record["weights"]["source"] == "run" and record["input"]["size"] == 32
    assert (out / "seven" / "block1_conv1.run.png").is_file() and (out / "filters.png").is_file()

    def broken(base):
        raise UserError("no conv layer")

    monkeypatch.setattr(feature_grids, "first_conv", broken)
    fails(feature_grids.features_main, [pictures["digit"], "--run", run_dir, "--filters", "--out",
                                     str(tmp_path / "half")], capsys)
    assert sorted(os.listdir(tmp_path)) == ["maps"]  # neither the folder nor its temporary twin


def test_a_model_keras_from_before_the_input_path_is_one_line_naming_it_and_what_to_do(run_dir, pictures, tmp_path,
                                                                                       capsys):
    """A model.keras saved without its DigitInput (the model on preprocessed inputs, as runs saved it before):
    predict, features and the trade-off each stop with one line naming the file and the rerun."""
    import shutil

    from finetune_lab import data, tradeoff

    old = tmp_path / "old_run"
    shutil.copytree(run_dir, old)
    data.parts(keras.models.load_model(old / "model.keras"))[1].save(old / "model.keras")
    for main, argv in ((predict.predict_main, [pictures["digit"], "--run", str(old)]),
                       (feature_grids.features_main, [pictures["digit"], "--run", str(old), "--out",
                                                      str(tmp_path / "maps")]),
                       (tradeoff.main, [str(old)])):
        line = fails(main, argv, capsys)
        assert f"{old / 'model.keras'} was saved by an older finetune-lab" in line, line
        assert "rerun the run" in line and str(old / ".hydra" / "overrides.yaml") in line
    assert not (tmp_path / "maps").exists()


# ----- E2 with HED weights (offline) -----

def test_hed_feature_maps_one_grid_per_layer_and_image_with_provenance(pictures, tmp_path, capsys):
    from finetune_lab import files, sources

    out = tmp_path / "hed"
    feature_grids.features_main([pictures["digit"], pictures["photo"], "--size", "32", "--layers",
                              "block1_conv1,block2_conv2,block3_pool", "--filters", "--out", str(out)])
    assert "weights: hed_bsds500" in capsys.readouterr().out
    for folder in ("seven", "photo"):
        assert sorted(os.listdir(out / folder)) == [f"{layer}.hed_bsds500.png" for layer in
                                                    ("block1_conv1", "block2_conv2", "block3_pool")]
    record = json.loads((out / "features.json").read_text())
    assert record["weights"]["sha256"] == files.sha256(sources.hed_weights_file())
    assert record["layers"] == ["block1_conv1", "block2_conv2", "block3_pool"] and len(record["images"]) == 2
    assert record["images"][0]["file"] == os.path.abspath(pictures["digit"])
    assert record["filters"]["kernel_shape"] == [3, 3, 3, 64] and record["filters"]["pixels"] == [249, 249]
    assert record["input"]["preprocess"] == "vgg16" and record["filters"]["channels"].startswith("flipped")


# ----- E2 with another base, from a weights file -----

def test_features_of_another_base_from_a_weights_file_draw_that_bases_stage_ends(pictures, tmp_path, capsys):
    from finetune_lab import catalog, files, model as models

    path = str(tmp_path / "small.weights.h5")
    models.build_base("mobilenet_v3_small", (32, 32, 3)).save_weights(path)
    out = tmp_path / "maps"
    feature_grids.features_main([pictures["photo"], "--base", "mobilenet_v3_small", "--weights", path, "--size", "32",
                              "--filters", "--out", str(out)])
    layers = catalog.feature_map_layers("mobilenet_v3_small")
    assert sorted(os.listdir(out / "photo")) == sorted(f"{layer}.small.png" for layer in layers)
    record = json.loads((out / "features.json").read_text())
    assert record["base"] == "mobilenet_v3_small" and record["layers"] == layers
    assert record["weights"] == {"source": "file", "file": path, "sha256": files.sha256(path)}
    assert record["input"] == {"size": 32, "preprocess": "mobilenet_v3"}
    assert record["filters"]["kernel_shape"] == [3, 3, 3, 16] and record["filters"]["channels"] == \
        "the kernel's input order"  # MobileNetV3 takes R, G, B


@pytest.mark.parametrize("mode,base,bgr", [("base", "vgg16", True), ("base", "resnet50", True), ("vgg16", None, True),
                                           ("base", "resnet50_v2", False), ("base", "mobilenet_v3_small", False),
                                           ("base", "convnext_tiny", False), ("unit", None, False)])
def test_caffe_style_preprocessing_is_the_one_that_feeds_b_g_r(mode, base, bgr):
    assert feature_grids.feeds_bgr(mode, base) is bgr


# ----- ImageNet paths without the download -----

@pytest.fixture
def offline(monkeypatch, tmp_path):
    """Keras' downloads fail as they do without internet; the Keras cache is an empty folder."""
    from keras.src.utils import file_utils  # what keras.applications download through

    def no_network(fname=None, origin=None, **kwargs):
        raise Exception(f"URL fetch failure on {origin}: None -- [Errno -2] Name or service not known")

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(keras.utils, "get_file", no_network)
    monkeypatch.setattr(file_utils, "get_file", no_network)
    return str(tmp_path / "keras" / "models")


def test_imagenet_without_the_weights_stops_with_one_line_saying_how_to_get_them(offline, pictures, tmp_path,
                                                                                  capsys):
    line = fails(predict.predict_main, [pictures["digit"], "--weights", "imagenet"], capsys)
    assert line.startswith("finetune-lab-predict: error: --weights imagenet: ")
    assert "vgg16_weights_tf_dim_ordering_tf_kernels.h5" in line and f"{offline}/" in line and "--run" in line
    line = fails(feature_grids.features_main, [pictures["digit"], "--weights", "imagenet", "--out",
                                            str(tmp_path / "maps")], capsys)
    assert "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5" in line and "hed_bsds500 works offline" in line
    assert not (tmp_path / "maps").exists()


@pytest.mark.parametrize("command", ["predict", "features"])
def test_imagenet_of_another_base_without_its_weights_says_how_to_get_them(command, offline, pictures, tmp_path,
                                                                           capsys):
    main = predict.predict_main if command == "predict" else feature_grids.features_main
    argv = [pictures["photo"], "--weights", "imagenet", "--base", "mobilenet_v3_small"]
    line = fails(main, argv + ([] if command == "predict" else ["--size", "32", "--out", str(tmp_path / "maps")]),
                 capsys)
    assert line.startswith(f"finetune-lab-{command}: error: --weights imagenet: Keras could not get the ImageNet "
                           "weights of mobilenet_v3_small (URL fetch failure")
    assert f"place the file in {offline}/" in line
    assert ("--run RUN_DIR" if command == "predict" else "hed_bsds500 works offline") in line
    assert not (tmp_path / "maps").exists()


def test_imagenet_classes_by_name_offline_with_one_note_saying_where_names_come_from(offline, monkeypatch,
                                                                                    pictures, tmp_path):
    from finetune_lab import original_task, sources

    weights = tmp_path / "top.h5"
    weights.write_bytes(b"stand-in")
    monkeypatch.setattr(sources, "imagenet_vgg16_file", lambda include_top=False, **kwargs: str(weights))
    inputs = keras.Input((224, 224, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    stand_in = keras.Model(inputs, keras.layers.Dense(1000, activation="softmax")(pooled))
    monkeypatch.setattr(original_task, "imagenet_classifier", lambda base, **kwargs: stand_in)
    args = argparse.Namespace(images=[pictures["photo"]], run=None, top=3, base=None)

    notes, rows = predict.predict(args)  # nothing in the Keras cache, no network
    assert len(notes) == 1 and "class names: the imagenet-classes package" in notes[0]
    table, _ = original_task.class_index_table()
    assert [t["name"] for t in rows[0]] == [table[t["class"]][1] for t in rows[0]]

    os.makedirs(offline)
    with open(os.path.join(offline, original_task.CLASS_INDEX_FILE), "w") as f:  # Keras' own file wins
        json.dump({str(i): [f"n{i:08d}", f"thing{i}"] for i in range(1000)}, f)
    notes, rows = predict.predict(args)
    assert len(notes) == 1 and f"class names: Keras' {offline}/{original_task.CLASS_INDEX_FILE}" in notes[0]
    assert [t["name"] for t in rows[0]] == [f"thing{t['class']}" for t in rows[0]]


def test_imagenet_classes_of_another_base_take_its_input_size_and_its_own_preprocessing(offline, monkeypatch,
                                                                                       pictures):
    from finetune_lab import files, original_task

    inputs = keras.Input((64, 64, 3))
    stand_in = keras.Model(inputs, keras.layers.Dense(1000, activation="softmax")(
        keras.layers.GlobalAveragePooling2D()(inputs)))
    asked, seen = [], []
    monkeypatch.setattr(original_task, "imagenet_classifier", lambda base, **kwargs: asked.append(base) or stand_in)
    monkeypatch.setattr(stand_in, "predict", lambda x, **kwargs: seen.append(x) or np.full((len(x), 1000), 1e-3))
    notes, rows = predict.predict(argparse.Namespace(images=[pictures["photo"]], run=None, top=2,
                                                        base="resnet50_v2"))
    assert asked == ["resnet50_v2"] and len(rows[0]) == 2
    assert notes[0].startswith("weights: imagenet of resnet50_v2 (keras.applications.ResNet50V2(weights='imagenet')")
    assert files.arrays_sha256(stand_in.get_weights())[:12] in notes[0]
    photo = images.resize([images.read_image(pictures["photo"])], 64)
    np.testing.assert_allclose(seen[0], keras.applications.resnet_v2.preprocess_input(photo), rtol=1e-6)
    assert seen[0].min() >= -1 and seen[0].max() <= 1  # ResNetV2 scales to -1..1, not VGG's mean subtraction


# ----- bad input -----

@pytest.mark.parametrize("command,argv,words", [
    ("predict", ["{missing}"], ["missing.png", "no such file", "allowed: image files"]),
    ("predict", ["{broken}", "--top", "1"], ["notes.png", "could not be read as an image"]),
    ("predict", ["{digit}", "--top", "0"], ["--top", "'0' is not allowed: an integer >= 1"]),
    ("predict", ["{digit}", "--run", "{tmp}"], ["no model.keras", "allowed: a finished run folder"]),
    ("features", ["{digit}", "--layers", "block1_conv1,fc1"], ["'fc1' is not a layer of the vgg16 base",
                                                               "block5_pool"]),
    ("features", ["{digit}", "--out", "{tmp}"], ["already exists"]),
    ("features", ["{digit}", "--weights", "vgg.h5"], ["--weights 'vgg.h5'", "imagenet, hed_bsds500"]),
    ("features", ["--out", "{tmp}/new"], ["no image file given", "--filters"]),
    ("features", ["{digit}", "--size", "16"], ["--size 16", "[32, 1024]"]),
    ("predict", ["{digit}", "--base", "vgg17"], ["--base", "'vgg17'", "vgg16", "mobilenet_v3_small", "convnext_tiny"]),
    ("features", ["{digit}", "--base", "scratch_cnn"], ["--base", "'scratch_cnn'", "vgg19", "resnet50"]),
    ("features", ["{digit}", "--base", "resnet50"], ["--weights hed_bsds500 with --base resnet50: not allowed",
                                                     "allowed: --weights hed_bsds500 with --base vgg16"]),
    ("predict", ["{digit}", "--run", "{tmp}", "--base", "vgg19"], ["--base vgg19: not allowed with --run"]),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(command, argv, words, pictures, tmp_path, capsys):
    main = predict.predict_main if command == "predict" else feature_grids.features_main
    names = {"missing": str(tmp_path / "missing.png"), "tmp": str(tmp_path), **pictures}
    before = sorted(os.listdir(tmp_path))
    line = fails(main, [a.format(**names) for a in argv], capsys)
    for word in words:
        assert word in line, line
    assert sorted(os.listdir(tmp_path)) == before
