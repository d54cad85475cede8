"""The study's E1 and E2 without training: a pretrained or trained network looks at image files.

- `finetune-lab-predict IMAGE... [--weights imagenet [--base NAME] | --run RUN_DIR] [--top K]`: the top-k
  classes of Keras' `--base` (default vgg16, any Keras Applications base of catalog.BASES) with its ImageNet
  top, or of a run's model.keras, for each image (E1).
- `finetune-lab-features [IMAGE...] [--weights hed_bsds500|imagenet|FILE [--base NAME] | --run RUN_DIR]
  [--layers A,B] [--filters] [--out DIR] [--size N]`: feature-map grids of named layers of the base (by default
  the base's own feature-map layers: the study's 7 for vgg16, the end of each stage for the others) for each
  image, and with `--filters` the first conv layer's filters as RGB patches (E2). Writes features.json
  (weights, sha256, images, layers) next to the pictures. hed_bsds500 holds VGG16's conv layers: vgg16 only.

Model input: with named weights or a weights file, an image is resized to the base's ImageNet input (224;
features: --size) and goes through the base's own preprocess_input (vgg16's for vgg16); a gray file has its gray
copied to R, G and B. With --run, the run's data config decides (see run_input). Everything the user named is
checked before any model is built, except a non-VGG16 base's ImageNet weights, which Keras finds as it builds
the base (the same one-line error: how to get them); features go to a temporary folder that becomes --out only
once complete, so a failed command leaves no folder behind.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass

import numpy as np
from omegaconf import DictConfig

from . import catalog, files, images
from .errors import UserError, fail
from .rundir import load_run_config

DEFAULT_SIZE = 224  # the ImageNet top's fixed input; the study drew its feature maps at this size too
MAX_SIZE = 1024
BATCH = 8
DEFAULT_BASE = "vgg16"
RUN_DECIDES = {"base": "model.base", "size": "data.input_size"}  # options a run's own config answers
PREDICT_OFFLINE = "offline, --run RUN_DIR predicts with a trained run's model"
FEATURES_OFFLINE = "--base vgg16 --weights hed_bsds500 works offline"


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed: an integer >= 1")
    return value


def add_base_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base", choices=catalog.KERAS_BASES, metavar="NAME",
                        help=f"the Keras Applications base for --weights (default {DEFAULT_BASE}; not with --run): "
                             + ", ".join(catalog.KERAS_BASES))


# ----- checks (no TensorFlow) -----

@dataclass
class Run:
    folder: str
    model_file: str
    cfg: DictConfig  # the run's saved config, checked


def open_run(run_dir: str) -> Run:
    """A finished run folder: its saved config (checked) and its model.keras."""
    allowed = "a finished run folder that holds .hydra/config.yaml and model.keras"
    if not os.path.isdir(run_dir):
        raise UserError(f"--run {run_dir!r}: no such folder; allowed: {allowed}")
    model_file = os.path.join(run_dir, "model.keras")
    if not os.path.isfile(model_file):
        raise UserError(f"--run {run_dir!r}: no model.keras (the run did not finish, or ran with "
                        f"output.save_model=false); allowed: {allowed}")
    try:
        cfg = load_run_config(run_dir)
    except UserError as exc:
        raise UserError(f"--run {run_dir!r}: {exc}") from None
    return Run(run_dir, model_file, cfg)


def read_images(paths: list[str]) -> list[np.ndarray]:
    return [images.read_image(p) for p in paths]


def check_without_run(args: argparse.Namespace) -> None:
    """With --run, the options the run's own config answers (RUN_DECIDES) are not allowed."""
    for option, key in RUN_DECIDES.items():
        value = getattr(args, option, None)
        if value is not None:
            raise UserError(f"--{option} {value}: not allowed with --run (the run's model takes its own {key})")


