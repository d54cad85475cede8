"""Any image data: a folder of class subfolders (streamed from disk, any size and format), Keras' own datasets by
name (offline: one line that says how to get them), colour images through the input layer."""
import gzip
import subprocess
import sys
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from keras import ops

from conftest import make_shapes
from finetune_lab import catalog, data, datasets, images, sources, store
from finetune_lab.config import validate
from finetune_lab.errors import ConfigError, UserError


def write(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)


def test_a_folder_has_its_class_names_and_a_fixed_stratified_test_part(shapes):
    a, b = (datasets.load_folder(str(shapes), 0.25, 32, "resize") for _ in range(2))
    assert a.class_names == ("circle", "square", "triangle")
    assert (len(a.y_pool), len(a.y_test)) == (27, 9) and np.array_equal(np.bincount(a.y_test), [3, 3, 3])
    assert list(a.x_test.paths) == list(b.x_test.paths) and np.array_equal(a.y_pool, b.y_pool)
    assert set(a.x_pool.paths).isdisjoint(a.x_test.paths)
    assert len(set(a.y_pool[:6])) > 1  # the pool is mixed, so a cutoff takes every class
    for path, label in zip(a.x_test.paths, a.y_test):
        assert f"/{a.class_names[label]}/" in path
    assert a.provenance["classes"] == ["circle", "square", "triangle"]


def test_train_and_test_subfolders_are_taken_as_they_are(tmp_path):
    folder = make_shapes(tmp_path / "split", "--per-class", "4", "--test-per-class", "2", "--classes", "2",
                         "--size", "16")
    images = datasets.load_folder(str(folder), 0.5, 16, "resize")
    assert (len(images.y_pool), len(images.y_test)) == (8, 4) and images.class_names == ("circle", "square")
    assert all("/test/" in p for p in images.x_test.paths) and all("/train/" in p for p in images.x_pool.paths)


def test_images_of_any_size_and_format_come_out_as_rgb_uint8_batches(tmp_path):
    gray = np.tile(np.arange(50, dtype=np.uint8) * 5, (30, 1))
    write(tmp_path / "a" / "gray.png", gray)
    write(tmp_path / "a" / "rgba.png", np.dstack([np.full((20, 20, 3), 90, np.uint8), np.zeros((20, 20), np.uint8)]))
    write(tmp_path / "a" / "photo.jpg", np.full((64, 48, 3), (10, 200, 30), np.uint8))
    write(tmp_path / "b" / "deep.tif", np.full((12, 12), 40000, np.uint16))
    write(tmp_path / "b" / "old.bmp", np.full((7, 9, 3), 255, np.uint8))
    images = datasets.load_folder(str(tmp_path), 0.5, 16, "resize")
    batch = np.concatenate([images.x_pool[:], images.x_test[:]])
    assert batch.shape == (5, 16, 16, 3) and batch.dtype == np.uint8
    paths = [*images.x_pool.paths, *images.x_test.paths]
    decoded = {p.split("/")[-1]: image for p, image in zip(paths, batch)}
    assert np.array_equal(decoded["gray.png"][..., 0], decoded["gray.png"][..., 2])  # gray: three equal channels
    assert decoded["deep.tif"].max() > 100 and decoded["photo.jpg"][..., 1].mean() > 150  # RGB order, 16-bit scaled
    assert np.all(decoded["rgba.png"] == 90)


def test_placement_on_the_host_resize_center_crop_and_center():
    image = np.zeros((20, 60, 3), np.uint8)
    image[:, 20:40] = 200  # the middle third bright, the sides dark
    crop = datasets.fit(image, 10, "center_crop")
    assert crop.shape == (10, 10, 3) and np.all(crop == 200)
    squashed = datasets.fit(image, 10, "resize")
    assert squashed.shape == (10, 10, 3) and squashed[:, 0].max() == 0 and squashed[:, 5].min() == 200
    fitted = datasets.fit(image, 30, "center")  # 20x60 -> 10x30, centred: black bands above and below
    assert fitted.shape == (30, 30, 3) and fitted[:10].max() == 0 and fitted[20:].max() == 0
    assert fitted[15, 15, 0] == 200


