"""`finetune-lab-features [IMAGE...] [--weights hed_bsds500|imagenet|FILE [--base NAME] | --run RUN_DIR]
[--layers A,B] [--filters] [--out DIR] [--size N]`: the study's E2 without training. Feature-map grids of named
layers of the base (by default the base's own feature-map layers: the study's 7 for vgg16, the end of each stage
for the others) for each image, and with `--filters` the first conv layer's filters as RGB patches. Writes
features.json (weights, sha256, images, layers) next to the pictures. hed_bsds500 holds VGG16's conv layers:
vgg16 only. The pictures go to a temporary folder that becomes --out only once complete, so a failed command
leaves no folder behind."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass

import numpy as np

from . import catalog, files
from .errors import UserError, fail
from .inspection import (DEFAULT_BASE, Run, positive_int, add_base_option, base_inputs, check_without_run,
                         load_run_model, open_run, read_images, run_images, start_backend)

DEFAULT_SIZE = 224  # the ImageNet top's fixed input; the study drew its feature maps at this size too
MAX_SIZE = 1024
FEATURES_OFFLINE = "--base vgg16 --weights hed_bsds500 works offline"


# ----- checks (no TensorFlow) -----

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


def feeds_bgr(mode: str, base: str | None) -> bool:
    """Whether data.preprocess `mode` (for `base`) hands the model B, G, R (caffe style: VGG, ResNet): pure red
    comes out strongest in the last channel."""
    from . import data

    red_and_black = np.asarray([[[[255, 0, 0]]], [[[0, 0, 0]]]], np.float32)
    red, black = np.asarray(data.preprocess(red_and_black, mode, base))[:, 0, 0]
    return int(np.argmax(red - black)) == 2


# ----- the command -----

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
    from . import data, features, model as models, plots

    if plan.run is not None:
        whole = load_run_model(plan.run)  # the run's images -> DigitInput (front) -> its model (net)
        front, net = data.parts(whole)
        base = net.get_layer(plan.base)
        provenance = {"source": "run", "run": os.path.abspath(plan.run.folder), "file": plan.run.model_file,
                      "sha256": files.sha256(plan.run.model_file), "base_weights_before_training":
                      plan.run.cfg.model.weights}
        mode = preprocess = plan.run.cfg.data.preprocess
        tag = "run"
        inputs = list(data.model_inputs(front, run_images(plan.run, whole, plan.photos)))
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
    parser.add_argument("--size", type=positive_int, help=f"input size with --weights (default {DEFAULT_SIZE})")
    parser.add_argument("--max-channels", type=positive_int, default=64, help="channels per grid (default 64)")
    args = parser.parse_args(argv)
    try:
        plan = plan_features(args)
        record = write_features(plan, args.images, args.filters, args.max_channels)
    except UserError as exc:
        fail(parser.prog, str(exc))
    print(f"wrote {len(record['images'])} image(s) x {len(plan.layers)} layer(s)"
          + (" and filters.png" if record["filters"] else "") + f" into {plan.out} (weights: "
          f"{record['weights']['source']}; see features.json)")