def start_backend() -> None:
    """Default devices for named weights (a run starts its own): the backend of $KERAS_BACKEND (default
    tensorflow), quiet, GPU memory growth."""
    from . import backend
    from .config import DeviceConfig

    backend.start(DeviceConfig(backend=os.environ.get("KERAS_BACKEND", "tensorflow")))


def check_layers(text: str | None, base: str, default: list[str]) -> list[str]:
    """`--layers a,b` as a list of layer names of `base` (the default when not given); checked here when the
    base's layer names are known without building it (catalog.BASES), else when it is built."""
    names = [n.strip() for n in text.split(",") if n.strip()] if text is not None else list(default)
    allowed = catalog.BASES[base].layers or ()
    if not names:
        raise UserError(f"--layers {text!r}: no layer named; allowed: comma-separated names from {', '.join(allowed)}")
    for name in names:
        if allowed and name not in allowed:
            raise UserError(f"--layers: {name!r} is not a layer of the {base} base; allowed: {', '.join(allowed)}")
    return names


def check_weights(weights: str, base: str) -> None:
    """The weights --weights names for `base` are at hand, or a UserError that says how to get them (a non-VGG16
    base's ImageNet weights are found when Keras builds the base: model.load_weights)."""
    from . import sources

    if weights == "imagenet":
        if base == "vgg16":
            sources.imagenet_vgg16_file(key="--weights imagenet", hint=FEATURES_OFFLINE)
        return
    if weights == "hed_bsds500":
        if base != "vgg16":
            raise UserError(f"--weights hed_bsds500 with --base {base}: not allowed: HED's weights are VGG16's conv "
                            "layers; allowed: --weights hed_bsds500 with --base vgg16, or --weights imagenet or a "
                            "weights file with any base")
        sources.hed_weights_file()
        return
    from .config import is_weights_path

    if not is_weights_path(weights):
        raise UserError(f"--weights {weights!r}: not allowed: one of {', '.join(catalog.NAMED_WEIGHTS)}, or an "
                        f"existing {' / '.join(catalog.WEIGHT_FILE_SUFFIXES)} file saved from a {base} base "
                        "(include_top=False)")


# ----- model input -----

def base_inputs(photos: list[np.ndarray], base: str, size: int) -> np.ndarray:
    """RGB 0..255 images of any size -> `base`'s input at size x size (resized, then the base's own
    preprocess_input)."""
    from .original_task import base_input

    return base_input(base)(images.resize(photos, size))


def feeds_bgr(mode: str, base: str | None) -> bool:
    """Whether data.preprocess `mode` (for `base`) hands the model B, G, R (caffe style: VGG, ResNet): pure red
    comes out strongest in the last channel."""
    from . import data

    red_and_black = np.asarray([[[[255, 0, 0]]], [[[0, 0, 0]]]], np.float32)
    red, black = np.asarray(data.preprocess(red_and_black, mode, base))[:, 0, 0]
    return int(np.argmax(red - black)) == 2


def run_input(data_cfg, photo: np.ndarray, base: str | None = None) -> np.ndarray:
    """One RGB 0..255 image as the run's model input (data_cfg: the run's `data` config; base: its model.base,
    whose preprocessing data.preprocess=base applies).

    A gray image (a digit) goes the run's own way: a 28x28 one is placed exactly as in training
    (data.placement), any other size is resized to data.input_size; then the run's channel rule (seed,
    replicate, gray) and preprocessing. A 28x28 gray file of a digit thus becomes the input the run's test
    digits became. A colour image is resized and keeps its three channels (a 1-channel model gets its
    luminance): the run never saw colour, so this is the least-altered input, not a like-for-like one."""
    from . import data

    gray = images.is_gray(photo)
    x = photo[..., :1] if gray else photo
    if x.shape[:2] == (catalog.DIGIT_SIZE, catalog.DIGIT_SIZE):
        x = np.asarray(data.place(x[np.newaxis], data_cfg.input_size, data_cfg.placement))[0]
    else:
        x = images.resize([x], data_cfg.input_size)[0]
    if gray:
        x = np.asarray(data.to_channels(np.asarray(x, np.float32), data_cfg.channels))
    elif data_cfg.channels == "gray":
        x = (x @ np.asarray(data.LUMINANCE, np.float32))[..., np.newaxis]
    return np.asarray(data.preprocess(np.asarray(x, np.float32), data_cfg.preprocess, base))