def test_the_host_resize_stays_close_to_scikit_images_and_does_not_alias():
    import skimage.data
    from skimage.transform import resize as sk_resize

    photo = skimage.data.astronaut().astype(np.float32)  # 512 x 512
    for size, mean_gap in ((224, 1.0), (1024, 0.05)):   # shrinking (area vs Gaussian prefilter), growing (bilinear)
        ours = images.scale(photo, size, size)
        theirs = sk_resize(photo, (size, size), order=1, preserve_range=True, anti_aliasing=True)
        assert ours.shape == (size, size, 3) and ours.dtype == np.float32
        assert np.abs(ours - theirs).mean() < mean_gap
        # the probe photos keep the method every recorded original-task number was computed with
        assert np.array_equal(images.resize([photo], size)[0], theirs.astype(np.float32))
    stripes = np.tile(np.array([0, 255], np.uint8), (60, 30))    # one-pixel stripes, 60 x 60
    shrunk = images.scale(stripes, 12, 12)   # five stripes to a pixel: 3 x 0 + 2 x 255 or 2 x 0 + 3 x 255
    assert shrunk.dtype == np.uint8 and set(np.unique(shrunk)) == {102, 153}   # bilinear alone gives 0 and 255
    one_channel = images.scale(np.zeros((20, 30, 1), np.float32), 10, 15)
    assert one_channel.shape == (10, 15, 1)
    assert images.scale(stripes, 60, 60) is stripes


def test_every_image_folder_is_listed_the_same_way(tmp_path):
    for name in ("b.png", "a.png", ".hidden.png"):
        write(tmp_path / "cats" / name, np.zeros((8, 8, 3), np.uint8))
    write(tmp_path / "dogs" / "a.png", np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "cats" / "sub").mkdir()
    (tmp_path / ".cache").mkdir()
    assert images.class_folders(str(tmp_path), "k") == ["cats", "dogs"]
    assert images.image_files(str(tmp_path / "cats"), "k") == ["a.png", "b.png"]
    classes, paths, labels = datasets.scan(str(tmp_path))
    assert classes == ["cats", "dogs"] and [p.split("/")[-1] for p in paths] == ["a.png", "b.png", "a.png"]
    assert images.read_folder(str(tmp_path / "cats"), "k")[0] == ["a.png", "b.png"]
    (tmp_path / "empty").mkdir()
    write(tmp_path / "empty" / ".only_hidden.png", np.zeros((8, 8, 3), np.uint8))
    for call in (lambda: images.image_files(str(tmp_path / "empty"), "some.key"),
                 lambda: images.read_folder(str(tmp_path / "empty"), "some.key")):
        with pytest.raises(UserError) as err:
            call()
        assert str(err.value).startswith(f"some.key: the folder {str(tmp_path / 'empty')!r} holds no image file")
    with pytest.raises(UserError, match=r"^some.key: no such folder '.*/gone'$"):
        images.class_folders(str(tmp_path / "gone"), "some.key")
    with pytest.raises(UserError, match=r"has 0 class subfolder\(s\) \(none\)"):
        images.class_folders(str(tmp_path / "dogs"), "some.key")


def test_center_crop_in_the_step_for_fixed_size_images():
    images = np.zeros((1, 20, 60, 1), np.float32)
    images[:, :, 20:40] = 200
    out = ops.convert_to_numpy(data.place(images, 10, "center_crop"))
    assert out.shape == (1, 10, 10, 1) and np.allclose(out, 200)