def load_run_model(run: Run):
    import keras

    try:
        return keras.models.load_model(run.model_file, compile=False)
    except Exception as exc:  # noqa: BLE001 - a corrupt or foreign file: one line for the user
        from .sources import first_line

        raise UserError(f"--run {run.folder!r}: could not load {run.model_file} ({type(exc).__name__}: "
                        f"{first_line(exc)}); "
                        "allowed: a model.keras saved by finetune-lab") from None


# ----- E1: predict -----

def top_classes(probs: np.ndarray, k: int, names: list[str] | None = None) -> list[list[dict]]:
    """Per row of `probs`: the k most probable classes, most probable first, as {class, [name], probability}."""
    from .forgetting import top_k

    return [[{"class": int(c), **({"name": names[c]} if names else {}), "probability": float(p[c])} for c in top]
            for p, top in zip(probs, top_k(probs, k))]


def format_row(path: str, top: list[dict]) -> str:
    shown = [f"{t['name']} ({t['class']}) {t['probability']:.4f}" if "name" in t
             else f"class {t['class']} {t['probability']:.4f}" for t in top]
    return f"{path}: " + "  ".join(f"{i}. {s}" for i, s in enumerate(shown, start=1))


def imagenet_top(base: str):
    """(Keras' `base` with its ImageNet top, where its weights came from in words): from the Keras cache or a
    download, else a UserError that says how to get them."""
    from . import original_task, sources

    model = original_task.imagenet_classifier(base, key="--weights imagenet", hint=PREDICT_OFFLINE)
    if base == "vgg16":
        path = sources.imagenet_vgg16_file(include_top=True)  # in the Keras cache by now
        return model, f"{path}, sha256 {files.sha256(path)[:12]}"
    return model, (f"keras.applications.{catalog.BASES[base].constructor}(weights='imagenet'), weight arrays "
                   f"sha256 {files.arrays_sha256(model.get_weights())[:12]}")


def predict(args: argparse.Namespace) -> tuple[list[str], list[list[dict]]]:
    """(notes on what was used, the top-k classes of each image) for finetune-lab-predict's arguments."""
    photos = read_images(args.images)
    if args.run:
        check_without_run(args)
        run = open_run(args.run)
        model = load_run_model(run)
        x = np.stack([run_input(run.cfg.data, p, run.cfg.model.base) for p in photos])
        names, lines = None, [f"model: {run.model_file} (sha256 {files.sha256(run.model_file)[:12]}); classes "
                                  "are the run's labels (0-9: digits)"]
    else:
        from . import original_task

        base = args.base or DEFAULT_BASE
        start_backend()
        model, source = imagenet_top(base)
        x = base_inputs(photos, base, int(model.input_shape[1]))
        table, origin = original_task.class_index_table()
        names = [name for _, name in table]
        lines = [f"weights: imagenet of {base} ({source}); class names: {origin}"]
    units = int(model.output_shape[-1])
    if args.top > units:
        raise UserError(f"--top {args.top}: not allowed: the model has {units} outputs; allowed: 1..{units}")
    probs = np.asarray(model.predict(x, batch_size=BATCH, verbose=0))
    return lines, top_classes(probs, args.top, names)