def test_colour_images_keep_their_colour_or_turn_gray_by_data_channels():
    rgb = np.array([[[[30.0, 60.0, 90.0]]]], np.float32)
    assert np.array_equal(ops.convert_to_numpy(data.to_channels(rgb, "replicate")), rgb)
    gray = float(np.dot([30.0, 60.0, 90.0], data.LUMINANCE))
    assert np.allclose(ops.convert_to_numpy(data.to_channels(rgb, "gray")), [[[[gray]]]])
    assert np.allclose(ops.convert_to_numpy(data.to_channels(rgb, "seed")), [[[[0.0, gray, 0.0]]]])


def test_the_input_layer_takes_colour_batches_and_the_base_preprocessing():
    x = np.random.default_rng(0).integers(0, 256, (2, 40, 30, 3)).astype(np.uint8)
    out = data.model_inputs(data.DigitInput(32, "resize", "replicate", "base", base="mobilenet_v2"), x)
    assert out.shape == (2, 32, 32, 3) and -1.0 <= out.min() and out.max() <= 1.0  # MobileNetV2: -1..1
    same = data.model_inputs(data.DigitInput(32, "resize", "replicate", "base", base="mobilenet_v3_small"), x)
    assert same.max() > 1.0  # MobileNetV3 rescales inside the model: 0..255 goes in


def test_the_split_and_the_batches_work_on_indices_and_decode_one_batch_at_a_time(shapes):
    images = datasets.load_folder(str(shapes), 0.25, 32, "resize")
    split = data.split(images, 1.0, validation_fraction=0.25, split_seed=3)
    assert all(isinstance(x, datasets.FileImages) for x in (split.x_train, split.x_val, split.x_test))
    assert split.counts() == {"train": 20, "val": 7, "test": 9}
    batch, labels = next(data.training_batches(split.x_train, split.y_train, 3, 8, seed=0, first_epoch=0, epochs=1))
    assert batch.shape == (8, 32, 32, 3) and batch.dtype == np.uint8 and labels.shape == (8, 3)
    fed = data.as_dataset(split.x_val, 4, data.one_hot(split.y_val, 3))
    assert isinstance(fed, data.Batches) and len(fed) == 2 and fed[1][0].shape == (3, 32, 32, 3)


def test_the_feature_store_names_a_folder_by_the_content_of_its_files(tmp_path):
    paths = [str(p) for p in sorted(make_shapes(tmp_path / "s", "--per-class", "3", "--classes", "2").rglob("*.png"))]
    first = store.digest(datasets.FileImages(paths, 16, "resize"))
    assert first == store.digest(datasets.FileImages(list(paths), 16, "resize"))
    assert first != store.digest(datasets.FileImages(paths, 24, "resize"))
    write(tmp_path / "s" / "circle" / "0000.png", np.zeros((16, 16, 3), np.uint8))
    assert store.digest(datasets.FileImages(paths, 16, "resize"))["sha256"] != first["sha256"]


def bad_folder(tmp_path, case):
    root = tmp_path / "bad"
    good = np.zeros((8, 8, 3), np.uint8)
    if case == "missing":
        return root, "no such folder"
    if case == "one class":
        write(root / "only" / "a.png", good)
        return root, "1 class subfolder(s) (only)"
    write(root / "cats" / "a.png", good)
    write(root / "cats" / "b.png", good)
    if case == "empty class":
        (root / "dogs").mkdir()
        return root, f"the folder {str(root / 'dogs')!r} holds no image file"
    if case == "not an image":
        (root / "dogs").mkdir()
        (root / "dogs" / "notes.png").write_text("not a picture")
        return root, "dogs/notes.png is not an image file"
    if case == "too few for a test part":
        write(root / "dogs" / "a.png", good)
        return root, "without a training or a test image"
    write(root / "train" / "cats" / "a.png", good)
    write(root / "train" / "dogs" / "a.png", good)
    write(root / "test" / "cats" / "a.png", good)
    write(root / "test" / "birds" / "a.png", good)
    return root, "train/ and test/ hold different classes"