def predict_main(argv: list[str] | None = None) -> None:
    """`finetune-lab-predict IMAGE... [--weights imagenet [--base NAME] | --run RUN_DIR] [--top K]`: top-k
    classes per image."""
    parser = argparse.ArgumentParser(prog="finetune-lab-predict", description=predict_main.__doc__)
    parser.add_argument("images", nargs="+", help="image files (gray, RGB or RGBA)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--weights", choices=["imagenet"], default="imagenet",
                       help="Keras' --base with its ImageNet top at its default input, 224x224 (default; Keras "
                            "cache or internet)")
    which.add_argument("--run", metavar="RUN_DIR", help="a finished run's model.keras, with the run's own input")
    add_base_option(parser)
    parser.add_argument("--top", type=_positive, default=3, help="classes shown per image (default 3)")
    args = parser.parse_args(argv)
    try:
        notes, rows = predict(args)
    except UserError as exc:
        fail(parser.prog, str(exc))
    print("\n".join(notes + [format_row(p, top) for p, top in zip(args.images, rows)]))


# ----- E2: feature maps and filters -----

@dataclass
class FeaturesPlan:
    """Everything finetune-lab-features was asked for, checked."""

    photos: list[np.ndarray]
    layers: list[str]
    out: str
    base: str
    size: int
    weights: str | None = None  # imagenet, hed_bsds500 or a file; None with a run
    run: Run | None = None


def plan_features(args: argparse.Namespace) -> FeaturesPlan:
    if not args.images and not args.filters:
        raise UserError("no image file given; allowed: one or more image files, or --filters alone")
    photos = read_images(args.images)
    if args.run:
        check_without_run(args)
        run = open_run(args.run)
        base, size, weights = run.cfg.model.base, run.cfg.data.input_size, None
        default = list(run.cfg.analysis.feature_maps.layers)
    else:
        run, base = None, args.base or DEFAULT_BASE
        default = catalog.feature_map_layers(base)
        size, low = DEFAULT_SIZE if args.size is None else args.size, catalog.BASES[base].min_input
        if not low <= size <= MAX_SIZE:
            raise UserError(f"--size {size}: not allowed for the {base} base: an integer in [{low}, {MAX_SIZE}]")
        weights = args.weights
    layers = check_layers(args.layers, base, default or catalog.BASES[base].layers)
    if run is None:
        start_backend()
        check_weights(weights, base)
    out = args.out or os.path.join("outputs", "features", time.strftime("%Y-%m-%d_%H-%M-%S"))
    if os.path.exists(out):
        raise UserError(f"--out {out!r} already exists; allowed: a folder that does not exist yet")
    return FeaturesPlan(photos, layers, out, base, size, weights, run)


def _folder_names(paths: list[str]) -> list[str]:
    """One output folder per image, named after the file (a number added when two files share a name)."""
    names: list[str] = []
    for path in paths:
        stem = os.path.splitext(os.path.basename(path))[0] or "image"
        name, n = stem, 1
        while name in names:
            n += 1
            name = f"{stem}-{n}"
        names.append(name)
    return names


def first_conv(base):
    import keras

    return next(layer for layer in base.layers if isinstance(layer, keras.layers.Conv2D))


def write_features(plan: FeaturesPlan, paths: list[str], filters: bool, max_channels: int) -> dict:
    """Grids (and filters.png) into a temporary folder next to plan.out, renamed to plan.out at the end.
    Returns what features.json records."""
    from . import features, model as models, plots

    if plan.run is not None:
        base = load_run_model(plan.run).get_layer(plan.base)
        provenance = {"source": "run", "run": os.path.abspath(plan.run.folder), "file": plan.run.model_file,
                      "sha256": files.sha256(plan.run.model_file), "base_weights_before_training":
                      plan.run.cfg.model.weights}
        mode = preprocess = plan.run.cfg.data.preprocess
        tag = "run"
        inputs = [run_input(plan.run.cfg.data, p, plan.base) for p in plan.photos]
    else:
        base = models.build_base(plan.base, (plan.size, plan.size, 3))
        provenance = models.load_weights(base, plan.weights, key=f"--weights {plan.weights}", hint=FEATURES_OFFLINE)
        mode, preprocess = "base", catalog.BASES[plan.base].preprocessing
        tag = plan.weights if plan.weights in catalog.NAMED_WEIGHTS else os.path.basename(plan.weights).split(".")[0]
        inputs = list(base_inputs(plan.photos, plan.base, plan.size)) if plan.photos else []
    for name in plan.layers:  # the names the catalog could not check, now that the base is built
        models.output_of(base, name, "--layers")
    parent = os.path.dirname(os.path.abspath(plan.out))
    try:
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(dir=parent, prefix=".features-")
    except OSError as exc:
        raise UserError(f"--out {plan.out!r}: cannot create it ({exc.strerror}); allowed: a new folder in a "
                        "writable place") from None
    try:
        record = {"command": "finetune-lab-features", "weights": provenance, "base": plan.base,
                  "input": {"size": plan.size, "preprocess": preprocess}, "layers": plan.layers,
                  "max_channels": max_channels, "images": [], "filters": None}
        for path, folder, x in zip(paths, _folder_names(paths), inputs):
            features.save_grids(base, plan.layers, x, os.path.join(tmp, folder), tag, max_channels)
            record["images"].append({"file": os.path.abspath(path), "sha256": files.sha256(path),
                                     "grids": [f"{folder}/{layer}.{tag}.png" for layer in plan.layers]})
        if filters:
            conv = first_conv(base)
            kernel = np.asarray(conv.get_weights()[0])
            bgr = kernel.shape[2] == 3 and feeds_bgr(mode, plan.base)
            mosaic = plots.filter_patches(kernel[:, :, ::-1] if bgr else kernel, os.path.join(tmp, "filters.png"))
            record["filters"] = {"file": "filters.png", "layer": conv.name, "kernel_shape": list(kernel.shape),
                                 "shown": min(64, kernel.shape[-1]), "pixels": list(mosaic.shape[:2]),
                                 "channels": "flipped from the kernel's B, G, R input order to R, G, B" if bgr
                                 else "the kernel's input order", "scaling": "each filter to its own 0..1"}
        with open(os.path.join(tmp, "features.json"), "w") as f:
            json.dump(record, f, indent=2)
            f.write("\n")
        os.rename(tmp, plan.out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return record


def features_main(argv: list[str] | None = None) -> None:
    """`finetune-lab-features [IMAGE...] [--weights W [--base NAME] | --run RUN_DIR] [--layers A,B] [--filters]
    [--out DIR]`: feature-map grids of base layers for image files, and the first conv layer's filters."""
    parser = argparse.ArgumentParser(prog="finetune-lab-features", description=features_main.__doc__)
    parser.add_argument("images", nargs="*", help="image files (gray, RGB or RGBA); none with --filters alone")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--weights", default="hed_bsds500",
                       help="hed_bsds500 (default, offline: HED's VGG16 conv layers, --base vgg16 only), imagenet "
                            "(--base's ImageNet weights: Keras cache or internet), or a .weights.h5 / .h5 file "
                            "saved from the --base base (include_top=False)")
    which.add_argument("--run", metavar="RUN_DIR", help="the base of a finished run's model.keras, its own input")
    add_base_option(parser)
    parser.add_argument("--layers", help="comma-separated base layers (default: the study's 7 for vgg16, the end of "
                                         "each stage for the other bases, or the run's own)")
    parser.add_argument("--filters", action="store_true", help="also draw the first conv layer's filters (filters.png)")
    parser.add_argument("--out", help="a new folder for the pictures (default outputs/features/<time>)")
    parser.add_argument("--size", type=_positive, help=f"input size with --weights (default {DEFAULT_SIZE})")
    parser.add_argument("--max-channels", type=_positive, default=64, help="channels per grid (default 64)")
    args = parser.parse_args(argv)
    try:
        plan = plan_features(args)
        record = write_features(plan, args.images, args.filters, args.max_channels)
    except UserError as exc:
        fail(parser.prog, str(exc))
    print(f"wrote {len(record['images'])} image(s) x {len(plan.layers)} layer(s)"
          + (" and filters.png" if record["filters"] else "") + f" into {plan.out} (weights: "
          f"{record['weights']['source']}; see features.json)")