@pytest.mark.parametrize("case", ["missing", "one class", "empty class", "not an image", "too few for a test part",
                                  "train/test differ"])
def test_a_bad_folder_is_one_clear_line(tmp_path, case):
    root, expected = bad_folder(tmp_path, case)
    with pytest.raises(UserError) as err:
        datasets.load_folder(str(root), 0.5, 8, "resize")
    assert expected in str(err.value) and "data.path" in str(err.value) and "\n" not in str(err.value)


def test_a_file_that_breaks_when_its_batch_is_decoded_is_named(tmp_path):
    write(tmp_path / "a" / "fine.png", np.zeros((8, 8, 3), np.uint8))
    broken = tmp_path / "a" / "cut.png"
    write(broken, np.zeros((64, 64, 3), np.uint8))
    broken.write_bytes(broken.read_bytes()[:40])  # a PNG header, no image
    with pytest.raises(UserError, match="cut.png could not be read as an image"):
        datasets.FileImages([str(broken)], 8, "resize")[:]


def test_a_folder_source_needs_an_existing_folder_and_a_folder_placement(compose, shapes):
    with pytest.raises(ConfigError) as err:
        validate(compose("data.source=folder"))
    assert err.value.key == "data.path"
    with pytest.raises(ConfigError) as err:
        validate(compose("data=folder", f"data.path={shapes}", "data.placement=seed"))
    assert err.value.key == "data.placement"
    validate(compose("data=folder", f"data.path={shapes}", "model.output_units=null"))


@pytest.mark.parametrize("name", ["fashion_mnist", "cifar10", "cifar100"])
def test_a_keras_dataset_offline_says_how_to_get_it(monkeypatch, tmp_path, name):
    import keras

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://example.invalid: Name or service not known")

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(getattr(keras.datasets, name), "load_data", offline)
    with pytest.raises(UserError) as err:
        sources.load_images(SimpleNamespace(source=name))
    message = str(err.value)
    assert message.startswith(f"data.source={name!r}: Keras could not load it (URL fetch failure")
    assert str(tmp_path / "datasets" / catalog.DATASETS[name].cache) in message and "mnist_embedded" in message


def test_a_keras_dataset_with_other_shapes_is_refused(monkeypatch):
    import keras

    small = np.zeros((3, 30, 30, 3), np.uint8), np.zeros((3, 1), np.uint8)
    monkeypatch.setattr(keras.datasets.cifar10, "load_data", lambda: (small, small))
    with pytest.raises(UserError, match=r"shape \(30, 30, 3\), expected \(32, 32, 3\)"):
        sources.load_images(SimpleNamespace(source="cifar10"))


def idx_file(path, array, magic):
    header = magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.mark.e2e
def test_a_keras_dataset_loads_from_the_keras_cache(tmp_path):
    """Fashion-MNIST's four files placed in a fresh $KERAS_HOME (Keras reads it once, at import: a fresh process)
    are what data.source=fashion_mnist loads, with its class names."""
    folder = tmp_path / "keras" / "datasets" / "fashion-mnist"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    idx_file(folder / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (5, 28, 28)), 2051)
    idx_file(folder / "train-labels-idx1-ubyte.gz", np.array([0, 1, 2, 3, 9]), 2049)
    idx_file(folder / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (3, 28, 28)), 2051)
    idx_file(folder / "t10k-labels-idx1-ubyte.gz", np.array([9, 8, 7]), 2049)
    code = ("from types import SimpleNamespace as N; from finetune_lab import sources; "
            "d = sources.load_images(N(source='fashion_mnist')); "
            "print(d.x_pool.shape, d.x_test.shape, d.y_test.tolist(), d.class_names[9], d.provenance['loader'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**__import__("os").environ, "KERAS_HOME": str(tmp_path / "keras")})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == ("(5, 28, 28) (3, 28, 28) [9, 8, 7] ankle_boot "
                                                   "keras.datasets.fashion_mnist.load_data")
